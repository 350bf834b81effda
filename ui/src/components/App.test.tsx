import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { DOCTOR, DOCTOR2, PATIENT, emergency, history, msg, setup } from '../test/fixtures';
import { renderApp } from '../test/render';
import { BackendError } from '../backend';
import { FAKE_PAIRING_CODE } from '../fake/fakeBackend';
import { LOCKED_PRESS_NOTE } from '../generated/bindings';
import { formatShortDate, formatTime, writtenShort } from '../logic/format';
import { OFFLINE_WARNING, OFFLINE_WARNING_MS } from './useWarnings';

async function openChat(user: ReturnType<typeof userEvent.setup>, username: string) {
  await user.click(await screen.findByTestId(`conversation-${username}`));
  return screen.findByTestId('chat-window');
}

describe('login', () => {
  it('logs in from the form and shows the conversation list; shows errors', async () => {
    const { user } = await renderApp(setup({ as: null }));
    await user.type(screen.getByTestId('server-url'), 'http://127.0.0.1:8470');
    await user.type(screen.getByTestId('username'), 'pat');
    await user.type(screen.getByTestId('password'), 'bad');
    await user.click(screen.getByTestId('login-submit'));
    expect(await screen.findByTestId('login-error')).toHaveTextContent('Wrong username or password.');
    await user.clear(screen.getByTestId('password'));
    await user.type(screen.getByTestId('password'), 'password');
    await user.click(screen.getByTestId('login-submit'));
    expect(await screen.findByTestId('conversation-doc')).toBeInTheDocument();
    expect(screen.getByTestId('chat-layout')).toHaveAttribute('data-role', 'PATIENT');
    expect(screen.getByTestId('connection-state')).toHaveAttribute('data-state', 'online');
  });

  it('a saved session that cannot be opened at start is said on the login screen', async () => {
    const s = setup({ as: null });
    const sentence =
      "This computer's message cache was last used by a newer version of Clinic Messaging (cache step 9; this version knows 7). Install the newer version again: nothing was changed.";
    s.fake.subscribe = async () => {
      throw new BackendError('cache_from_newer_app', sentence);
    };
    await renderApp(s);
    expect(await screen.findByTestId('login-error')).toHaveTextContent(sentence);
    expect(screen.getByTestId('login-form')).toBeInTheDocument();
  });

  it("pairs with an https server by its code: shows the server's code, refuses a wrong one", async () => {
    const s = setup({ as: null });
    const { user } = await renderApp(s);
    expect(screen.getByTestId('pairing-code-hint')).toHaveTextContent(
      'Your clinic gives you this code on paper',
    );
    await user.clear(screen.getByTestId('server-url'));
    await user.type(screen.getByTestId('server-url'), 'clinic.lan:8470');
    await user.type(screen.getByTestId('username'), 'pat');
    await user.type(screen.getByTestId('password'), 'password');
    await user.click(screen.getByTestId('login-submit'));
    // The first sign-in's step, not an error: in the pairing code's hint, the code picked out.
    const notice = await screen.findByTestId('pairing-notice');
    expect(notice).toHaveTextContent(`The server's pairing code is ${FAKE_PAIRING_CODE}`);
    expect(notice).toHaveTextContent('Compare it with the pairing code on the paper from your clinic');
    expect(notice).toHaveAttribute('role', 'status');
    expect(notice.querySelector('strong')).toHaveTextContent(FAKE_PAIRING_CODE);
    expect(screen.queryByTestId('login-error')).toBeNull();

    // Another address: that server's code is not this one's.
    await user.type(screen.getByTestId('server-url'), '0');
    expect(screen.queryByTestId('pairing-notice')).toBeNull();
    await user.type(screen.getByTestId('server-url'), '{Backspace}');
    await user.type(screen.getByTestId('pairing-code'), 'ZZZZZZZ-ZZZZZZZ');
    await user.click(screen.getByTestId('login-submit'));
    await waitFor(() =>
      expect(screen.getByTestId('login-error')).toHaveTextContent("This is not your clinic's server"),
    );
    expect(screen.queryByTestId('pairing-notice')).toBeNull();

    // The code in two lines, as it may be pasted; Enter signs in, as in the other fields.
    await user.clear(screen.getByTestId('pairing-code'));
    const [first, ...rest] = FAKE_PAIRING_CODE.toLowerCase().split('-');
    fireEvent.change(screen.getByTestId('pairing-code'), {
      target: { value: ` ${first}-\n${rest.join('-')} ` },
    });
    await user.type(screen.getByTestId('pairing-code'), '{Enter}');
    expect(await screen.findByTestId('conversation-doc')).toBeInTheDocument();
    expect(s.fake.callsOf('login').at(-1)).toMatchObject({
      serverUrl: 'https://clinic.lan:8470',
      pin: FAKE_PAIRING_CODE.toLowerCase(),
    });
  });
});

