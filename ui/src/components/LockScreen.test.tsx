import { act, cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { DOCTOR, PATIENT, emergency, history, msg, setup } from '../test/fixtures';
import { renderApp } from '../test/render';
import { LOCKED_PRESS_NOTE } from '../generated/bindings';
import { ChatStore } from '../store/chatStore';
import { formatShortDate } from '../logic/format';

describe('app lock', () => {
  it('a file picked in a dialog left open over a lock is not attached after it', async () => {
    const s = await renderApp(setup({ messages: history(2) }));
    await s.user.click(await screen.findByTestId('conversation-doc'));
    let release = () => {};
    s.fake.pickHeld = new Promise<void>((r) => (release = r));
    await s.user.click(screen.getByTestId('attach-button'));
    await act(async () => {
      fireEvent.keyDown(window, { key: 'l', ctrlKey: true });
    });
    await screen.findByTestId('lock-screen');
    await act(async () => release());
    await s.user.type(screen.getByTestId('unlock-secret'), 'password');
    await s.user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('message-input')).toBeInTheDocument();
    await act(async () => {});
    expect(screen.queryByTestId('attachment-preview')).toBeNull();
  });

  it('who uses the computer is a short choice, and what each means is said under it', async () => {
    const s = await renderApp(setup({ messages: history(1) }));
    await s.user.click(await screen.findByTestId('settings-button'));
    await s.user.click(screen.getByTestId('lock-settings-open'));
    const choice = screen.getByTestId('lock-device');
    expect([...choice.querySelectorAll('option')].map((o) => o.textContent)).toEqual([
      'Used by others too',
      'Mine alone',
    ]);
    expect(choice).toHaveAccessibleDescription(
      'Used by others too: locks within 5 minutes; signing out removes your messages from this computer. Mine alone: locks within 15 minutes; signing out keeps your messages on this computer.',
    );
  });

  it('moving the mouse restarts the idle time; moves of no distance or a few pixels do not', async () => {
    const s = await renderApp(setup({ messages: history(3) }));
    const active = vi.spyOn(s.fake, 'userActive');
    const move = (movementX: number, movementY: number) =>
      act(async () => {
        window.dispatchEvent(new MouseEvent('mousemove', { movementX, movementY } as MouseEventInit));
      });
    // The browser's own moves when content shifts, and a jittery sensor's.
    await move(0, 0);
    await move(1, 0);
    await move(0, -1);
    await move(1, 1);
    expect(active).not.toHaveBeenCalled();
    // A hand on the mouse.
    await move(6, -3);
    expect(active).toHaveBeenCalledTimes(1);
  });

  it('Ctrl+L locks: no message text in the page; a weak PIN is refused; the PIN unlocks', async () => {
    const s = await renderApp(setup({ messages: history(3) }));
    const { user, store } = s;
    await user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    expect(await screen.findByText('line 3')).toBeInTheDocument();

    await user.click(screen.getByTestId('settings-button'));
    await user.click(screen.getByTestId('lock-settings-open'));
    await user.type(screen.getByTestId('pin-input'), '1234');
    await user.click(screen.getByTestId('pin-save'));
    expect(await screen.findByTestId('pin-result')).toHaveTextContent('too easy to guess');
    await user.clear(screen.getByTestId('pin-input'));
    await user.type(screen.getByTestId('pin-input'), '8203');
    await user.click(screen.getByTestId('pin-save'));
    expect(await screen.findByTestId('pin-result')).toHaveTextContent('PIN saved');
    await user.click(screen.getByTestId('settings-close'));

    await act(async () => {
      fireEvent.keyDown(window, { key: 'l', ctrlKey: true });
    });
    expect(await screen.findByTestId('lock-screen')).toBeInTheDocument();
    expect(document.body.innerHTML).not.toContain('line 3');
    expect(store.getState().messages).toEqual({});

    await user.type(screen.getByTestId('unlock-secret'), '1357');
    await user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('unlock-error')).toHaveTextContent('4 tries left');
    await user.type(screen.getByTestId('unlock-secret'), '8203');
    await user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('chat-layout')).toBeInTheDocument();
    // The open conversation comes back.
    expect(await screen.findByText('line 3')).toBeInTheDocument();
    // Settings has a button for it too.
    await user.click(screen.getByTestId('settings-button'));
    await user.click(screen.getByTestId('lock-settings-open'));
    await user.click(screen.getByTestId('lock-now'));
    expect(await screen.findByTestId('lock-screen')).toBeInTheDocument();
    expect(document.body.innerHTML).not.toContain('line 3');
  });

  it("a locked patient's app shows her own open emergency and the number to call; a doctor's names no one", async () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const raisedAt = new Date().toISOString();
    const s = await renderApp(setup({ clinic, emergencies: [emergency({ raisedAt })] }));
    await act(() => s.store.lockNow());
    const own = await screen.findByTestId('lock-own-emergency');
    expect(own).toHaveTextContent(
      'Your emergency is open. The clinic is alerting the doctors (raised just now). If you need help now, call +44 20 7946 0000.',
    );
    // A doctor takes it while the app is locked.
    act(() =>
      s.fake.upsertEmergency(
        emergency({ raisedAt, state: 'ACKNOWLEDGED', acknowledgedByName: DOCTOR.name }),
        false,
      ),
    );
    expect(screen.getByTestId('lock-own-emergency')).toHaveTextContent(`${DOCTOR.name} is on it.`);
    // Offline, it says that what it shows is what it last heard.
    act(() => s.fake.setConnection({ state: 'offline' }));
    expect(screen.getByTestId('lock-own-emergency')).toHaveTextContent(
      `${DOCTOR.name} is on it. This app is offline, so this may have changed since.`,
    );
    act(() => s.fake.setConnection({ state: 'online' }));
    expect(screen.getByTestId('lock-own-emergency')).not.toHaveTextContent('offline');
    // Resolved while locked: it says by whom and where to read the note, which does not reach the page.
    const resolvedAt = new Date().toISOString();
    act(() =>
      s.fake.upsertEmergency(
        emergency({
          raisedAt,
          state: 'RESOLVED',
          resolvedAt,
          resolvedByName: DOCTOR.name,
          resolutionNote: 'Take two pills; I call at 5',
        }),
        false,
      ),
    );
    // With when: one pressed since, and resolved, is told apart from this one.
    expect(screen.getByTestId('lock-own-emergency')).toHaveTextContent(
      `Your emergency was resolved by ${DOCTOR.name} (${formatShortDate(resolvedAt)}): unlock to read the conversation. If you need help now, call +44 20 7946 0000.`,
    );
    expect(JSON.stringify(s.store.getState())).not.toContain('Take two pills');
    // Restarted while locked: the shell's snapshot has it too.
    const again = setup({ clinic, emergencies: [emergency({ raisedAt })] });
    again.fake.lock = { ...again.fake.lock, locked: true };
    expect(again.fake.snapshot().emergencies).toHaveLength(1);
    expect(again.fake.snapshot().conversations).toEqual([]);
    const doctor = setup({ as: DOCTOR, emergencies: [emergency({ raisedAt })] });
    doctor.fake.lock = { ...doctor.fake.lock, locked: true };
    expect(doctor.fake.snapshot().emergencies).toEqual([]);
  });

  it('an emergency resolved before the app locked is not told again on the lock screen', async () => {
    const resolved = emergency({
      raisedAt: new Date(Date.now() - 600_000).toISOString(),
      state: 'RESOLVED',
      resolvedAt: new Date(Date.now() - 10_000).toISOString(),
      resolvedByName: DOCTOR.name,
    });
    const s = await renderApp(setup({ emergencies: [resolved] }));
    await act(() => s.store.lockNow());
    expect(await screen.findByTestId('lock-screen')).toBeInTheDocument();
    expect(screen.queryByTestId('lock-own-emergency')).toBeNull();
  });

  it('a resolution of an emergency open as it locked is told whatever the clocks say, also after a restart', async () => {
    // Her computer's clock is ahead of the server's (or the app learned of it late, offline):
    // the resolution's time is before the lock's, and it is told all the same.
    const raisedAt = new Date(Date.now() - 600_000).toISOString();
    const s = await renderApp(setup({ emergencies: [emergency({ raisedAt })] }));
    await act(() => s.store.lockNow());
    expect(await screen.findByTestId('lock-own-emergency')).toHaveTextContent('Your emergency is open.');
    const resolved = emergency({
      raisedAt,
      state: 'RESOLVED',
      resolvedAt: new Date(Date.now() - 60_000).toISOString(),
      resolvedByName: DOCTOR.name,
    });
    act(() => s.fake.upsertEmergency(resolved, false));
    expect(screen.getByTestId('lock-own-emergency')).toHaveTextContent(
      `Your emergency was resolved by ${DOCTOR.name}`,
    );
    // Restarted, still locked: the shell's snapshot holds it, and a new page tells it.
    cleanup();
    await renderApp({ ...s, store: new ChatStore(s.fake) });
    expect(await screen.findByTestId('lock-own-emergency')).toHaveTextContent(
      `Your emergency was resolved by ${DOCTOR.name}`,
    );
  });

  it('a locked doctor sees no emergency named, nor holds one that comes while locked', async () => {
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [emergency()] }));
    await act(() => s.store.lockNow());
    expect(await screen.findByTestId('lock-screen')).toBeInTheDocument();
    expect(screen.queryByTestId('lock-own-emergency')).toBeNull();
    expect(s.store.getState().emergencies).toEqual([]);
    act(() => s.fake.upsertEmergency(emergency({ id: 'e2' }), true, msg({ seq: 1, content: 'I fell' })));
    expect(await screen.findByTestId('lock-emergency')).toBeInTheDocument();
    expect(s.store.getState().emergencies).toEqual([]);
    expect(JSON.stringify(s.store.getState())).not.toContain(PATIENT.name);
    expect(JSON.stringify(s.store.getState())).not.toContain('I fell');
  });

  it("a locked doctor's device that cannot ring says so on the lock screen", async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    await act(() => s.store.lockNow());
    expect(await screen.findByTestId('lock-screen')).toBeInTheDocument();
    expect(screen.queryByTestId('lock-device-warning')).toBeNull();
    act(() =>
      s.fake.emit({
        type: 'device',
        device: { sound: 'missing', notifications: 'works', notificationsSuppressed: 'no', trayHost: 'yes' },
      }),
    );
    expect(screen.getByTestId('lock-device-warning')).toHaveTextContent('This device cannot ring');
  });

  it('an emergency not sent when the app locked: the lock screen says so, and whom to call', async () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const s = await renderApp(setup({ clinic, connection: { state: 'offline' } }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await s.user.click(screen.getByTestId('emergency-button'));
    await s.user.type(screen.getByTestId('emergency-text'), 'Chest pain');
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    await act(() => s.store.lockNow());
    const own = await screen.findByTestId('lock-own-emergency');
    expect(own).toHaveTextContent('Your emergency has not reached the clinic yet. You are offline');
    expect(own).toHaveTextContent('If you need help now, call +44 20 7946 0000.');
    expect(document.body.innerHTML).not.toContain('Chest pain');
    expect(JSON.stringify(s.store.getState())).not.toContain('Chest pain');

    const found = s.fake.messages.find((m) => m.isEmergency);
    if (!found) throw new Error('the press');
    const press = { ...found };

    // Sent while locked: the shell tells the lock again, and then her emergency.
    act(() => s.fake.setConnection({ state: 'online' }));
    act(() => s.fake.ack(press.clientId));
    expect(await screen.findByTestId('lock-own-emergency')).toHaveTextContent(
      'Your emergency is open. The clinic is alerting the doctors',
    );
    expect(s.store.getState().lock?.unsentEmergency).toBeNull();

    // Restarted while locked: the page remembers nothing, the shell's lock tells it.
    const again = setup({ clinic, connection: { state: 'offline' }, messages: [press] });
    again.fake.lock = { ...again.fake.lock, locked: true };
    cleanup();
    await renderApp(again);
    expect(await screen.findByTestId('lock-own-emergency')).toHaveTextContent(
      'Your emergency has not reached the clinic yet. You are offline',
    );
    expect(JSON.stringify(again.store.getState())).not.toContain('Chest pain');

    // Refused while locked (parked): Retry needs the app, so it says to unlock.
    act(() => again.fake.fail(press.clientId, 'Too many messages. Not sent.', 'rate_limited'));
    expect(screen.getByTestId('lock-own-emergency')).toHaveTextContent(
      'Your emergency has not reached the clinic yet. It was not sent: unlock to see why and send it again. If you need help now, call +44 20 7946 0000.',
    );
    expect(document.body.innerHTML).not.toContain('Too many messages');
  });

  it('a locked patient raises an emergency without unlocking; nothing of it shows but its state', async () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const s = await renderApp(setup({ clinic, messages: history(2), connection: { state: 'offline' } }));
    await act(() => s.store.lockNow());
    await s.user.click(await screen.findByTestId('emergency-button'));
    expect(screen.getByTestId('emergency-dialog-offline')).toHaveTextContent('+44 20 7946 0000');
    await s.user.type(screen.getByTestId('emergency-text'), 'I fell on the stairs');
    expect(screen.getByTestId('emergency-text-count')).toHaveTextContent('20 of 250 characters');
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    expect(await screen.findByTestId('lock-own-emergency')).toHaveTextContent(
      'Your emergency has not reached the clinic yet. You are offline',
    );
    expect(screen.getByTestId('lock-screen')).toBeInTheDocument();
    expect(document.body.innerHTML).not.toContain('I fell on the stairs');
    expect(JSON.stringify(s.store.getState())).not.toContain('I fell on the stairs');
    const press = s.fake.messages.find((m) => m.isEmergency);
    // The doctors are told nobody's password was asked.
    expect(press).toMatchObject({
      content: `I fell on the stairs\n\n${LOCKED_PRESS_NOTE}`,
      doctorId: DOCTOR.id,
      status: 'SENDING',
    });
    expect(s.fake.callsOf('raise_emergency')).toEqual([{ content: 'I fell on the stairs' }]);
    expect(s.fake.callsOf('send_message')).toEqual([]);
    // A second press while the first waits for the connection: the dialog says so before
    // anything is written (the core would refuse it), with the number to call, and offers
    // nothing to send; closing it puts the focus back on the field.
    await s.user.click(screen.getByTestId('emergency-button'));
    expect(screen.getByTestId('emergency-dialog-waiting')).toHaveTextContent(
      'Your alert is already waiting to be sent: it goes out as soon as this app is connected',
    );
    expect(screen.getByTestId('emergency-dialog-offline')).toHaveTextContent('+44 20 7946 0000');
    expect(screen.queryByTestId('emergency-text')).toBeNull();
    expect(screen.queryByTestId('emergency-confirm-send')).toBeNull();
    expect(screen.getByTestId('emergency-confirm')).toHaveTextContent(
      'Your emergency alert is waiting to be sent',
    );
    expect(screen.getByTestId('emergency-cancel')).toHaveTextContent('Close');
    expect(screen.getByTestId('emergency-cancel')).toHaveFocus();
    await s.user.click(screen.getByTestId('emergency-cancel'));
    expect(screen.getByTestId('unlock-secret')).toHaveFocus();
    expect(s.fake.messages.filter((m) => m.isEmergency)).toHaveLength(1);
    // Once it went, a new press goes too. Words written and cancelled are not kept for the next
    // person at this computer.
    act(() => s.fake.setConnection({ state: 'online' }));
    act(() => s.fake.ack(press?.clientId ?? ''));
    await s.user.click(screen.getByTestId('emergency-button'));
    await s.user.type(screen.getByTestId('emergency-text'), 'private words');
    await s.user.click(screen.getByTestId('emergency-cancel'));
    await s.user.click(screen.getByTestId('emergency-button'));
    expect(screen.getByTestId('emergency-text')).toHaveValue('');
    await s.user.click(screen.getByTestId('emergency-cancel'));
    await s.user.click(screen.getByTestId('emergency-button'));
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    await waitFor(() => expect(s.fake.messages.filter((m) => m.isEmergency)).toHaveLength(2));
    expect(screen.queryByTestId('emergency-confirm')).toBeNull();
    // She set no PIN: a wrong try names only the password.
    await s.user.type(screen.getByTestId('unlock-secret'), 'wrong');
    await s.user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('unlock-error')).toHaveTextContent(/^Wrong password\. 4 tries left/);
    // A press after it leaves the wrong try's sentence (its tries left still hold).
    await s.user.click(screen.getByTestId('emergency-button'));
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    await waitFor(() => expect(s.fake.messages.filter((m) => m.isEmergency)).toHaveLength(3));
    expect(screen.getByTestId('unlock-error')).toHaveTextContent('4 tries left');
  });

  /** Locked and offline, she presses; then someone makes five wrong tries. */
  async function pressThenRunOutOfTries(s: Awaited<ReturnType<typeof renderApp>>): Promise<void> {
    await act(() => s.store.lockNow());
    await s.user.click(await screen.findByTestId('emergency-button'));
    await s.user.type(screen.getByTestId('emergency-text'), 'I fell');
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    await screen.findByTestId('lock-own-emergency');
    for (let i = 0; i < 5; i++) {
      act(() => s.fake.waitsPass());
      await waitFor(() => expect(screen.getByTestId('unlock-submit')).toBeEnabled());
      await s.user.type(screen.getByTestId('unlock-secret'), 'wrong');
      await s.user.click(screen.getByTestId('unlock-submit'));
    }
  }

  it('an app started locked after wrong tries says how many are left before the next one', async () => {
    const started = setup({ messages: history(1) });
    // As a restart finds it: two wrong tries made before, no sentence of theirs told here.
    started.fake.setLock({ ...started.fake.lock, locked: true, triesLeft: 3 });
    const s = await renderApp(started);
    expect(await screen.findByTestId('unlock-tries')).toHaveTextContent(
      '2 wrong tries to unlock so far. 3 tries left before you are logged out.',
    );
    await s.user.type(screen.getByTestId('unlock-secret'), 'wrong');
    await s.user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('unlock-error')).toHaveTextContent('2 tries left');
    expect(screen.queryByTestId('unlock-tries')).toBeNull();
  });

  it('the wait after wrong tries counts down, and the button waits with it', async () => {
    const s = await renderApp(setup({ messages: history(1) }));
    await act(() => s.store.lockNow());
    for (let i = 0; i < 3; i++) {
      await s.user.type(await screen.findByTestId('unlock-secret'), 'wrong');
      await s.user.click(screen.getByTestId('unlock-submit'));
    }
    expect(await screen.findByTestId('unlock-wait')).toHaveTextContent('You can try again in 30 seconds.');
    expect(screen.getByTestId('unlock-submit')).toBeDisabled();
    // Ten seconds on, it says 20 (the page's clock, as the screen's).
    const start = Date.now();
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => start + 10_000);
    try {
      await waitFor(() => expect(screen.getByTestId('unlock-wait')).toHaveTextContent('in 20 seconds.'));
    } finally {
      clock.mockRestore();
    }
    // A try the page makes during the wait anyway (it did not know of it: made by `clinic
    // unlock`) leaves no sentence of the wait standing beside the countdown.
    await act(() => s.store.unlock('password'));
    expect(screen.queryByTestId('unlock-error')).toBeNull();
    expect(screen.getByTestId('unlock-wait')).toBeInTheDocument();
    act(() => s.fake.waitsPass());
    await waitFor(() => expect(screen.queryByTestId('unlock-wait')).toBeNull());
    expect(screen.getByTestId('unlock-submit')).toBeEnabled();
  });

  it('the wrong tries run out while her press waits: no more are taken, and the app logs out once it went', async () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const s = await renderApp(setup({ clinic, messages: history(2), connection: { state: 'offline' } }));
    await pressThenRunOutOfTries(s);
    expect(await screen.findByTestId('unlock-ran-out')).toHaveTextContent(
      "Too many wrong tries to unlock: no more are taken. This app logs out as soon as the emergency has been sent (or refused by the clinic's server).",
    );
    expect(screen.queryByTestId('unlock-secret')).toBeNull();
    expect(screen.queryByTestId('unlock-submit')).toBeNull();
    expect(screen.getByTestId('lock-own-emergency')).toHaveTextContent('+44 20 7946 0000');
    expect(s.fake.callsOf('logout')).toEqual([]);
    // Connected: the press goes, then the session ends and the login screen says why.
    const press = s.fake.messages.find((m) => m.isEmergency);
    act(() => s.fake.setConnection({ state: 'online' }));
    act(() => s.fake.ack(press?.clientId ?? ''));
    expect(await screen.findByTestId('login-error')).toHaveTextContent(
      'you were logged out once your emergency had reached the clinic',
    );
    expect(s.fake.messages.filter((m) => m.isEmergency && m.status === 'SENT')).toHaveLength(1);
  });

  it('the wrong tries run out while her press waits, and the clinic refuses it: the app logs out and says what became of it', async () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const s = await renderApp(setup({ clinic, messages: history(2), connection: { state: 'offline' } }));
    await act(() => s.fake.setLockPolicy('shared', null));
    await pressThenRunOutOfTries(s);
    await screen.findByTestId('unlock-ran-out');
    const press = s.fake.messages.find((m) => m.isEmergency);
    act(() => s.fake.fail(press?.clientId ?? '', 'refused by the server', 'forbidden'));
    expect(await screen.findByTestId('login-error')).toHaveTextContent(
      "you were logged out. Your emergency had not reached the clinic and was deleted with this computer's messages: if you need help now, call +44 20 7946 0000.",
    );
  });

  it("the wrong tries run out while a shared computer's messages wait: the app logs out once they went", async () => {
    const s = await renderApp(setup({ messages: history(2), connection: { state: 'offline' } }));
    await act(() => s.fake.setLockPolicy('shared', null));
    await act(() => s.store.select({ patientId: PATIENT.id, doctorId: DOCTOR.id }));
    await act(() => s.store.send('Written offline, one'));
    await act(() => s.store.send('Written offline, two'));
    await act(() => s.store.lockNow());
    for (let i = 0; i < 5; i++) {
      act(() => s.fake.waitsPass());
      await waitFor(() => expect(screen.getByTestId('unlock-submit')).toBeEnabled());
      await s.user.type(await screen.findByTestId('unlock-secret'), 'wrong');
      await s.user.click(screen.getByTestId('unlock-submit'));
    }
    expect(await screen.findByTestId('unlock-ran-out')).toHaveTextContent(
      "This app logs out as soon as the 2 messages waiting to be sent have gone (or been refused by the clinic's server), or after 12 hours without: on this shared computer, logging out deletes what has not gone.",
    );
    expect(s.fake.callsOf('logout')).toEqual([]);
    const waiting = s.fake.messages.filter((m) => m.status === 'SENDING');
    act(() => s.fake.setConnection({ state: 'online' }));
    waiting.forEach((m) => act(() => s.fake.ack(m.clientId)));
    expect(await screen.findByTestId('login-error')).toHaveTextContent(
      /^Too many wrong tries to unlock: you were logged out\.$/,
    );
    expect(
      s.fake.messages.filter((m) => m.content.startsWith('Written offline') && m.status === 'SENT'),
    ).toHaveLength(2);
  });

  it("a locked doctor's screen has no emergency button", async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    await act(() => s.store.lockNow());
    expect(await screen.findByTestId('lock-screen')).toBeInTheDocument();
    expect(screen.queryByTestId('emergency-button')).toBeNull();
  });

  it('an emergency the lock screen cannot send says why, and the number to call', async () => {
    const s = await renderApp(setup({ users: [PATIENT] }));
    await act(() => s.store.lockNow());
    await s.user.click(await screen.findByTestId('emergency-button'));
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    expect(await screen.findByTestId('emergency-dialog-error')).toHaveTextContent(
      'Could not send the emergency: No doctor of the clinic is known to this app yet. If you need help now, call 112.',
    );
  });

  it('a lock told while the start-up snapshot was on its way wins over it', async () => {
    // Locked at start with an emergency not sent; it goes out while the snapshot travels.
    const press = msg({ seq: null, id: null, isEmergency: true, status: 'SENDING', content: 'Chest pain' });
    const s = setup({ messages: [press] });
    s.fake.lock = { ...s.fake.lock, locked: true };
    const subscribe = s.fake.subscribe.bind(s.fake);
    s.fake.subscribe = async (onEvent) => {
      const snapshot = await subscribe(onEvent);
      expect(snapshot.lock?.unsentEmergency?.status).toBe('SENDING');
      s.fake.setConnection({ state: 'online' });
      s.fake.ack(press.clientId);
      return snapshot;
    };
    await renderApp(s);
    expect(s.store.getState().lock?.unsentEmergency).toBeNull();
    expect(await screen.findByTestId('lock-own-emergency')).toHaveTextContent('Your emergency is open.');
  });

  it('"Not you? Log out" goes to the login screen', async () => {
    const { user, store } = await renderApp(setup());
    await act(() => store.lockNow());
    await user.click(await screen.findByTestId('lock-logout'));
    expect(await screen.findByTestId('login-form')).toBeInTheDocument();
  });

  it('"Not you? Log out" asks first when a send is waiting: a shared computer deletes it', async () => {
    const { user, store, fake } = await renderApp(setup({ connection: { state: 'offline' } }));
    await user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await user.type(screen.getByTestId('message-input'), 'Is the clinic open on Sunday?{Enter}');
    await act(() => store.lockNow());
    await user.click(await screen.findByTestId('lock-logout'));
    expect(screen.getByTestId('logout-unsent')).toHaveTextContent(
      '1 message has not been sent yet. This computer is set up as shared, so logging out deletes it.',
    );
    expect(screen.getByTestId('lock-screen')).not.toHaveTextContent('Sunday');
    // Asked at the foot of the lock screen: its safe answer has the focus (and so is in view).
    expect(screen.getByTestId('logout-cancel')).toHaveFocus();
    await user.click(screen.getByTestId('logout-cancel'));
    expect(screen.queryByTestId('logout-confirm')).toBeNull();
    expect(fake.callsOf('logout')).toHaveLength(0);
    await user.click(screen.getByTestId('lock-logout'));
    await user.click(screen.getByTestId('logout-confirm-button'));
    expect(await screen.findByTestId('login-form')).toBeInTheDocument();
  });

  it('"Not you? Log out" on a shared computer says first that her emergency not sent yet would be deleted', async () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const s = await renderApp(setup({ clinic, connection: { state: 'offline' } }));
    await act(() => s.store.lockNow());
    await s.user.click(await screen.findByTestId('emergency-button'));
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    await screen.findByTestId('lock-own-emergency');
    await s.user.click(screen.getByTestId('lock-logout'));
    expect(screen.getByTestId('logout-emergency')).toHaveTextContent(
      'Your emergency has not reached the clinic yet: logging out deletes it, and it is never sent. If you need help now, call +44 20 7946 0000.',
    );
    // It is not counted again among the messages not sent.
    expect(screen.queryByTestId('logout-unsent')).toBeNull();
  });
});
