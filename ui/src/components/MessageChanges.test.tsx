import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from '../App';
import { StoreProvider } from '../store/StoreProvider';
import { DOCTOR, PATIENT, msg, setup } from '../test/fixtures';

type Setup = ReturnType<typeof setup>;

async function renderChat(s: Setup, username: string) {
  render(
    <StoreProvider store={s.store}>
      <App />
    </StoreProvider>,
  );
  await act(() => s.store.start());
  const user = userEvent.setup();
  await user.click(await screen.findByTestId(`conversation-${username}`));
  return { user, chat: await screen.findByTestId('chat-window') };
}

function menuOf(bubble: HTMLElement) {
  fireEvent.contextMenu(bubble, { clientX: 20, clientY: 20 });
  return screen.findByTestId('message-menu');
}

const recent = () => new Date(Date.now() - 60_000).toISOString();

describe('unsend and edit', () => {
  it('a patient unsends their own message after confirming; the bubble becomes a tombstone', async () => {
    const s = setup({ messages: [msg({ seq: 1, content: 'wrong dose', createdAt: recent() })] });
    const { user, chat } = await renderChat(s, 'doc');
    const bubble = within(chat).getAllByTestId('message').at(-1) as HTMLElement;
    const menu = await menuOf(bubble);
    expect(
      within(menu)
        .getAllByRole('menuitem')
        .map((m) => m.textContent),
    ).toEqual(['Copy text', 'Edit', 'Unsend']);
    await user.click(within(menu).getByTestId('message-action-unsend'));
    await user.click(await within(bubble).findByTestId('message-unsend-confirm'));
    expect(s.fake.callsOf('unsend_message')).toEqual([{ messageId: 'm1', reason: null, misdirected: false }]);
    // Queued and shown at once; the server's answer makes it a tombstone.
    expect(await within(bubble).findByTestId('message-change-pending')).toHaveTextContent('Taking back');
    act(() => s.fake.settleChanges());
    const tomb = await within(chat).findByTestId('message-tombstone');
    expect(tomb).toHaveTextContent(/^Message unsent by you at /);
    expect(chat).not.toHaveTextContent('wrong dose');
  });

  it('an unsend made offline says it waits for the connection, as a send does, until it is back', async () => {
    const s = setup({ messages: [msg({ seq: 1, content: 'wrong dose', createdAt: recent() })] });
    const { user, chat } = await renderChat(s, 'doc');
    act(() => s.fake.setConnection({ state: 'offline' }));
    const bubble = within(chat).getAllByTestId('message').at(-1) as HTMLElement;
    await user.click(within(await menuOf(bubble)).getByTestId('message-action-unsend'));
    await user.click(await within(bubble).findByTestId('message-unsend-confirm'));
    const pending = await within(bubble).findByTestId('message-change-pending');
    expect(pending).toHaveTextContent('Taking back… Waits for the connection.');
    act(() => s.fake.setConnection({ state: 'online' }));
    await waitFor(() => expect(pending).toHaveTextContent(/^Taking back…$/));
  });

  it('an unsend the server keeps answering "not now" says it is still tried, and why, until it is done', async () => {
    const s = setup({ messages: [msg({ seq: 1, content: 'wrong dose', createdAt: recent() })] });
    const { user, chat } = await renderChat(s, 'doc');
    const bubble = within(chat).getAllByTestId('message').at(-1) as HTMLElement;
    await user.click(within(await menuOf(bubble)).getByTestId('message-action-unsend'));
    await user.click(await within(bubble).findByTestId('message-unsend-confirm'));
    act(() => s.fake.delayChanges('the server is busy; try again'));
    expect(await within(bubble).findByTestId('message-change-delayed')).toHaveTextContent(
      'Still trying to unsend: the server is busy; try again',
    );
    expect(within(bubble).getByTestId('message-change-pending')).toHaveTextContent('Taking back');
    expect(within(bubble).queryByTestId('message-change-notice')).toBeNull();
    act(() => s.fake.settleChanges());
    await within(chat).findByTestId('message-tombstone');
    expect(within(chat).queryByTestId('message-change-delayed')).toBeNull();
  });

  it("the doctor sees the patient's tombstone, never a menu to change it, and 'Retract' for their own", async () => {
    const s = setup({
      as: DOCTOR,
      messages: [
        msg({ seq: 1, content: 'old news', createdAt: recent() }),
        msg({ seq: 2, senderId: DOCTOR.id, content: 'take two', createdAt: recent() }),
      ],
    });
    const { chat } = await renderChat(s, 'pat');
    const [theirs, mine] = within(chat).getAllByTestId('message') as HTMLElement[];
    expect(
      within(await menuOf(theirs))
        .getAllByRole('menuitem')
        .map((m) => m.textContent),
    ).toEqual(['Copy text']);
    fireEvent.keyDown(screen.getByTestId('message-menu'), { key: 'Escape' });
    expect(
      within(await menuOf(mine))
        .getAllByRole('menuitem')
        .map((m) => m.textContent),
    ).toEqual(['Copy text', 'Edit', 'Retract']);
    fireEvent.keyDown(screen.getByTestId('message-menu'), { key: 'Escape' });
    act(() => s.fake.peerChanged('m1', { retract: true }));
    await waitFor(() =>
      expect(within(chat).getByTestId('message-tombstone')).toHaveTextContent(
        `Message unsent by ${PATIENT.name} at `,
      ),
    );
  });

  it('edits in place, shows "edited", and both sides can list the versions', async () => {
    const s = setup({ messages: [msg({ seq: 1, content: 'headache since monday', createdAt: recent() })] });
    const { user, chat } = await renderChat(s, 'doc');
    const bubble = within(chat).getAllByTestId('message').at(-1) as HTMLElement;
    await user.click(within(await menuOf(bubble)).getByTestId('message-action-edit'));
    const box = within(bubble).getByTestId('message-edit-text') as HTMLTextAreaElement;
    // Focused, the caret after the text.
    expect(box).toHaveFocus();
    expect([box.selectionStart, box.selectionEnd]).toEqual([21, 21]);
    await user.clear(box);
    await user.type(box, 'headache since sunday');
    await user.click(within(bubble).getByTestId('message-edit-save'));
    expect(s.fake.callsOf('edit_message')).toEqual([{ messageId: 'm1', content: 'headache since sunday' }]);
    act(() => s.fake.settleChanges());
    // The edit's time and the sending's are told apart.
    const edited = await within(bubble).findByTestId('message-edited');
    expect(edited.nextElementSibling).toHaveTextContent('·');
    await user.click(edited);
    const versions = await within(bubble).findByTestId('message-versions');
    await waitFor(() => expect(versions).toHaveTextContent('headache since monday'));
    expect(versions).toHaveTextContent('headache since sunday');
  });

  it("says louder that a patient's message was edited after the doctor's reply", async () => {
    const s = setup({
      as: DOCTOR,
      messages: [
        msg({ seq: 1, content: 'blood pressure 150/95', createdAt: recent() }),
        msg({ seq: 2, senderId: DOCTOR.id, content: 'Please come in today.', createdAt: recent() }),
      ],
    });
    const { chat } = await renderChat(s, 'pat');
    act(() => s.fake.peerChanged('m1', { content: 'blood pressure 115/75' }));
    const label = await within(chat).findByTestId('message-edited');
    expect(label).toHaveTextContent(/^edited after your reply, /);
    expect(label).toHaveAttribute('data-after-reply', 'me');
  });

  it('gives the focus back to the message when an edit or the versions are put away', async () => {
    const s = setup({ messages: [msg({ seq: 1, content: 'headache since monday', createdAt: recent() })] });
    const { user, chat } = await renderChat(s, 'doc');
    const bubble = within(chat).getAllByTestId('message').at(-1) as HTMLElement;
    bubble.focus();
    await user.keyboard('{Shift>}{F10}{/Shift}');
    await user.click(within(await screen.findByTestId('message-menu')).getByTestId('message-action-edit'));
    const box = within(bubble).getByTestId('message-edit-text');
    await user.type(box, ' morning{Enter}');
    await waitFor(() => expect(bubble).toHaveFocus());
    act(() => s.fake.settleChanges());
    within(bubble).getByTestId('message-edited').focus();
    await user.keyboard('{Enter}');
    const versions = await within(bubble).findByTestId('message-versions');
    await waitFor(() => expect(versions).toHaveTextContent('headache since monday morning'));
    await user.keyboard('{Escape}');
    expect(within(bubble).queryByTestId('message-versions')).toBeNull();
    await waitFor(() => expect(bubble).toHaveFocus());
  });

  it('never offers changes for an emergency or an old message; says so when the server refuses', async () => {
    const old = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const s = setup({
      messages: [
        msg({ seq: 1, content: 'help', isEmergency: true, messageType: 'EMERGENCY', createdAt: recent() }),
        msg({ seq: 2, content: 'ancient', createdAt: old }),
        msg({ seq: 3, content: 'fresh', createdAt: recent() }),
      ],
    });
    const { user, chat } = await renderChat(s, 'doc');
    const bubbles = within(chat).getAllByTestId('message') as HTMLElement[];
    const offered = [];
    for (const b of bubbles.slice(0, 2)) {
      offered.push(
        within(await menuOf(b))
          .getAllByRole('menuitem')
          .map((m) => m.textContent),
      );
      fireEvent.keyDown(screen.getByTestId('message-menu'), { key: 'Escape' });
    }
    // The emergency: nothing; the old one: only as sent to the wrong person.
    expect(offered).toEqual([['Copy text'], ['Copy text', 'Sent to the wrong person…']]);
    s.fake.refuseChanges = 'That ended at 09:00.';
    const fresh = bubbles[2];
    await user.click(within(await menuOf(fresh)).getByTestId('message-action-unsend'));
    await user.click(await within(fresh).findByTestId('message-unsend-confirm'));
    act(() => s.fake.settleChanges());
    expect(await within(fresh).findByTestId('message-change-notice')).toHaveTextContent(
      "Couldn't unsend: too late. That ended at 09:00.",
    );
    expect(fresh).toHaveTextContent('fresh');
  });

  it('a doctor takes back an old message sent to the wrong person, with a reason the other side never sees', async () => {
    const old = new Date(Date.now() - 3_600_000).toISOString();
    const s = setup({
      as: DOCTOR,
      messages: [msg({ seq: 1, senderId: DOCTOR.id, content: 'results for Mr. B', createdAt: old })],
    });
    const { user, chat } = await renderChat(s, 'pat');
    const bubble = within(chat).getAllByTestId('message').at(-1) as HTMLElement;
    const menu = await menuOf(bubble);
    expect(
      within(menu)
        .getAllByRole('menuitem')
        .map((m) => m.textContent),
    ).toEqual(['Copy text', 'Edit', 'Sent to the wrong person…']);
    await user.click(within(menu).getByTestId('message-action-misdirected'));
    const form = await within(bubble).findByTestId('message-misdirected');
    expect(within(form).getByTestId('message-misdirected-reason')).toHaveFocus();
    // No reason, no taking back: said beside the field, which has the focus to write one.
    const reason = within(form).getByTestId('message-misdirected-reason');
    expect(reason).toHaveAccessibleName("Say why, for the clinic's record (they will not see it):");
    await user.click(within(form).getByTestId('message-misdirected-confirm'));
    expect(s.fake.callsOf('unsend_message')).toEqual([]);
    expect(within(form).getByTestId('message-misdirected-needed')).toHaveTextContent(
      'Say why first: it can only be retracted with a reason.',
    );
    expect(reason).toHaveAccessibleDescription('Say why first: it can only be retracted with a reason.');
    expect(reason).toHaveAttribute('aria-invalid', 'true');
    expect(reason).toHaveFocus();
    await user.type(reason, '  meant for another patient ');
    // Its place kept, so the button does not move up under the pointer; no longer said.
    expect(within(form).getByTestId('message-misdirected-needed')).toHaveClass('is-met');
    expect(within(form).getByTestId('message-misdirected-needed')).toHaveAttribute('aria-hidden', 'true');
    expect(reason).toHaveAttribute('aria-invalid', 'false');
    await user.click(within(form).getByTestId('message-misdirected-confirm'));
    expect(s.fake.callsOf('unsend_message')).toEqual([
      { messageId: 'm1', reason: 'meant for another patient', misdirected: true },
    ]);
    act(() => s.fake.settleChanges());
    expect(await within(chat).findByTestId('message-tombstone')).toHaveTextContent(
      /^Message retracted by you at /,
    );
    expect(chat).not.toHaveTextContent('results for Mr. B');
    // Nothing is left to copy, open or change: no menu is promised, and none opens.
    expect(bubble).not.toHaveAttribute('aria-haspopup');
    bubble.focus();
    await user.keyboard('{Shift>}{F10}{/Shift}');
    expect(screen.queryByTestId('message-menu')).toBeNull();
  });
});