describe('the day changes', () => {
  it('after midnight, the list and the conversation stop calling yesterday today once the window is back', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      vi.setSystemTime(new Date(2026, 11, 7, 23, 50));
      const at = new Date(2026, 11, 7, 14, 30).toISOString();
      const s = await renderApp(setup({ messages: [msg({ seq: 1, senderId: DOCTOR.id, createdAt: at })] }));
      const chat = await openChat(s.user, 'doc');
      const row = screen.getByTestId('conversation-doc');
      expect(row).toHaveTextContent(formatTime(at));
      expect(within(chat).getByTestId('day-divider')).toHaveTextContent('Today');
      // The window sat hidden past midnight, its timers held back; it is shown again.
      vi.setSystemTime(new Date(2026, 11, 8, 0, 0, 30));
      act(() => void window.dispatchEvent(new Event('focus')));
      expect(within(chat).getByTestId('day-divider')).toHaveTextContent('Yesterday');
      expect(row.querySelector('time')).toHaveTextContent(
        formatShortDate(at, new Date(2026, 11, 8, 0, 0, 30)),
      );
      expect(row.querySelector('time')?.textContent).not.toBe(formatTime(at));
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the doctor's patient panel", () => {
  it('says when the emergency was taken, not since when it was first raised', async () => {
    const raisedAt = new Date(2026, 11, 8, 2, 20).toISOString();
    const reopenedAt = new Date(2026, 11, 8, 2, 35).toISOString();
    const acknowledgedAt = new Date(2026, 11, 8, 2, 41).toISOString();
    const taken = emergency({
      raisedAt,
      reopenedAt,
      state: 'ACKNOWLEDGED',
      acknowledgedAt,
      acknowledgedBy: DOCTOR.id,
      acknowledgedByName: DOCTOR.name,
    });
    const s = await renderApp(
      setup({ as: DOCTOR, messages: [msg({ seq: 1, status: 'READ' })], emergencies: [taken] }),
    );
    await openChat(s.user, 'pat');
    expect(await screen.findByTestId('patient-emergency-when')).toHaveTextContent(
      `taken ${formatShortDate(acknowledgedAt)}`,
    );
    // Pressed again: raised again, from then.
    act(() =>
      s.fake.upsertEmergency({ ...taken, state: 'RAISED', acknowledgedAt: null, acknowledgedBy: null }),
    );
    await waitFor(() =>
      expect(screen.getByTestId('patient-emergency-when')).toHaveTextContent(
        `raised again ${formatShortDate(reopenedAt)}`,
      ),
    );
  });
});

describe('a long conversation list', () => {
  it('has a box that finds a patient by name, offline too, and Escape clears it', async () => {
    const s = await renderApp(setup({ as: DOCTOR, messages: [msg({ seq: 1, status: 'READ' })] }));
    await screen.findByTestId('conversation-pat');
    // Six rows or fewer: no box.
    expect(screen.queryByTestId('conversation-find')).toBeNull();
    const template = s.fake.conversationList()[0];
    const names = [
      'Alice Martin',
      'Bob Kowalski',
      'José Núñez',
      'Maria Lopez',
      'Liam Chen',
      'Zoe Park',
      'Yuki Sato',
    ];
    const many = names.map((name, i) => ({
      ...template,
      patientId: `p-${i}`,
      otherParty: { ...template.otherParty, id: `p-${i}`, name, username: name.split(' ')[0].toLowerCase() },
    }));
    act(() => s.fake.setConnection({ state: 'offline' }));
    act(() => s.fake.emit({ type: 'conversations', conversations: many }));
    const find = await screen.findByTestId('conversation-find');
    await s.user.type(find, 'nun');
    const list = screen.getByTestId('conversation-list');
    expect(
      within(list)
        .getAllByRole('button')
        .map((b) => b.getAttribute('title')),
    ).toEqual(['José Núñez']);
    await s.user.clear(find);
    await s.user.type(find, 'nobody');
    expect(within(list).queryAllByRole('button')).toHaveLength(0);
    expect(screen.getByTestId('conversation-find-none')).toHaveTextContent('Nobody here is named “nobody”.');
    await s.user.keyboard('{Escape}');
    expect(find).toHaveValue('');
    expect(within(list).getAllByRole('button')).toHaveLength(names.length);
  });
});

describe('message actions and links', () => {
  it('right-click opens the app menu; copy puts the text on the clipboard; a link opens in the browser', async () => {
    const text = 'Forms: https://clinic.example/forms. <b>bold</b>';
    const s = await renderApp(setup({ messages: [msg({ seq: 1, senderId: DOCTOR.id, content: text })] }));
    const chat = await openChat(s.user, 'doc');
    const bubble = within(chat).getAllByTestId('message').at(-1) as HTMLElement;
    // Markup stays text; the link is an anchor.
    expect(bubble.querySelector('b')).toBeNull();
    expect(bubble).toHaveTextContent('<b>bold</b>');
    const link = within(bubble).getByTestId('message-link');
    expect(link).toHaveAttribute('href', 'https://clinic.example/forms');

    const writes: string[] = [];
    Object.defineProperty(navigator, 'clipboard', {
      configurable: true,
      value: { writeText: async (t: string) => void writes.push(t) },
    });
    fireEvent.contextMenu(bubble, { clientX: 20, clientY: 20 });
    const menu = await screen.findByTestId('message-menu');
    expect(
      within(menu)
        .getAllByRole('menuitem')
        .map((m) => m.textContent),
    ).toEqual(['Copy text', 'Copy link']);
    expect(within(menu).getByTestId('message-action-copy-text')).toHaveFocus();
    await s.user.click(within(menu).getByTestId('message-action-copy-text'));
    await waitFor(() => expect(writes).toEqual([text]));
    expect(screen.queryByTestId('message-menu')).toBeNull();

    await s.user.click(link);
    expect(s.fake.callsOf('open_link')).toEqual([{ url: 'https://clinic.example/forms' }]);
  });

  it('opens from the keyboard (Shift+F10), moves with arrows, picks with Enter, closes with Escape', async () => {
    const s = await renderApp(
      setup({
        messages: [msg({ seq: 1, senderId: DOCTOR.id, content: 'see https://a.org and https://b.org' })],
      }),
    );
    const chat = await openChat(s.user, 'doc');
    const bubble = within(chat).getAllByTestId('message').at(-1) as HTMLElement;
    bubble.focus();
    await s.user.keyboard('{Shift>}{F10}{/Shift}');
    const menu = await screen.findByTestId('message-menu');
    expect(
      within(menu)
        .getAllByRole('menuitem')
        .map((m) => m.textContent),
    ).toEqual(['Copy text', 'Copy link (a.org)', 'Copy link (b.org)']);
    await s.user.keyboard('{ArrowUp}');
    expect(within(menu).getByText('Copy link (b.org)')).toHaveFocus();
    await s.user.keyboard('{Escape}');
    expect(screen.queryByTestId('message-menu')).toBeNull();
    expect(bubble).toHaveFocus();

    const writes: string[] = [];
    Object.defineProperty(navigator, 'clipboard', {
      configurable: true,
      value: { writeText: async (t: string) => void writes.push(t) },
    });
    await s.user.keyboard('{ContextMenu}');
    await screen.findByTestId('message-menu');
    await s.user.keyboard('{ArrowDown}{Enter}');
    await waitFor(() => expect(writes).toEqual(['https://a.org']));
  });
});

describe('messages and the keyboard', () => {
  it('are one Tab stop, the newest, then the one the arrow keys went to', async () => {
    const s = await renderApp(setup({ messages: history(4) }));
    const chat = await openChat(s.user, 'doc');
    const bubbles = () => within(chat).getAllByTestId('message');
    expect(bubbles().map((b) => b.tabIndex)).toEqual([-1, -1, -1, 0]);
    bubbles()[3].focus();
    await s.user.keyboard('{ArrowUp}{ArrowUp}');
    expect(bubbles()[1]).toHaveFocus();
    expect(bubbles().map((b) => b.tabIndex)).toEqual([-1, 0, -1, -1]);
  });

  it('Retry hands its focus to the message, Discard to the composer', async () => {
    const failed = (content: string) =>
      msg({ seq: null, status: 'FAILED', content, error: 'The server is busy', errorCode: 'unavailable' });
    const s = await renderApp(setup({ messages: [failed('first'), failed('second')] }));
    const chat = await openChat(s.user, 'doc');
    const [one] = within(chat).getAllByTestId('message');
    one.focus();
    await s.user.tab();
    expect(within(one).getByTestId('message-retry')).toHaveFocus();
    await s.user.keyboard('{Enter}');
    expect(one).toHaveFocus();
    const two = within(chat).getAllByTestId('message').at(-1) as HTMLElement;
    two.focus();
    within(two).getByTestId('message-discard').focus();
    await s.user.keyboard('{Enter}');
    expect(screen.getByTestId('message-input')).toHaveFocus();
  });

  it("keep a message's own controls out of Tab's way until the arrows reach it", async () => {
    const edited = msg({
      seq: 1,
      content: 'edited once',
      edited: { at: new Date().toISOString(), version: 2 },
    });
    const later = [2, 3].map((seq) => msg({ seq, senderId: DOCTOR.id, content: `line ${seq}` }));
    const s = await renderApp(setup({ messages: [edited, ...later] }));
    const chat = await openChat(s.user, 'doc');
    const label = within(chat).getByTestId('message-edited');
    expect(label.tabIndex).toBe(-1);
    const bubbles = within(chat).getAllByTestId('message');
    bubbles[bubbles.length - 1].focus();
    await s.user.keyboard('{ArrowUp}{ArrowUp}');
    expect(bubbles[0]).toHaveFocus();
    await waitFor(() => expect(within(chat).getByTestId('message-edited').tabIndex).toBe(0));
    await s.user.tab();
    expect(within(chat).getByTestId('message-edited')).toHaveFocus();
  });
});

describe('the conversation list and the keyboard', () => {
  it('is one Tab stop, its rows a press of Up and Down apart; Enter on the open one goes to its composer', async () => {
    const s = await renderApp(setup({ messages: history(2) }));
    const list = await screen.findByTestId('conversation-list');
    const rows = () => within(list).getAllByRole('button');
    await waitFor(() => expect(rows().length).toBeGreaterThan(1));
    expect(rows().filter((r) => r.tabIndex === 0)).toHaveLength(1);
    rows()[0].focus();
    await s.user.keyboard('{ArrowDown}');
    expect(rows()[1]).toHaveFocus();
    expect(rows().map((r) => r.tabIndex)).toEqual(rows().map((_, i) => (i === 1 ? 0 : -1)));
    await s.user.keyboard('{Home}{Enter}');
    const input = await screen.findByTestId('message-input');
    await waitFor(() => expect(input).toHaveFocus());
    rows()[0].focus();
    await s.user.keyboard('{Enter}');
    expect(input).toHaveFocus();
  });

  it('chosen again, the open conversation is selected again (followed, marked seen) and its composer focused', async () => {
    const s = await renderApp(setup({ messages: history(2) }));
    const list = await screen.findByTestId('conversation-list');
    const row = within(list).getAllByRole('button')[0];
    await s.user.click(row);
    const input = await screen.findByTestId('message-input');
    const viewed = s.fake.callsOf('view_conversation').length;
    input.blur();
    await s.user.click(row);
    expect(row).toHaveAttribute('data-active', 'true');
    await waitFor(() => expect(s.fake.callsOf('view_conversation')).toHaveLength(viewed + 1));
    expect(input).toHaveFocus();
  });
});

describe('login: focus and cancel', () => {
  it('puts the focus in the first empty field, the address filled with the last server', async () => {
    await renderApp(setup({ as: null, lastServer: 'https://clinic.lan:8470' }));
    expect(screen.getByTestId('server-url')).toHaveValue('https://clinic.lan:8470');
    expect(screen.getByTestId('username')).toHaveFocus();
  });

  it('a profile that never signed in offers no address', async () => {
    await renderApp(setup({ as: null }));
    expect(screen.getByTestId('server-url')).toHaveValue('');
    expect(screen.getByTestId('server-url')).toHaveFocus();
  });

  it('offers the address of a session restored at start once it is logged out', async () => {
    const s = await renderApp(setup({ as: PATIENT }));
    await s.user.click(await screen.findByTestId('settings-button'));
    await s.user.click(screen.getByTestId('logout-button'));
    expect(await screen.findByTestId('server-url')).toHaveValue('http://127.0.0.1:8470');
    expect(screen.getByTestId('username')).toHaveFocus();
  });

  it('offers Cancel while signing in to a silent server; cancelling brings the form back', async () => {
    const s = setup({ as: null });
    s.fake.silentServers.add('https://silent.lan');
    const { user } = await renderApp(s);
    expect(screen.getByTestId('server-url')).toHaveFocus();
    expect(screen.queryByTestId('login-cancel')).toBeNull();
    await user.type(screen.getByTestId('server-url'), 'silent.lan');
    await user.type(screen.getByTestId('username'), 'pat');
    await user.type(screen.getByTestId('password'), 'password');
    await user.click(screen.getByTestId('login-submit'));
    expect(screen.getByTestId('login-submit')).toHaveTextContent('Signing in…');
    await user.click(await screen.findByTestId('login-cancel'));
    await waitFor(() => expect(screen.getByTestId('login-submit')).toHaveTextContent('Sign in'));
    expect(screen.queryByTestId('login-cancel')).toBeNull();
    expect(screen.queryByTestId('login-error')).toBeNull();
    expect(s.fake.callsOf('cancel_login')).toHaveLength(1);
    expect(screen.getByTestId('username')).toHaveValue('pat');
  });
});

describe('patient chat', () => {
  it('renders bubbles with status and side; Enter sends, Shift+Enter does not; typing is debounced', async () => {
    const s = await renderApp(
      setup({
        messages: [msg({ seq: 1, status: 'READ' }), msg({ seq: 2, senderId: DOCTOR.id, status: 'READ' })],
      }),
    );
    await openChat(s.user, 'doc');
    const bubbles = await screen.findAllByTestId('message');
    expect(bubbles.map((b) => [b.dataset.status, b.dataset.mine])).toEqual([
      ['READ', 'true'],
      ['READ', 'false'],
    ]);
    expect(within(bubbles[0]).getByTestId('message-ticks')).toHaveAttribute('data-icon', 'double-read');

    const input = screen.getByTestId('message-input');
    await s.user.type(input, 'first line{Shift>}{Enter}{/Shift}second');
    expect(screen.getAllByTestId('message')).toHaveLength(2);
    expect(s.fake.callsOf('set_typing')).toEqual([
      { patientId: PATIENT.id, doctorId: DOCTOR.id, typing: true },
    ]);
    await s.user.keyboard('{Enter}');
    const sent = await screen.findAllByTestId('message');
    expect(sent).toHaveLength(3);
    expect(sent[2]).toHaveAttribute('data-status', 'SENDING');
    expect(within(sent[2]).getByTestId('message-ticks')).toHaveAttribute('data-icon', 'clock');
    expect(s.fake.callsOf('send_message')[0]).toMatchObject({
      content: 'first line\nsecond',
      isEmergency: false,
    });
    expect(s.fake.callsOf('set_typing').at(-1)).toMatchObject({ typing: false });
    expect(input).toHaveValue('');

    act(() => s.fake.ackAll());
    expect(screen.getAllByTestId('message')[2]).toHaveAttribute('data-status', 'SENT');
  });

  it('a FAILED message shows its error with Retry and Discard, and no Retry where it cannot help', async () => {
    const failed = msg({
      seq: null,
      status: 'FAILED',
      error: 'The clinic server is busy',
      errorCode: 'unavailable',
    });
    const s = await renderApp(setup({ messages: [failed] }));
    await openChat(s.user, 'doc');
    const bubble = await screen.findByTestId('message');
    expect(bubble).toHaveAttribute('data-status', 'FAILED');
    expect(bubble).toHaveTextContent('The clinic server is busy');
    await s.user.click(within(bubble).getByTestId('message-retry'));
    expect(s.fake.callsOf('retry_message')).toEqual([{ clientId: failed.clientId }]);
    expect(await screen.findByTestId('message')).toHaveAttribute('data-status', 'SENDING');
    act(() => s.fake.fail(failed.clientId, 'Attachment too large', 'too_large'));
    const again = await screen.findByTestId('message');
    expect(again).toHaveAttribute('data-error-code', 'too_large');
    // The same file would be refused again: only Discard is offered.
    expect(within(again).queryByTestId('message-retry')).toBeNull();
    await s.user.click(within(again).getByTestId('message-discard'));
    await waitFor(() => expect(screen.queryByTestId('message')).toBeNull());
  });

  it('a message waiting for the connection can be dropped before it goes, and not once it went', async () => {
    const s = await renderApp(setup({ connection: { state: 'offline' } }));
    await openChat(s.user, 'doc');
    await s.user.type(screen.getByTestId('message-input'), 'Sorry, wrong photo{Enter}');
    await s.user.type(screen.getByTestId('message-input'), 'Can I take it with food?{Enter}');
    const [first] = screen.getAllByTestId('message');
    expect(first).toHaveTextContent('Waits for the connection');
    await s.user.click(within(first!).getByTestId('message-dont-send'));
    expect(s.fake.callsOf('discard_message')).toHaveLength(1);
    await waitFor(() => expect(screen.getAllByTestId('message')).toHaveLength(1));
    expect(screen.getByTestId('message')).toHaveTextContent('Can I take it with food?');
    // Its text is back in the composer, to be corrected and sent again.
    expect(screen.getByTestId('message-input')).toHaveValue('Sorry, wrong photo');
    await s.user.clear(screen.getByTestId('message-input'));
    expect(s.fake.messages.some((m) => m.content === 'Sorry, wrong photo')).toBe(false);

    // Online (and not acknowledged yet) it was written to the server: it may be stored there,
    // so nothing offers to drop it, and when the connection drops it says where it stands.
    act(() => s.fake.setConnection({ state: 'online' }));
    expect(screen.getByTestId('message')).not.toHaveTextContent('Waits for the connection');
    fireEvent.contextMenu(screen.getByTestId('message'));
    await screen.findByTestId('message-menu');
    expect(screen.queryByTestId('message-action-discard')).toBeNull();
    await s.user.keyboard('{Escape}');
    act(() => s.fake.setConnection({ state: 'offline' }));
    const bubble = screen.getByTestId('message');
    expect(bubble).toHaveTextContent('Sent as the connection dropped: the clinic has not confirmed it yet');
    expect(within(bubble).queryByTestId('message-dont-send')).toBeNull();
    // Asked anyway (a page a step behind), the shell says why not, and the message stays.
    const clientId = bubble.dataset.clientId!;
    await act(() => s.store.discard(clientId));
    expect(await screen.findByTestId('notice')).toHaveTextContent(
      'This message is already on its way to the clinic and can no longer be stopped.',
    );
    expect(screen.getByTestId('message')).toHaveAttribute('data-status', 'SENDING');
  });

  it('a dropped message comes back into the composer without losing a file picked there', async () => {
    const s = await renderApp(setup({ connection: { state: 'offline' } }));
    await openChat(s.user, 'doc');
    await s.user.type(screen.getByTestId('message-input'), 'Wrong words{Enter}');
    act(() =>
      s.fake.drop({
        kind: 'drop',
        files: [{ path: '/x/scan.png', name: 'scan.png', size: 2048, mimeType: 'image/png' }],
      }),
    );
    expect(screen.getByTestId('attachment-preview')).toBeInTheDocument();
    await s.user.click(within(screen.getByTestId('message')).getByTestId('message-dont-send'));
    await waitFor(() => expect(screen.getByTestId('message-input')).toHaveValue('Wrong words'));
    expect(screen.getByTestId('attachment-preview')).toHaveTextContent('scan.png');
  });

  it('an emergency waiting for the connection offers no way to drop it', async () => {
    const waiting = msg({ seq: null, isEmergency: true, messageType: 'EMERGENCY', content: 'Chest pain' });
    const s = await renderApp(setup({ messages: [waiting], connection: { state: 'offline' } }));
    await openChat(s.user, 'doc');
    const bubble = await screen.findByTestId('message');
    expect(bubble).toHaveAttribute('data-status', 'SENDING');
    expect(within(bubble).queryByTestId('message-dont-send')).toBeNull();
    fireEvent.contextMenu(bubble);
    await screen.findByTestId('message-menu');
    expect(screen.queryByTestId('message-action-discard')).toBeNull();
  });

  it('the emergency button asks first, then sends and shows the status', async () => {
    const s = await renderApp(setup());
    await openChat(s.user, 'doc');
    await s.user.click(screen.getByTestId('emergency-button'));
    expect(screen.getByTestId('emergency-confirm')).toBeInTheDocument();
    expect(screen.queryByTestId('emergency-dialog-open')).toBeNull();
    await s.user.click(screen.getByTestId('emergency-cancel'));
    expect(s.fake.callsOf('send_message')).toHaveLength(0);
    await s.user.click(screen.getByTestId('emergency-button'));
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    expect(s.fake.callsOf('send_message')[0]).toMatchObject({
      isEmergency: true,
      content: 'EMERGENCY: I need urgent help.',
    });
    expect(await screen.findByTestId('emergency-status')).toHaveAttribute('data-state', 'sending');
    act(() => s.fake.ackAll());
    expect(screen.getByTestId('emergency-status')).toHaveAttribute('data-state', 'raised');
    const e = s.fake.emergencies[0];
    act(() =>
      s.fake.upsertEmergency({ ...e, state: 'ACKNOWLEDGED', acknowledgedByName: 'Dr. Dana Doe' }, false),
    );
    expect(screen.getByTestId('emergency-status')).toHaveTextContent('Dr. Dana Doe is on it');
    // Pressed again: the dialog says it goes to the open one and alerts the doctors again.
    await s.user.click(screen.getByTestId('emergency-button'));
    expect(screen.getByTestId('emergency-dialog-open')).toHaveTextContent(
      'Dr. Dana Doe is already on your emergency: sending this alerts your doctors again.',
    );
    await s.user.click(screen.getByTestId('emergency-cancel'));
  });

  it('the emergency dialog moves nothing under the pointer when the connection drops while it is open', async () => {
    const s = await renderApp(setup({ messages: history(1) }));
    await openChat(s.user, 'doc');
    await s.user.click(screen.getByTestId('emergency-button'));
    const dialog = screen.getByTestId('emergency-confirm');
    const before = [...dialog.querySelectorAll('*')];
    act(() => s.fake.setConnection({ state: 'offline' }));
    const notice = within(dialog).getByTestId('emergency-dialog-offline');
    expect(notice).toHaveRole('status');
    // It comes after everything that was there (the buttons last), so nothing is pushed down;
    // held from its top (emergency.css), the dialog grows downwards.
    const send = within(dialog).getByTestId('emergency-confirm-send');
    expect(send.compareDocumentPosition(notice) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    expect(before.every((el) => el.compareDocumentPosition(notice) & Node.DOCUMENT_POSITION_FOLLOWING)).toBe(
      true,
    );
  });

  it("shows the clinic's emergency number in the dialog, offline, and when nobody has answered", async () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const s = await renderApp(setup({ clinic, connection: { state: 'offline' } }));
    await openChat(s.user, 'doc');
    await s.user.click(screen.getByTestId('emergency-button'));
    expect(screen.getByTestId('emergency-dialog-phone')).toHaveTextContent('+44 20 7946 0000');
    expect(screen.getByTestId('emergency-dialog-offline')).toBeInTheDocument();
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    const status = await screen.findByTestId('emergency-status');
    expect(status).toHaveTextContent('You are offline');
    expect(within(status).getByTestId('emergency-phone')).toHaveTextContent('+44 20 7946 0000');
    // Not a network that comes back by waiting: her dialog and her status line say so.
    act(() => s.fake.setConnection({ state: 'offline', notYourServer: true }));
    expect(status).toHaveTextContent("This app cannot reach your clinic's server");
    expect(status).toHaveTextContent('goes out once the clinic has put that right');

    act(() => s.fake.setConnection({ state: 'online' }));
    act(() => s.fake.ackAll());
    const e = s.fake.emergencies[0];
    const longAgo = new Date(Date.now() - 2 * 60_000 - 5_000).toISOString();
    act(() => s.fake.upsertEmergency({ ...e, raisedAt: longAgo }, false));
    await waitFor(() =>
      expect(screen.getByTestId('emergency-status')).toHaveAttribute('data-state', 'unanswered'),
    );
    expect(screen.getByTestId('emergency-status')).toHaveTextContent(
      'No doctor has answered yet (raised 2 min ago)',
    );
    expect(screen.getByTestId('emergency-phone')).toHaveTextContent('+44 20 7946 0000');
  });

  it('the conversation list holds still under the pointer, and takes the new order when it leaves', async () => {
    const s = await renderApp(setup());
    const list = await screen.findByTestId('conversation-list');
    const order = () =>
      within(list)
        .getAllByRole('button')
        .map((b) => b.getAttribute('data-testid'));
    const before = order();
    fireEvent.mouseEnter(list);
    const reversed = [...s.fake.conversationList()].reverse();
    act(() => s.fake.emit({ type: 'conversations', conversations: reversed }));
    expect(order()).toEqual(before);
    fireEvent.mouseLeave(list);
    expect(order()).toEqual([...before].reverse());
    // Held again under the pointer, and let go when the window loses the focus.
    fireEvent.mouseEnter(list);
    act(() => s.fake.emit({ type: 'conversations', conversations: [...reversed].reverse() }));
    expect(order()).toEqual([...before].reverse());
    act(() => void window.dispatchEvent(new Event('blur')));
    expect(order()).toEqual(before);
  });

  it('says why a picked or dropped file cannot be attached', async () => {
    const s = await renderApp(setup());
    await openChat(s.user, 'doc');
    s.fake.pickRefusal = new BackendError('too_large', 'files can be at most 25 MiB');
    await s.user.click(screen.getByTestId('attach-button'));
    expect(await screen.findByTestId('notice')).toHaveTextContent(
      'Could not attach the file: files can be at most 25 MiB',
    );
    expect(screen.queryByTestId('attachment-preview')).toBeNull();
    act(() => s.store.dismissNotice());
    act(() => s.fake.drop({ kind: 'over' }));
    act(() => s.fake.drop({ kind: 'refused', error: new BackendError('io', '/tmp/folder is not a file') }));
    expect(await screen.findByTestId('notice')).toHaveTextContent(
      'Could not attach the file: /tmp/folder is not a file',
    );
    expect(screen.getByTestId('drop-zone')).toHaveAttribute('data-dragging', 'false');
  });

  it('attaches a file from the picker or a drop, and sends it', async () => {
    const s = await renderApp(setup());
    await openChat(s.user, 'doc');
    await s.user.click(screen.getByTestId('attach-button'));
    const preview = await screen.findByTestId('attachment-preview');
    expect(preview).toHaveTextContent('blood-test-results.pdf');
    // The caption's field has the focus: Enter sends rather than opening the picker again.
    expect(screen.getByTestId('message-input')).toHaveFocus();
    expect(within(preview).getByTestId('file-preview')).toHaveAttribute('data-kind', 'pdf');
    await s.user.click(screen.getByTestId('attachment-remove'));
    expect(screen.queryByTestId('attachment-preview')).toBeNull();

    act(() => s.fake.drop({ kind: 'over' }));
    expect(screen.getByTestId('drop-zone')).toHaveAttribute('data-dragging', 'true');
    act(() =>
      s.fake.drop({
        kind: 'drop',
        files: [{ path: '/x/scan.png', name: 'scan.png', size: 2048, mimeType: 'image/png' }],
      }),
    );
    expect(screen.getByTestId('drop-zone')).toHaveAttribute('data-dragging', 'false');
    expect(screen.getByTestId('attachment-preview')).toHaveTextContent('2 KB');
    await s.user.click(screen.getByTestId('send-button'));
    expect(s.fake.callsOf('send_message')[0]).toMatchObject({ attachmentPath: '/x/scan.png' });
    const bubble = await screen.findByTestId('message');
    expect(within(bubble).getByTestId('file-preview')).toHaveAttribute('data-kind', 'image');
    expect(within(bubble).getByTestId('upload-progress')).toHaveAttribute('aria-valuenow', '0');
    act(() =>
      s.fake.emit({
        type: 'uploadProgress',
        ...{
          clientId: bubble.dataset.clientId ?? '',
          sent: 1024,
          total: 2048,
        },
      }),
    );
    expect(within(bubble).getByTestId('upload-progress')).toHaveAttribute('aria-valuenow', '50');
  });

  it('says under which name I attached a file the clinic sent under another', async () => {
    const renamed = msg({
      seq: 1,
      content: '',
      fileUrl: '/api/files/f1',
      fileName: 'notes.txt',
      fileSize: 12,
      fileType: 'text/plain',
      localFilePath: '/home/alice/.local/share/x/attachments/sent/c1/notes.sh',
    });
    const kept = msg({
      seq: 2,
      content: '',
      fileUrl: '/api/files/f2',
      fileName: 'scan.png',
      fileSize: 12,
      fileType: 'image/png',
      localFilePath: '/home/alice/.local/share/x/attachments/sent/c2/scan.png',
    });
    const s = await renderApp(setup({ messages: [renamed, kept] }));
    await openChat(s.user, 'doc');
    const [first, second] = await screen.findAllByTestId('message');
    expect(within(first).getByTestId('file-renamed')).toHaveTextContent(
      'Attached as notes.sh; the clinic named it for what it holds.',
    );
    expect(within(second).queryByTestId('file-renamed')).toBeNull();
  });

  it('loads older messages when scrolled to the top of a long history', async () => {
    const s = await renderApp(setup({ messages: history(120) }));
    await openChat(s.user, 'doc');
    await screen.findAllByTestId('message');
    expect(screen.getAllByTestId('message').length).toBeLessThan(50);
    fireEvent.scroll(screen.getByTestId('message-list'));
    await waitFor(() => expect(s.fake.callsOf('load_messages')).toHaveLength(2));
    expect(s.fake.callsOf('load_messages')[1]).toMatchObject({ beforeSeq: 71, limit: 50 });
  });
});

describe('doctor view', () => {
  const raised = emergency();

  it("a colleague's emergency says whose it is, and resolving it says so first", async () => {
    const taken = emergency({
      state: 'ACKNOWLEDGED',
      acknowledgedBy: DOCTOR2.id,
      acknowledgedByName: DOCTOR2.name,
      acknowledgedAt: new Date().toISOString(),
    });
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [taken] }));
    const banner = await screen.findByTestId('emergency-banner');
    expect(within(banner).getByTestId('emergency-taken-by')).toHaveTextContent(
      `Acknowledged by ${DOCTOR2.name}`,
    );
    expect(within(banner).getByTestId('emergency-taken')).toHaveTextContent(/^✓ Taken$/);
    await s.user.click(within(banner).getByTestId('emergency-resolve'));
    expect(within(banner).getByTestId('emergency-resolve-hint')).toHaveTextContent(
      `${DOCTOR2.name} has it: resolve it only once it is handled. The patient sees this note word for word.`,
    );
  });

  it('shows unread counts, patient info, and the emergency banner with its actions', async () => {
    const s = await renderApp(
      setup({
        as: DOCTOR,
        messages: [msg({ seq: 1, status: 'DELIVERED' }), msg({ seq: 2, status: 'DELIVERED' })],
        emergencies: [raised],
      }),
    );
    const item = await screen.findByTestId('conversation-pat');
    expect(within(item).getByTestId('unread-count')).toHaveTextContent('2');
    expect(within(item).getByTestId('emergency-badge')).toBeInTheDocument();
    const banner = screen.getByTestId('emergency-banner');
    expect(within(banner).queryByTestId('silence-alarm')).toBeNull();
    act(() => s.fake.upsertEmergency(raised, true));
    await s.user.click(within(banner).getByTestId('silence-alarm'));
    expect(s.fake.callsOf('silence_alarm')).toHaveLength(1);
    expect(within(banner).queryByTestId('silence-alarm')).toBeNull();

    await s.user.click(within(banner).getByTestId('emergency-acknowledge'));
    expect(within(banner).getByTestId('emergency-item')).toHaveAttribute('data-state', 'ACKNOWLEDGED');
    await s.user.click(within(banner).getByTestId('emergency-resolve'));
    expect(within(banner).getByTestId('emergency-resolve-note')).toHaveAccessibleDescription(
      'The patient sees this note word for word.',
    );
    await s.user.type(within(banner).getByTestId('emergency-resolve-note'), 'Called back');
    await s.user.click(within(banner).getByTestId('emergency-resolve-submit'));
    expect(s.fake.callsOf('resolve_emergency')).toEqual([{ emergencyId: 'e1', note: 'Called back' }]);
    expect(screen.queryByTestId('emergency-banner')).toBeNull();

    await s.user.click(item);
    expect(within(item).queryByTestId('unread-count')).toBeNull();
    expect(screen.getByTestId('patient-age')).toHaveTextContent('40');
    expect(screen.getByTestId('patient-blood-group')).toHaveTextContent('AB-');
  });

  it('on do-not-disturb still shows the emergency: its text, age, Acknowledge; Open chat jumps to it', async () => {
    const long = `My chest hurts and my left arm is numb. ${'I feel dizzy. '.repeat(20)}`;
    const sos = msg({ seq: 1, id: 'm-sos', content: long, isEmergency: true, status: 'DELIVERED' });
    const s = await renderApp(
      setup({ as: DOCTOR, messages: [sos, ...history(60).map((m) => ({ ...m, seq: (m.seq ?? 0) + 1 }))] }),
    );
    await s.user.click(await screen.findByTestId('settings-button'));
    await s.user.selectOptions(screen.getByTestId('setting-availability'), 'DO_NOT_DISTURB');
    await s.user.click(screen.getByTestId('settings-close'));
    expect(screen.getByTestId('dnd-indicator')).toHaveTextContent('Do not disturb');

    const raisedAt = new Date(Date.now() - 3 * 60_000 - 20_000).toISOString();
    act(() => s.fake.upsertEmergency(emergency({ id: 'e9', messageId: 'm-sos', raisedAt }), false, sos));
    const banner = screen.getByTestId('emergency-banner');
    expect(within(banner).getByTestId('banner-dnd')).toBeInTheDocument();
    expect(within(banner).queryByTestId('silence-alarm')).toBeNull();
    await waitFor(() =>
      expect(within(banner).getByTestId('emergency-age')).toHaveTextContent('raised 3 min ago'),
    );
    // Pressed again after a doctor took it: the banner counts from then, as the alerts do.
    const reopenedAt = new Date(Date.now() - 40_000).toISOString();
    act(() =>
      s.fake.upsertEmergency(emergency({ id: 'e9', messageId: 'm-sos', raisedAt, reopenedAt }), false, sos),
    );
    await waitFor(() =>
      expect(within(banner).getByTestId('emergency-age')).toHaveTextContent(/raised again [34]\d s ago/),
    );
    // It had escalated before a doctor took it: not "nobody has acknowledged it".
    const escalatedAt = new Date(Date.now() - 60_000).toISOString();
    act(() =>
      s.fake.upsertEmergency(
        emergency({ id: 'e9', messageId: 'm-sos', raisedAt, reopenedAt, escalatedAt }),
        false,
        sos,
      ),
    );
    expect(within(banner).getByTestId('emergency-escalated')).toHaveTextContent(
      'Escalated before a doctor took it: every doctor is alerted',
    );
    act(() => s.fake.upsertEmergency(emergency({ id: 'e9', messageId: 'm-sos', raisedAt }), false, sos));
    const text = within(banner).getByTestId('emergency-text');
    expect(text).toHaveTextContent('My chest hurts and my left arm is numb.');
    expect(text).toHaveAttribute('data-expanded', 'false');
    await s.user.click(within(banner).getByTestId('emergency-text-toggle'));
    expect(text).toHaveAttribute('data-expanded', 'true');

    await s.user.click(within(banner).getByTestId('emergency-open-chat'));
    await waitFor(() => expect(document.querySelector('[data-highlighted=true]')).not.toBeNull());
    expect(document.querySelector('[data-highlighted=true]')).toHaveTextContent('My chest hurts');

    await s.user.click(within(banner).getByTestId('emergency-acknowledge'));
    expect(within(banner).getByTestId('emergency-taken-by')).toHaveTextContent('Acknowledged by you');
    expect(within(banner).getByTestId('emergency-taken')).toHaveTextContent('✓ Taken by you');

    // By keyboard: the pill goes once available, and its focus goes on to Settings.
    screen.getByTestId('dnd-indicator').focus();
    await s.user.keyboard('{Enter}');
    expect(s.fake.availability).toBe('AVAILABLE');
    expect(screen.queryByTestId('dnd-indicator')).toBeNull();
    await waitFor(() => expect(screen.getByTestId('settings-button')).toHaveFocus());
  });

  it('a message written offline says when, in its bubble and in the emergency banner', async () => {
    const sentAt = new Date(Date.now() - 60_000).toISOString();
    const writtenAt = new Date(Date.now() - 2 * 3_600_000 - 10_000).toISOString();
    const sos = msg({
      seq: 1,
      id: 'm-sos',
      content: 'I fainted',
      isEmergency: true,
      createdAt: sentAt,
      writtenAt,
    });
    const plain = msg({ seq: 2, content: 'and now?', status: 'DELIVERED' });
    const s = await renderApp(setup({ as: DOCTOR, messages: [sos, plain] }));
    act(() =>
      s.fake.upsertEmergency(emergency({ id: 'e9', messageId: 'm-sos', raisedAt: sentAt }), false, sos),
    );
    const banner = screen.getByTestId('emergency-banner');
    expect(within(banner).getByTestId('emergency-written')).toHaveTextContent(
      `written ${formatShortDate(writtenAt)} on their device, 1 h 59 min before it reached the clinic`,
    );
    await openChat(s.user, 'pat');
    const [first, second] = await screen.findAllByTestId('message');
    const written = within(first).getByTestId('message-written');
    expect(written).toHaveTextContent(`written ${writtenShort(writtenAt, sentAt)} · sent`);
    expect(written.title).toContain('on their device');
    expect(first.querySelector('footer')).toHaveTextContent(formatTime(sentAt));
    expect(within(second).queryByTestId('message-written')).toBeNull();
  });

  it('the banner says when an emergency was written even when this device has not its message', async () => {
    const raisedAt = new Date(Date.now() - 60_000).toISOString();
    const writtenAt = new Date(Date.now() - 20 * 60_000 - 5_000).toISOString();
    const s = await renderApp(setup({ as: DOCTOR }));
    act(() => s.fake.upsertEmergency(emergency({ id: 'e8', raisedAt, writtenAt }), false));
    const banner = screen.getByTestId('emergency-banner');
    expect(within(banner).queryByTestId('emergency-text')).toBeNull();
    expect(within(banner).getByTestId('emergency-written')).toHaveTextContent(
      `written ${formatShortDate(writtenAt)} on their device, 19 min before it reached the clinic`,
    );
    // A later press joins it: its words are shown, and when the emergency was written still is.
    const later = msg({ seq: 3, id: 'm-later', content: 'Worse now', isEmergency: true });
    act(() => s.fake.upsertEmergency(emergency({ id: 'e8', raisedAt, writtenAt }), true, later));
    expect(within(banner).getByTestId('emergency-text')).toHaveTextContent('Worse now');
    expect(within(banner).getByTestId('emergency-written')).toHaveTextContent(
      `written ${formatShortDate(writtenAt)} on their device`,
    );
  });

  it("a press from the lock screen shows her words in quotes and the app's line after them", async () => {
    const sos = msg({
      seq: 1,
      id: 'm-locked',
      content: `Pain is back, worse\n\n${LOCKED_PRESS_NOTE}`,
      isEmergency: true,
    });
    await renderApp(
      setup({
        as: DOCTOR,
        messages: [sos],
        emergencies: [emergency({ id: 'e9', messageId: 'm-locked', raisedAt: sos.createdAt })],
      }),
    );
    const banner = await screen.findByTestId('emergency-banner');
    const words = await within(banner).findByTestId('emergency-text');
    expect(words).toHaveTextContent(`“Pain is back, worse” ${LOCKED_PRESS_NOTE}`);
    expect(within(words).getByTestId('emergency-aside')).toHaveTextContent(LOCKED_PRESS_NOTE);
  });

  it("after a restart the banner shows the patient's words from the cache, without opening the chat", async () => {
    const sos = msg({ seq: 1, id: 'm-sos', content: 'I fainted twice', isEmergency: true });
    const s = await renderApp(
      setup({
        as: DOCTOR,
        messages: [sos],
        emergencies: [emergency({ id: 'e5', messageId: 'm-sos', raisedAt: sos.createdAt })],
      }),
    );
    const banner = await screen.findByTestId('emergency-banner');
    expect(await within(banner).findByTestId('emergency-text')).toHaveTextContent('I fainted twice');
    expect(s.store.getState().active).toBeNull();
    // Only read: nothing is marked read or followed.
    expect(s.fake.callsOf('mark_read')).toEqual([]);
    expect(s.fake.callsOf('view_conversation')).toEqual([]);
    // Its time stays on one line in a narrow banner.
    expect(within(banner).getByTestId('emergency-age').textContent).toMatch(/\d\u00a0[AP]M|\d{2}:\d{2}\)/);
    // Locked, the words are dropped from memory with the messages.
    await act(() => s.store.lockNow());
    expect(s.store.getState().emergencyMessages).toEqual({});
  });

  it('a device that cannot ring says so, offers no "Silence", and the test alert says what worked', async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    act(() => s.fake.upsertEmergency(emergency({ id: 'e7' }), true));
    const banner = await screen.findByTestId('emergency-banner');
    expect(within(banner).getByTestId('silence-alarm')).toBeInTheDocument();
    act(() =>
      s.fake.emit({
        type: 'device',
        device: { sound: 'missing', notifications: 'works', notificationsSuppressed: 'no', trayHost: 'yes' },
      }),
    );
    expect(within(banner).queryByTestId('silence-alarm')).toBeNull();
    expect(within(banner).getByTestId('device-cannot-ring')).toBeInTheDocument();
    expect(screen.getByTestId('device-warning')).toHaveTextContent('This device cannot ring');

    await s.user.click(screen.getByTestId('settings-button'));
    await s.user.click(screen.getByTestId('send-test-alert'));
    const found = await screen.findByTestId('test-alert-result');
    expect([...found.querySelectorAll('li')].map((li) => [li.textContent, li.className])).toEqual([
      ['Sound: played.', 'finding finding-ok'],
      ['Notification: shown.', 'finding finding-ok'],
      ['Desktop do-not-disturb: off.', 'finding finding-ok'],
      ['Tray icon: shown.', 'finding finding-ok'],
    ]);
    expect(screen.queryByTestId('device-warning')).toBeNull();
  });

  it('a doctor long without the server is told emergencies cannot reach this computer; a blip says nothing', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const s = await renderApp(setup({ as: DOCTOR }));
      await screen.findByTestId('chat-layout');
      act(() => s.fake.setConnection({ state: 'offline' }));
      await act(() => vi.advanceTimersByTimeAsync(OFFLINE_WARNING_MS - 1_000));
      act(() => s.fake.setConnection({ state: 'online' }));
      await act(() => vi.advanceTimersByTimeAsync(5_000));
      expect(screen.queryByTestId('device-warning')).toBeNull();
      // A catch-up after connecting (the socket is live) is not an outage.
      act(() => s.fake.setConnection({ state: 'connecting', attempt: null, lastError: null }));
      await act(() => vi.advanceTimersByTimeAsync(OFFLINE_WARNING_MS + 1_000));
      expect(screen.queryByTestId('device-warning')).toBeNull();
      // An outage's tries, one after another every few seconds, count from its start.
      for (let i = 0; i < 3; i++) {
        act(() => s.fake.setConnection({ state: 'offline', attempt: i + 1, lastError: 'refused' }));
        await act(() => vi.advanceTimersByTimeAsync(2_000));
        act(() => s.fake.setConnection({ state: 'connecting', attempt: i + 2, lastError: 'refused' }));
        await act(() => vi.advanceTimersByTimeAsync(2_000));
      }
      expect(screen.queryByTestId('device-warning')).toBeNull();
      await act(() => vi.advanceTimersByTimeAsync(OFFLINE_WARNING_MS - 12_000 + 1_000));
      expect(screen.getByTestId('device-warning')).toHaveTextContent(OFFLINE_WARNING);
      // Locked, the lock screen says it too.
      await act(() => s.store.lockNow());
      expect(await screen.findByTestId('lock-device-warning')).toHaveTextContent(OFFLINE_WARNING);
      act(() => s.fake.setConnection({ state: 'online' }));
      await waitFor(() => expect(screen.queryByTestId('lock-device-warning')).toBeNull());
    } finally {
      vi.useRealTimers();
    }
  });

  it('Escape closes Settings also when the focus left its fields', async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    await s.user.click(await screen.findByTestId('settings-button'));
    await s.user.click(screen.getByText(/Signed in as/));
    (document.activeElement as HTMLElement | null)?.blur();
    await s.user.keyboard('{Escape}');
    expect(screen.queryByTestId('settings-panel')).toBeNull();
  });

  it('asks before logging out a device that is alerting', async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    act(() => s.fake.upsertEmergency(emergency({ id: 'e5' }), true));
    await s.user.click(await screen.findByTestId('settings-button'));
    await s.user.click(screen.getByTestId('logout-button'));
    expect(screen.getByTestId('logout-confirm')).toHaveTextContent('alerting for an emergency');
    expect(s.fake.callsOf('logout')).toHaveLength(0);
    await s.user.click(screen.getByTestId('logout-cancel'));
    expect(screen.queryByTestId('logout-confirm')).toBeNull();
    await s.user.click(screen.getByTestId('logout-button'));
    await s.user.click(screen.getByTestId('logout-confirm-button'));
    expect(await screen.findByTestId('login-form')).toBeInTheDocument();
  });

  it('asks before logging out with messages not sent yet, and says what becomes of them', async () => {
    const s = await renderApp(setup({ as: PATIENT, connection: { state: 'offline' } }));
    await s.user.click(await screen.findByTestId('conversation-doc'));
    await s.user.type(screen.getByTestId('message-input'), 'Can I take it with food?{Enter}');
    await s.user.click(screen.getByTestId('settings-button'));
    await s.user.click(screen.getByTestId('logout-button'));
    expect(screen.getByTestId('logout-unsent')).toHaveTextContent(
      '1 message has not been sent yet. This computer is set up as shared, so logging out deletes it.',
    );
    expect(screen.getByTestId('logout-confirm')).not.toHaveTextContent('alerting');
    expect(s.fake.callsOf('logout')).toHaveLength(0);
    await s.user.click(screen.getByTestId('logout-cancel'));
    expect(screen.queryByTestId('logout-confirm')).toBeNull();
  });

  it('asks before logging out with a send parked after a refusal, which a shared computer deletes', async () => {
    const s = await renderApp(setup({ as: PATIENT, connection: { state: 'offline' } }));
    await s.user.click(await screen.findByTestId('conversation-doc'));
    await s.user.type(screen.getByTestId('message-input'), 'Can I take it with food?{Enter}');
    const sent = s.fake.messages.find((m) => m.content === 'Can I take it with food?');
    act(() => s.fake.fail(sent!.clientId, 'The server refused this message.', 'forbidden'));
    expect(screen.getByTestId('queued-count')).toHaveTextContent('1 message not sent');
    await s.user.click(screen.getByTestId('settings-button'));
    await s.user.click(screen.getByTestId('logout-button'));
    expect(screen.getByTestId('logout-unsent')).toHaveTextContent(
      '1 message was refused and not sent. This computer is set up as shared, so logging out deletes it.',
    );
    await s.user.click(screen.getByTestId('logout-cancel'));
    await s.user.click(screen.getByTestId('settings-close'));
    await s.user.click(await screen.findByTestId('message-discard'));
    expect(screen.queryByTestId('queued-count')).toBeNull();
    await s.user.click(screen.getByTestId('settings-button'));
    await s.user.click(screen.getByTestId('logout-button'));
    expect(s.fake.callsOf('logout')).toHaveLength(1);
  });

  it('shows who is typing, then hides it on stop', async () => {
    const s = await renderApp(setup({ as: DOCTOR, messages: [msg({ seq: 1 })] }));
    await openChat(s.user, 'pat');
    act(() =>
      s.fake.emit({
        type: 'typing',
        ...{
          patientId: PATIENT.id,
          doctorId: DOCTOR.id,
          userId: PATIENT.id,
          typing: true,
        },
      }),
    );
    expect(screen.getByTestId('typing-indicator')).toHaveTextContent('Pat Patient is typing');
    act(() =>
      s.fake.emit({
        type: 'typing',
        ...{
          patientId: PATIENT.id,
          doctorId: DOCTOR.id,
          userId: PATIENT.id,
          typing: false,
        },
      }),
    );
    expect(screen.queryByTestId('typing-indicator')).toBeNull();
  });
});

