import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { DOCTOR, PATIENT, emergency, history, msg, setup } from '../test/fixtures';
import { renderApp } from '../test/render';

describe('the emergency banner and the keyboard', () => {
  it('hands the focus on as its buttons go, and Escape puts a note away unsent', async () => {
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [emergency()] }));
    const banner = await screen.findByTestId('emergency-banner');
    within(banner).getByTestId('emergency-acknowledge').focus();
    await s.user.keyboard('{Enter}');
    await waitFor(() => expect(within(banner).getByTestId('emergency-resolve')).toHaveFocus());
    await s.user.keyboard('{Enter}');
    const note = within(banner).getByTestId('emergency-resolve-note');
    expect(note).toHaveFocus();
    await s.user.type(note, 'draft');
    // One stray Escape does not lose the words: it says what a second one does, and typing
    // goes on as before.
    await s.user.keyboard('{Escape}');
    const escapeHint = within(banner).getByTestId('emergency-resolve-escape');
    expect(escapeHint).toHaveTextContent('Press Escape again to throw this note away');
    expect(escapeHint).toHaveAttribute('role', 'status');
    await s.user.type(note, 'ed');
    expect(note).toHaveValue('drafted');
    expect(escapeHint).toBeEmptyDOMElement();
    // Armed, then away and back: a later Escape is a first one again.
    await s.user.keyboard('{Escape}');
    expect(escapeHint).not.toBeEmptyDOMElement();
    await s.user.tab();
    note.focus();
    expect(escapeHint).toBeEmptyDOMElement();
    await s.user.keyboard('{Escape}');
    expect(note).toHaveValue('drafted');
    await s.user.keyboard('{Escape}');
    expect(within(banner).queryByTestId('emergency-resolve-note')).toBeNull();
    await waitFor(() => expect(within(banner).getByTestId('emergency-resolve')).toHaveFocus());
    expect(s.fake.callsOf('resolve_emergency')).toHaveLength(0);
    // Thrown away: opened again, the note is empty (kept, it went out under the next one's
    // words); Cancel does the same and hands the focus back too.
    await s.user.keyboard('{Enter}');
    expect(within(banner).getByTestId('emergency-resolve-note')).toHaveValue('');
    await s.user.type(within(banner).getByTestId('emergency-resolve-note'), 'second thought');
    within(banner).getByTestId('emergency-resolve-cancel').focus();
    await s.user.keyboard('{Enter}');
    await waitFor(() => expect(within(banner).getByTestId('emergency-resolve')).toHaveFocus());
    await s.user.keyboard('{Enter}');
    await s.user.type(within(banner).getByTestId('emergency-resolve-note'), 'Ambulance called{Enter}');
    await waitFor(() =>
      expect(s.fake.callsOf('resolve_emergency')).toEqual([{ emergencyId: 'e1', note: 'Ambulance called' }]),
    );
  });
});

describe('the emergency banner from anywhere', () => {
  it('is reached with Ctrl+E: the Acknowledge waiting, else Open chat, folded its Show', async () => {
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [emergency()] }));
    const banner = await screen.findByTestId('emergency-banner');
    expect(banner).toHaveAttribute('aria-keyshortcuts', 'Control+E');
    (document.activeElement as HTMLElement | null)?.blur();
    await s.user.keyboard('{Control>}e{/Control}');
    expect(within(banner).getByTestId('emergency-acknowledge')).toHaveFocus();
    // An open dialog keeps the focus inside: Ctrl+E does not reach behind it.
    await s.user.click(screen.getByTestId('settings-button'));
    const settings = await screen.findByRole('dialog');
    await s.user.keyboard('{Control>}e{/Control}');
    expect(settings).toContainElement(document.activeElement as HTMLElement);
    await s.user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    within(banner).getByTestId('emergency-acknowledge').focus();
    await s.user.keyboard('{Enter}');
    await waitFor(() => expect(within(banner).queryByTestId('emergency-acknowledge')).toBeNull());
    (document.activeElement as HTMLElement | null)?.blur();
    await s.user.keyboard('{Control>}e{/Control}');
    expect(within(banner).getByTestId('emergency-open-chat')).toHaveFocus();
    await s.user.click(within(banner).getByTestId('banner-fold'));
    (document.activeElement as HTMLElement | null)?.blur();
    await s.user.keyboard('{Control>}e{/Control}');
    expect(within(banner).getByTestId('banner-fold')).toHaveFocus();
  });
});

