import { act, cleanup, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ChatStore, DRAFT_SAVE_MS } from '../store/chatStore';
import { DOCTOR, DOCTOR2, PATIENT, PATIENT2, emergency, history, msg, setup } from '../test/fixtures';
import { renderApp } from '../test/render';

describe('what is being written', () => {
  it('stays with its conversation when another is opened, and comes back after a lock without staying in the page', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await s.user.type(screen.getByTestId('message-input'), 'Half written question');
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    expect(screen.getByTestId('message-input')).toHaveValue('');
    await s.user.type(screen.getByTestId('message-input'), 'For the other doctor');
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR.username}`));
    expect(screen.getByTestId('message-input')).toHaveValue('Half written question');

    await act(() => s.store.lockNow());
    expect(await screen.findByTestId('lock-screen')).toBeInTheDocument();
    expect(document.body.innerHTML).not.toContain('Half written');
    const [kept] = s.fake.callsOf('keep_drafts') as { drafts: Record<string, string> }[];
    expect(Object.values(kept.drafts).sort()).toEqual(['For the other doctor', 'Half written question']);
    // A second lock event while locked hands nothing over again (it would forget the first).
    await act(() => s.store.lockNow());
    expect(s.fake.callsOf('keep_drafts')).toHaveLength(1);

    await s.user.type(screen.getByTestId('unlock-secret'), 'password');
    await s.user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('chat-layout')).toBeInTheDocument();
    expect(await screen.findByDisplayValue('Half written question')).toBeInTheDocument();
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    expect(screen.getByTestId('message-input')).toHaveValue('For the other doctor');
    // Sent: nothing left to keep.
    await s.user.type(screen.getByTestId('message-input'), '{Enter}');
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR.username}`));
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    expect(screen.getByTestId('message-input')).toHaveValue('');
  });

  it('comes back with the caret after its words, where typing goes on', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await s.user.type(screen.getByTestId('message-input'), 'Hello Bob');
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR.username}`));
    const input = screen.getByTestId('message-input');
    expect(input).toHaveFocus();
    await s.user.keyboard('ZZ');
    expect(input).toHaveValue('Hello BobZZ');
  });

  it('leave the page when the session ends (IT ended it) and come back at the next sign-in', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await s.user.type(screen.getByTestId('message-input'), 'Clinical detail half written');
    act(() => s.fake.emit({ type: 'session', session: null, reason: 'Your session was ended.' }));
    expect(await screen.findByTestId('login-form')).toBeInTheDocument();
    expect(s.store.draft(`${PATIENT.id}|${DOCTOR.id}`)).toBe('');
    expect(document.body.innerHTML).not.toContain('Clinical detail');
    // The page handed it to the shell as it went: the same user gets it back.
    await waitFor(() =>
      expect(s.fake.drafts_.get(`${PATIENT.id}|${PATIENT.id}|${DOCTOR.id}`)).toBe(
        'Clinical detail half written',
      ),
    );
    await act(() =>
      s.store.login({ serverUrl: 'http://127.0.0.1:8470', username: PATIENT.username, password: 'password' }),
    );
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    expect(await screen.findByDisplayValue('Clinical detail half written')).toBeInTheDocument();
  });

  it('are kept by the shell once typing pauses, cleared at once, and back after a restart', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
      // The page's key: the user, then the conversation's.
      const key = `${PATIENT.id}|${PATIENT.id}|${DOCTOR.id}`;
      await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
      await s.user.type(screen.getByTestId('message-input'), 'Since Monday the');
      // Not a save per key stroke: one once typing pauses.
      expect(s.fake.callsOf('save_draft')).toEqual([]);
      await act(() => vi.advanceTimersByTimeAsync(DRAFT_SAVE_MS));
      await waitFor(() => expect(s.fake.callsOf('save_draft')).toEqual([{ key, text: 'Since Monday the' }]));
      await s.user.type(screen.getByTestId('message-input'), ' rash has spread');
      // Leaving the window saves without waiting (it may be quit from the tray).
      act(() => void window.dispatchEvent(new Event('blur')));
      await waitFor(() =>
        expect(s.fake.callsOf('save_draft').at(-1)).toEqual({
          key,
          text: 'Since Monday the rash has spread',
        }),
      );

      // A restart: a new page on the same shell.
      cleanup();
      const again = await renderApp({ fake: s.fake, store: new ChatStore(s.fake) });
      await again.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
      expect(await screen.findByDisplayValue('Since Monday the rash has spread')).toBeInTheDocument();
      // Sent: forgotten at once, not a second later.
      await again.user.type(screen.getByTestId('message-input'), '{Enter}');
      await waitFor(() => expect(s.fake.callsOf('save_draft').at(-1)).toEqual({ key, text: '' }));
      expect(s.fake.drafts_.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('come back only at an unlock: setting a PIN keeps the fields as they are, a picked file too', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await s.user.type(screen.getByTestId('message-input'), 'The scan from Friday');
    act(() => void window.dispatchEvent(new Event('blur')));
    await waitFor(() => expect(s.fake.drafts_.size).toBe(1));
    await s.user.click(screen.getByTestId('attach-button'));
    expect(await screen.findByTestId('attachment-preview')).toBeInTheDocument();
    await act(async () => {
      await s.store.setPin('8203');
    });
    expect(s.fake.callsOf('drafts')).toHaveLength(1);
    expect(screen.getByTestId('attachment-preview')).toBeInTheDocument();
    expect(screen.getByTestId('message-input')).toHaveValue('The scan from Friday');
  });

  it('a picked file stays with its conversation when another is opened, and goes at a lock', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await s.user.type(screen.getByTestId('message-input'), 'Here is the photo');
    await s.user.click(screen.getByTestId('attach-button'));
    expect(await screen.findByTestId('attachment-preview')).toHaveTextContent('blood-test-results.pdf');
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    expect(screen.queryByTestId('attachment-preview')).toBeNull();
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR.username}`));
    expect(await screen.findByTestId('attachment-preview')).toHaveTextContent('blood-test-results.pdf');
    expect(screen.getByTestId('message-input')).toHaveValue('Here is the photo');
    // Sent, it is gone from the composer and does not come back.
    await s.user.click(screen.getByTestId('send-button'));
    await waitFor(() => expect(screen.queryByTestId('attachment-preview')).toBeNull());
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR.username}`));
    expect(screen.queryByTestId('attachment-preview')).toBeNull();
    // A lock forgets a file picked and not sent (the shell keeps only text).
    await s.user.click(screen.getByTestId('attach-button'));
    await screen.findByTestId('attachment-preview');
    await act(() => s.store.lockNow());
    await s.user.type(await screen.findByTestId('unlock-secret'), 'password');
    await s.user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('chat-layout')).toBeInTheDocument();
    expect(screen.queryByTestId('attachment-preview')).toBeNull();
  });

  it('an answer asked for before a lock and an unlock fills no field', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    const answers: ((drafts: Record<string, string>) => void)[] = [];
    s.fake.drafts = () => new Promise((resolve) => answers.push(resolve));
    const unlock = async () => {
      await s.user.type(screen.getByTestId('unlock-secret'), 'password');
      await s.user.click(screen.getByTestId('unlock-submit'));
      await screen.findByTestId('chat-layout');
    };
    await act(() => s.store.lockNow());
    await unlock();
    await act(() => s.store.lockNow());
    await unlock();
    expect(answers).toHaveLength(2);
    // The first answer, older than the second lock, arrives last but one.
    await act(async () => answers[0]({ [`${PATIENT.id}|${PATIENT.id}|${DOCTOR.id}`]: 'Stale text' }));
    await act(async () => answers[1]({}));
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR.username}`));
    expect(screen.getByTestId('message-input')).toHaveValue('');
  });

  it("a doctor's resolution note being written comes back after a lock, its box open", async () => {
    const taken = emergency({
      state: 'ACKNOWLEDGED',
      acknowledgedBy: DOCTOR.id,
      raisedAt: new Date().toISOString(),
    });
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [taken] }));
    const banner = await screen.findByTestId('emergency-banner');
    await s.user.click(within(banner).getByTestId('emergency-resolve'));
    await s.user.type(within(banner).getByTestId('emergency-resolve-note'), 'Called Alice, ambulance sent.');
    await act(() => s.store.lockNow());
    expect(document.body.innerHTML).not.toContain('ambulance');
    await s.user.type(screen.getByTestId('unlock-secret'), 'password');
    await s.user.click(screen.getByTestId('unlock-submit'));
    const note = await screen.findByTestId('emergency-resolve-note');
    expect(note).toHaveValue('Called Alice, ambulance sent.');
    await s.user.click(screen.getByTestId('emergency-resolve-submit'));
    expect(s.fake.callsOf('resolve_emergency')).toEqual([
      { emergencyId: 'e1', note: 'Called Alice, ambulance sent.' },
    ]);
  });

  it("a note being written as the app locked has the focus back after the unlock, never the open conversation's draft", async () => {
    const taken = emergency({
      state: 'ACKNOWLEDGED',
      acknowledgedBy: DOCTOR.id,
      raisedAt: new Date().toISOString(),
    });
    const other = msg({ seq: 9, patientId: PATIENT2.id, senderId: PATIENT2.id, content: 'Hi' });
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [taken], messages: [other] }));
    // Another patient's conversation is open, with words waiting in its composer.
    await s.user.click(await screen.findByTestId(`conversation-${PATIENT2.username}`));
    await s.user.type(screen.getByTestId('message-input'), 'Quinn, please book a visit');
    const banner = screen.getByTestId('emergency-banner');
    await s.user.click(within(banner).getByTestId('emergency-resolve'));
    await s.user.type(within(banner).getByTestId('emergency-resolve-note'), 'Called him');
    await s.user.keyboard('{Control>}l{/Control}');
    await s.user.type(
      await screen.findByTestId('lock-screen').then(() => screen.getByTestId('unlock-secret')),
      'password{Enter}',
    );
    const note = await screen.findByDisplayValue('Called him');
    await waitFor(() =>
      expect(screen.getByTestId('message-input')).toHaveValue('Quinn, please book a visit'),
    );
    expect(note).toHaveFocus();
    await s.user.keyboard(' back');
    expect(note).toHaveValue('Called him back');
    expect(screen.getByTestId('message-input')).toHaveValue('Quinn, please book a visit');
  });

  it('the composer being written in as the app locked has the focus back, the caret after its words', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await s.user.type(screen.getByTestId('message-input'), 'Hello Bob');
    await s.user.keyboard('{Control>}l{/Control}');
    await screen.findByTestId('lock-screen');
    await s.user.type(screen.getByTestId('unlock-secret'), 'password{Enter}');
    const input = await screen.findByDisplayValue('Hello Bob');
    expect(input).toHaveFocus();
    await s.user.keyboard('!');
    expect(input).toHaveValue('Hello Bob!');
  });

  it('a note for an emergency another doctor resolved is forgotten, also one kept across a restart', async () => {
    const taken = (id: string) =>
      emergency({ id, state: 'ACKNOWLEDGED', acknowledgedBy: DOCTOR.id, raisedAt: new Date().toISOString() });
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [taken('e1'), taken('e2')] }));
    const key = (id: string) => `${DOCTOR.id}|note:${id}`;
    for (const id of ['e1', 'e2']) {
      const item = await waitFor(() => {
        const found = document.querySelector<HTMLElement>(
          `[data-testid=emergency-item][data-emergency-id=${id}]`,
        );
        if (!found) throw new Error(`no banner item for ${id}`);
        return found;
      });
      await s.user.click(within(item).getByTestId('emergency-resolve'));
      await s.user.type(within(item).getByTestId('emergency-resolve-note'), `Note for ${id}`);
    }
    act(() => void window.dispatchEvent(new Event('blur')));
    await waitFor(() => expect(s.fake.drafts_.size).toBe(2));

    // Resolved elsewhere while this app runs: its note goes at once.
    act(() =>
      s.fake.upsertEmergency({ ...taken('e1'), state: 'RESOLVED', resolvedAt: new Date().toISOString() }),
    );
    await waitFor(() => expect(s.fake.callsOf('save_draft').at(-1)).toEqual({ key: key('e1'), text: '' }));
    expect(s.fake.drafts_.has(key('e1'))).toBe(false);

    // Resolved while the app was closed: the next start does not bring its note back.
    cleanup();
    s.fake.emergencies = s.fake.emergencies.filter((e) => e.id !== 'e2');
    await renderApp({ fake: s.fake, store: new ChatStore(s.fake) });
    await waitFor(() => expect(s.fake.drafts_.size).toBe(0));
    expect(screen.queryByTestId('emergency-resolve-note')).toBeNull();
  });
});