describe('retention', () => {
  const KEY = { patientId: PATIENT.id, doctorId: DOCTOR.id };

  it('shows the notice from the cache when a conversation opens after a restart', async () => {
    const s = setup({ as: PATIENT, messages: history(4) });
    // Purged while the app was closed: no live event reaches this run of the UI.
    s.fake.purge(KEY, 2, '2026-11-30T03:00:00Z');
    const { user } = await renderApp(s);
    await openChat(user, 'doc');
    expect(await screen.findByTestId('history-purged')).toHaveTextContent('Earlier messages were removed on');
    expect(screen.getByTestId('history-purged')).toHaveTextContent("under the clinic's retention policy");
    expect(s.fake.callsOf('purged_at')).toEqual([KEY]);
    expect(screen.queryByText('line 1')).toBeNull();
    expect(screen.getByText('line 3')).toBeInTheDocument();
  });

  it('a conversation never purged shows no notice', async () => {
    const { user } = await renderApp(setup({ as: PATIENT, messages: history(2) }));
    await openChat(user, 'doc');
    await screen.findByText('line 1');
    expect(screen.queryByTestId('history-purged')).toBeNull();
  });

  it("drops a purged emergency from another doctor's banner and alarm", async () => {
    const raised = emergency();
    const s = await renderApp(setup({ as: DOCTOR2, emergencies: [raised], ringing: ['e1'] }));
    expect(await screen.findByTestId('emergency-banner')).toBeInTheDocument();
    act(() => s.fake.purge(KEY, 10, '2026-11-30T03:00:00Z', ['e1']));
    expect(screen.queryByTestId('emergency-banner')).toBeNull();
    expect(s.store.getState().emergencies).toEqual([]);
    expect(s.store.getState().ringing).toEqual([]);
  });
});