describe('the emergency banner, folded', () => {
  it('folds to its title once every emergency is taken, and a new one unfolds it', async () => {
    const taken = emergency({
      state: 'ACKNOWLEDGED',
      acknowledgedBy: DOCTOR.id,
      acknowledgedByName: DOCTOR.name,
      acknowledgedAt: new Date().toISOString(),
    });
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [taken] }));
    const banner = await screen.findByTestId('emergency-banner');
    const fold = within(banner).getByTestId('banner-fold');
    expect(fold).toHaveAttribute('aria-expanded', 'true');
    await s.user.click(fold);
    expect(within(banner).getByTestId('emergency-item')).not.toBeVisible();
    expect(within(banner).getByTestId('banner-folded')).toHaveTextContent(`Taken: ${PATIENT.name}`);
    expect(within(banner).getByTestId('banner-fold')).toHaveAttribute('aria-expanded', 'false');
    // A new one nobody has taken: shown at once, with no way to fold it away; the focus the
    // fold button held goes to its Acknowledge.
    expect(within(banner).getByTestId('banner-fold')).toHaveFocus();
    act(() => s.fake.upsertEmergency(emergency({ id: 'e2', messageId: 'm2' }), true));
    await waitFor(() => expect(within(banner).getByTestId('emergency-acknowledge')).toHaveFocus());
    await waitFor(() => expect(within(banner).getAllByTestId('emergency-item')).toHaveLength(2));
    for (const item of within(banner).getAllByTestId('emergency-item')) expect(item).toBeVisible();
    expect(within(banner).queryByTestId('banner-fold')).toBeNull();
    expect(within(banner).queryByTestId('banner-folded')).toBeNull();
  });

  it('has nothing to fold while an emergency waits for a doctor', async () => {
    await renderApp(setup({ as: DOCTOR, emergencies: [emergency()] }));
    const banner = await screen.findByTestId('emergency-banner');
    expect(within(banner).queryByTestId('banner-fold')).toBeNull();
  });
});

describe('the emergency banner, resolved by keyboard', () => {
  it("hands the focus to the next emergency's first button", async () => {
    const mine = {
      state: 'ACKNOWLEDGED' as const,
      acknowledgedBy: DOCTOR.id,
      acknowledgedByName: DOCTOR.name,
    };
    const s = await renderApp(
      setup({
        as: DOCTOR,
        emergencies: [emergency({ id: 'e1', ...mine }), emergency({ id: 'e2', messageId: 'm2', ...mine })],
      }),
    );
    const banner = await screen.findByTestId('emergency-banner');
    const [first] = within(banner).getAllByTestId('emergency-item');
    within(first).getByTestId('emergency-resolve').focus();
    await s.user.keyboard('{Enter}');
    await s.user.type(within(first).getByTestId('emergency-resolve-note'), 'Called back{Enter}');
    await waitFor(() => expect(within(banner).getAllByTestId('emergency-item')).toHaveLength(1));
    const [second] = within(banner).getAllByTestId('emergency-item');
    expect(second).toHaveAttribute('data-emergency-id', 'e2');
    await waitFor(() => expect(within(second).getByTestId('emergency-open-chat')).toHaveFocus());
  });
});

describe('the emergency banner and a doctor typing elsewhere', () => {
  it('leaves the focus where she went on typing while Acknowledge was answered', async () => {
    const s = await renderApp(setup({ as: DOCTOR, messages: history(2), emergencies: [emergency()] }));
    await s.user.click(await screen.findByTestId('conversation-pat'));
    const input = await screen.findByTestId('message-input');
    const banner = screen.getByTestId('emergency-banner');
    const acknowledge = within(banner).getByTestId('emergency-acknowledge');
    acknowledge.focus();
    // The press, then at once the composer, before the answer is back.
    fireEvent.click(acknowledge);
    input.focus();
    await waitFor(() => expect(within(banner).getByTestId('emergency-taken')).toBeInTheDocument());
    await act(async () => {});
    expect(input).toHaveFocus();
  });
});

describe("the emergency banner's words", () => {
  const raisedAt = new Date(Date.now() - 60_000).toISOString();
  const first = msg({
    seq: 1,
    id: 'm1',
    content: 'FIRST PRESS: dizzy',
    isEmergency: true,
    messageType: 'EMERGENCY',
    createdAt: raisedAt,
  });
  const second = msg({
    seq: 2,
    id: 'm2',
    content: 'SECOND PRESS: now unconscious',
    isEmergency: true,
    messageType: 'EMERGENCY',
    createdAt: new Date(Date.now() - 30_000).toISOString(),
  });

  it('keep the newest press when an alert repeated after a reconnect carries the first one', async () => {
    const e = emergency({ raisedAt });
    const s = await renderApp(setup({ as: DOCTOR, messages: [first] }));
    act(() => s.fake.upsertEmergency(e, true, first));
    act(() => s.fake.upsertEmergency(e, true, second));
    const banner = await screen.findByTestId('emergency-banner');
    await waitFor(() =>
      expect(within(banner).getByTestId('emergency-text')).toHaveTextContent('now unconscious'),
    );
    // The server restarted: its alert, repeated, names the press that raised it.
    act(() => s.fake.upsertEmergency(e, true, first));
    expect(within(banner).getByTestId('emergency-text')).toHaveTextContent('now unconscious');
  });

  it("after the app's own restart, show the newest press in the cache, not the alert's first", async () => {
    const e = emergency({ raisedAt });
    const s = await renderApp(setup({ as: DOCTOR, messages: [first, second] }));
    act(() => s.fake.upsertEmergency(e, true, first));
    const banner = await screen.findByTestId('emergency-banner');
    await waitFor(() =>
      expect(within(banner).getByTestId('emergency-text')).toHaveTextContent('now unconscious'),
    );
  });
});