describe('search', () => {
  it('Ctrl+K searches, marks what matched as text, and a result opens the chat at the message', async () => {
    const found = msg({
      seq: 1,
      id: 'm-rash',
      content: 'The <b>rash</b> on my arm is worse',
      status: 'READ',
    });
    const s = await renderApp(
      setup({ as: DOCTOR, messages: [found, ...history(60).map((m) => ({ ...m, seq: (m.seq ?? 0) + 1 }))] }),
    );
    await screen.findByTestId('conversation-pat');
    // A short placeholder (it fits beside a long connection badge); the shortcut is told.
    expect(screen.getByTestId('search-input')).toHaveAttribute('placeholder', 'Search…');
    expect(screen.getByTestId('search-input')).toHaveAttribute('title', expect.stringContaining('Ctrl+K'));
    expect(screen.getByTestId('search-input')).toHaveAttribute('aria-keyshortcuts', 'Control+K');
    await s.user.keyboard('{Control>}k{/Control}');
    expect(screen.getByTestId('search-input')).toHaveFocus();
    await s.user.keyboard('RASH{Enter}');
    const result = await screen.findByTestId('search-result');
    expect(result.querySelector('mark')).toHaveTextContent(/^rash$/);
    // Markup in a message is shown as text, never rendered.
    expect(result).toHaveTextContent('The <b>rash</b> on my arm is worse');
    expect(result.querySelector('b')).toBeNull();
    expect(s.fake.callsOf('search_messages')).toEqual([{ query: 'RASH' }]);

    await s.user.click(result);
    expect(screen.queryByTestId('search-results')).toBeNull();
    await waitFor(() => expect(document.querySelector('[data-highlighted=true]')).not.toBeNull());
    expect(document.querySelector('[data-highlighted=true]')).toHaveTextContent('on my arm is worse');
  });

  it('by keyboard: Down into the results, Escape back to the field, Enter opens the message focused', async () => {
    const s = await renderApp(setup({ as: DOCTOR, messages: history(3) }));
    // Its conversation open already (no composer appears to take the focus).
    await openChat(s.user, 'pat');
    await s.user.keyboard('{Control>}k{/Control}line{Enter}');
    const results = await screen.findAllByTestId('search-result');
    expect(results.length).toBeGreaterThan(1);
    await s.user.keyboard('{ArrowDown}');
    expect(results[0]).toHaveFocus();
    await s.user.keyboard('{ArrowDown}');
    expect(results[1]).toHaveFocus();
    await s.user.keyboard('{ArrowUp}{ArrowUp}');
    expect(screen.getByTestId('search-input')).toHaveFocus();
    await s.user.keyboard('{ArrowDown}{Escape}');
    expect(screen.queryByTestId('search-results')).toBeNull();
    expect(screen.getByTestId('search-input')).toHaveFocus();
    expect(screen.getByTestId('search-input')).toHaveValue('line');
    // From the field too: the first Escape closes the results, the next clears the query.
    await s.user.keyboard('{Enter}');
    await screen.findAllByTestId('search-result');
    await s.user.keyboard('{Escape}');
    expect(screen.queryByTestId('search-results')).toBeNull();
    expect(screen.getByTestId('search-input')).toHaveValue('line');
    await s.user.keyboard('{Escape}');
    expect(screen.getByTestId('search-input')).toHaveValue('');
    await s.user.keyboard('line{Enter}');
    const again = await screen.findAllByTestId('search-result');
    const id = again[0].dataset.messageId;
    again[0].focus();
    await s.user.keyboard('{Enter}');
    await waitFor(() =>
      expect(document.activeElement?.closest('[data-message-id]')?.getAttribute('data-message-id')).toBe(id),
    );
    expect(document.activeElement).toHaveAttribute('data-testid', 'message');
  });

  it('a result taken back or edited since shows none of its old text', async () => {
    const dose = msg({ seq: 1, id: 'm-dose', content: 'Take warfarin 5 mg tonight', senderId: DOCTOR.id });
    const plan = msg({ seq: 2, id: 'm-plan', content: 'Warfarin again on Monday', senderId: DOCTOR.id });
    const s = await renderApp(setup({ as: PATIENT, messages: [dose, plan] }));
    await s.user.type(await screen.findByTestId('search-input'), 'warfarin{Enter}');
    expect(await screen.findAllByTestId('search-result')).toHaveLength(2);
    act(() => s.fake.peerChanged('m-dose', { retract: true }));
    act(() => s.fake.peerChanged('m-plan', { content: 'Nothing on Monday' }));
    const results = screen.getByTestId('search-results');
    await waitFor(() => expect(within(results).getAllByTestId('search-result-changed')).toHaveLength(2));
    expect(results).not.toHaveTextContent(/warfarin/i);
    expect(results).toHaveTextContent(/Message retracted by Dr\. .* at/);
    expect(results).toHaveTextContent('Edited since this search');
  });

  it('the results close for a click elsewhere and for an emergency, never hiding its banner', async () => {
    const s = await renderApp(setup({ as: DOCTOR, messages: history(3) }));
    await s.user.type(await screen.findByTestId('search-input'), 'line{Enter}');
    await screen.findAllByTestId('search-result');
    // Inside the panel it stays.
    await s.user.click(screen.getByTestId('search-results'));
    expect(screen.getByTestId('search-results')).toBeInTheDocument();
    await s.user.click(screen.getByTestId('conversation-pat'));
    expect(screen.queryByTestId('search-results')).toBeNull();

    await s.user.type(screen.getByTestId('search-input'), '{Enter}');
    await screen.findAllByTestId('search-result');
    act(() => s.fake.upsertEmergency(emergency({ id: 'e7', raisedAt: new Date().toISOString() })));
    expect(await screen.findByTestId('emergency-banner')).toBeInTheDocument();
    expect(screen.queryByTestId('search-results')).toBeNull();
  });

  it('says when nothing matched, and that offline only this computer was searched', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.type(await screen.findByTestId('search-input'), 'zebra{Enter}');
    expect(await screen.findByText('No messages found.')).toBeInTheDocument();
    expect(screen.queryByTestId('search-offline')).toBeNull();
    act(() => s.fake.setConnection({ state: 'offline' }));
    const box = screen.getByTestId('search-input');
    await s.user.clear(box);
    await s.user.type(box, 'line{Enter}');
    expect(await screen.findByTestId('search-offline')).toHaveTextContent(
      'only the messages on this computer',
    );
    expect(screen.getAllByTestId('search-result')).toHaveLength(3);
  });

  it('searches again when the connection is back', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    act(() => s.fake.setConnection({ state: 'offline' }));
    await s.user.type(await screen.findByTestId('search-input'), 'line{Enter}');
    expect(await screen.findByTestId('search-offline')).toHaveTextContent('cannot be reached');
    act(() => s.fake.setConnection({ state: 'online' }));
    await waitFor(() => expect(screen.queryByTestId('search-offline')).toBeNull());
    expect(screen.getAllByTestId('search-result')).toHaveLength(3);
    expect(s.fake.callsOf('search_messages')).toEqual([{ query: 'line' }, { query: 'line' }]);
  });

  it('searches again, in the open conversation only, when that box is ticked', async () => {
    const s = await renderApp(setup({ as: DOCTOR, messages: history(3) }));
    await s.user.click(await screen.findByTestId('conversation-pat'));
    await s.user.type(screen.getByTestId('search-input'), 'line{Enter}');
    await screen.findAllByTestId('search-result');
    await s.user.click(screen.getByTestId('search-only-here'));
    await waitFor(() => expect(s.fake.callsOf('search_messages')).toHaveLength(2));
    expect(s.fake.callsOf('search_messages')[1]).toEqual(
      expect.objectContaining({ query: 'line', patientId: expect.any(String), doctorId: expect.any(String) }),
    );
  });

  it("says why when the server is reached but cannot search, and searches this computer's messages", async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(12) }));
    s.fake.searchUnavailable = 'The search index is being rebuilt (40% done). Try again in a minute.';
    await s.user.type(await screen.findByTestId('search-input'), 'line{Enter}');
    const said =
      'The search index is being rebuilt (40% done). Try again in a minute. Meanwhile, only the messages on this computer were searched.';
    expect(await screen.findByTestId('search-offline')).toHaveTextContent(said);
    expect(screen.getAllByTestId('search-result')).toHaveLength(10);
    expect(screen.queryByTestId('search-error')).toBeNull();
    // The server searches again by the next page: the list, partly from this computer, keeps
    // its label.
    s.fake.searchUnavailable = null;
    await s.user.click(screen.getByText('More results'));
    await waitFor(() => expect(screen.getAllByTestId('search-result')).toHaveLength(12));
    expect(screen.getByTestId('search-offline')).toHaveTextContent(said);
  });
});

describe('connection and settings', () => {
  it('shows reconnecting with the queued count', async () => {
    const s = await renderApp(setup());
    act(() => s.fake.setConnection({ state: 'connecting', attempt: 2, queued: 3 }));
    expect(screen.getByTestId('connection-state')).toHaveTextContent('Reconnecting…');
    // After a failed try: offline, steadily, with why in the tooltip.
    const why = 'The clinic server did not answer within 10 seconds.';
    act(() => s.fake.setConnection({ state: 'connecting', attempt: 2, queued: 3, lastError: why }));
    expect(screen.getByTestId('connection-state')).toHaveTextContent('Offline');
    // The reason wherever the pointer is on the badge, the state's own word included.
    expect(screen.getByTestId('connection')).toHaveAttribute('title', why);
    expect(screen.getByTestId('connection-state')).toHaveAttribute('title', why);
    expect(screen.getByTestId('connection-state')).toHaveAttribute('data-state', 'connecting');
    expect(screen.getByTestId('queued-count')).toHaveTextContent('3 messages waiting to send');
    act(() => s.fake.setConnection({ state: 'offline', queued: 0 }));
    expect(screen.getByTestId('connection-state')).toHaveTextContent('Offline');
    expect(screen.queryByTestId('queued-count')).toBeNull();
  });

  it('changes settings and logs out', async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    await s.user.click(await screen.findByTestId('settings-button'));
    const panel = screen.getByTestId('settings-panel');
    expect(within(panel).getByTestId('setting-show-content')).not.toBeChecked();
    expect(within(panel).getByTestId('setting-show-content-hint')).toHaveTextContent(/^Off: /);
    await s.user.click(within(panel).getByTestId('setting-show-content'));
    // The hint says what the setting does as it now is (a tester read "Off: ..." under a tick).
    expect(within(panel).getByTestId('setting-show-content-hint')).toHaveTextContent(
      /^On: notifications show/,
    );
    await s.user.selectOptions(within(panel).getByTestId('setting-availability'), 'DO_NOT_DISTURB');
    expect(s.fake.settings).toEqual({ showMessageContent: true, startOnLogin: false, textSize: 'normal' });
    expect(s.fake.availability).toBe('DO_NOT_DISTURB');
    expect(within(panel).getByTestId('setting-availability')).toHaveValue('DO_NOT_DISTURB');
    await s.user.click(within(panel).getByTestId('send-test-alert'));
    expect(s.fake.callsOf('send_test_alert')).toHaveLength(1);
    await s.user.click(within(panel).getByTestId('logout-button'));
    expect(await screen.findByTestId('login-form')).toBeInTheDocument();
  });

  it('the text size is set in Settings or with Ctrl + and Ctrl -, on the login screen too', async () => {
    const s = await renderApp(setup());
    await s.user.click(await screen.findByTestId('settings-button'));
    await s.user.selectOptions(screen.getByTestId('setting-text-size'), 'larger');
    expect(s.fake.settings.textSize).toBe('larger');
    await s.user.click(screen.getByTestId('settings-close'));
    await s.user.keyboard('{Control>}-{/Control}');
    await waitFor(() => expect(s.fake.settings.textSize).toBe('large'));
    await s.user.keyboard('{Control>}={/Control}{Control>}={/Control}{Control>}={/Control}');
    await waitFor(() => expect(s.fake.settings.textSize).toBe('largest'));
    await s.user.keyboard('{Control>}0{/Control}');
    await waitFor(() => expect(s.fake.settings.textSize).toBe('normal'));
    // Signed out, it still works from the size the computer has (an older patient may need it
    // to sign in).
    await s.user.keyboard('{Control>}={/Control}{Control>}={/Control}');
    await waitFor(() => expect(s.fake.settings.textSize).toBe('larger'));
    await act(() => s.store.logout());
    await screen.findByTestId('login-form');
    await s.user.keyboard('{Control>}={/Control}');
    await waitFor(() => expect(s.fake.settings.textSize).toBe('largest'));
  });

  it('patients have no availability setting and no test alert, but their own settings', async () => {
    const s = await renderApp(setup());
    await s.user.click(await screen.findByTestId('settings-button'));
    expect(screen.queryByTestId('setting-availability')).toBeNull();
    expect(screen.queryByTestId('send-test-alert')).toBeNull();
    expect(screen.getByTestId('setting-show-content')).toBeInTheDocument();
    expect(screen.getByTestId('setting-start-on-login')).toBeInTheDocument();
    expect(screen.getByTestId('logout-button')).toBeInTheDocument();
    await s.user.click(screen.getByTestId('settings-close'));
    expect(screen.queryByTestId('settings-panel')).toBeNull();
  });
});
