import { afterEach, describe, expect, it, vi } from 'vitest';
import { keyOf } from '../logic/conversations';
import { PAGE_SIZE } from '../logic/paging';
import { ChatStore } from './chatStore';
import { DOCTOR, PATIENT, PATIENT2, emergency, flush, history, msg, setup } from '../test/fixtures';

const KEY = { patientId: PATIENT.id, doctorId: DOCTOR.id };

afterEach(() => vi.useRealTimers());

describe('session', () => {
  it('shows the login screen without a stored session, then logs in', async () => {
    const { fake, store } = setup({ as: null });
    await store.start();
    expect(store.getState().phase).toBe('login');

    await store.login({ serverUrl: 'http://127.0.0.1:1', username: 'pat', password: 'wrong' });
    expect(store.getState()).toMatchObject({
      phase: 'login',
      loginError: 'Wrong username or password.',
      loggingIn: false,
    });

    await store.login({ serverUrl: 'http://127.0.0.1:1', username: 'pat', password: 'password' });
    expect(store.getState().phase).toBe('ready');
    expect(store.getState().session?.user.id).toBe(PATIENT.id);
    // A patient sees every doctor, talked to or not.
    expect(
      store
        .getState()
        .conversations.map((c) => c.otherParty.username)
        .sort(),
    ).toEqual(['doc', 'doc2']);
    expect(fake.callsOf('login')).toEqual([
      { serverUrl: 'http://127.0.0.1:1', username: 'pat', password: '***' },
      { serverUrl: 'http://127.0.0.1:1', username: 'pat', password: '***' },
    ]);
  });

  it('restores a stored session, and goes back to login on logout or a session event', async () => {
    const { fake, store } = setup({ messages: history(3) });
    await store.start();
    expect(store.getState().phase).toBe('ready');
    await store.logout();
    expect(store.getState()).toMatchObject({ phase: 'login', session: null, conversations: [] });
    expect(fake.callsOf('logout')).toHaveLength(1);

    fake.session = {
      serverUrl: 'http://x',
      user: { id: PATIENT.id, username: 'pat', name: 'Pat', role: 'PATIENT' },
    };
    fake.emit({ type: 'snapshot', snapshot: fake.snapshot() });
    await flush();
    expect(store.getState().phase).toBe('ready');
    fake.emit({ type: 'session', ...{ session: null, reason: 'Your session expired' } });
    expect(store.getState()).toMatchObject({ phase: 'login', loginError: 'Your session expired' });
  });

  it('a page that starts after the session ended still says why, until the next sign-in', async () => {
    const { fake, store } = setup();
    await store.start();
    fake.emit({ type: 'session', session: null, reason: 'Your session expired' });
    fake.session = null;
    // The page reloads (or the app restarted and its session ended before the page was up).
    const reloaded = new ChatStore(fake);
    await reloaded.start();
    expect(reloaded.getState()).toMatchObject({ phase: 'login', loginError: 'Your session expired' });
    // A sign-in refused is newer news than the old session's end.
    await reloaded.login({ serverUrl: 'http://127.0.0.1:1', username: 'pat', password: 'wrong' });
    expect(reloaded.getState().loginError).toBe('Wrong username or password.');
    await reloaded.login({ serverUrl: 'http://127.0.0.1:1', username: 'pat', password: 'password' });
    await reloaded.logout();
    // Her own "Log out" says nothing, after a reload too.
    const again = new ChatStore(fake);
    await again.start();
    expect(again.getState()).toMatchObject({ phase: 'login', loginError: null });
  });
});

describe('messages', () => {
  it('loads the newest page on select, marks incoming as read, pages back on demand', async () => {
    const all = history(120);
    all[119] = { ...all[119], status: 'DELIVERED' }; // from the doctor, unread
    const { fake, store } = setup({ messages: all });
    await store.start();
    await store.select(KEY);
    const page = store.getState().messages[keyOf(KEY)];
    expect(page.items).toHaveLength(PAGE_SIZE);
    expect(page.items[0].seq).toBe(71);
    expect(page.hasOlder).toBe(true);
    // Nothing is read until the list says what is on screen (with the window focused).
    expect(fake.callsOf('mark_read')).toEqual([]);
    const focus = vi.spyOn(document, 'hasFocus').mockReturnValue(true);
    store.setOnScreen(KEY, new Set([page.items[48].id!, page.items[49].id!]));
    await flush();
    expect(fake.callsOf('mark_read')).toEqual([{ ...KEY, messageId: page.items[49].id }]);
    focus.mockRestore();

    await store.loadOlder(KEY);
    expect(fake.callsOf('load_messages')[1]).toEqual({ ...KEY, beforeSeq: 71, limit: PAGE_SIZE });
    await store.loadOlder(KEY);
    const all3 = store.getState().messages[keyOf(KEY)];
    expect(all3.items).toHaveLength(120);
    expect(all3.hasOlder).toBe(false);
    await store.loadOlder(KEY);
    expect(fake.callsOf('load_messages')).toHaveLength(3);
  });

  it('opens at its first unread message however many pages back, and a read mark never passes one not seen', async () => {
    // 100 unread from the doctor after 20 read ones: two pages and a part.
    const all = Array.from({ length: 120 }, (_, i) =>
      msg({
        seq: i + 1,
        senderId: DOCTOR.id,
        status: i < 20 ? 'READ' : 'DELIVERED',
        content: `note ${i + 1}`,
      }),
    );
    const { fake, store } = setup({ messages: all });
    await store.start();
    await store.select(KEY);
    const loaded = store.getState().messages[keyOf(KEY)];
    // Pages were loaded until the oldest loaded one was read: the first unread (21) is in.
    expect(fake.callsOf('load_messages')).toEqual([
      { ...KEY, limit: PAGE_SIZE },
      { ...KEY, beforeSeq: 71, limit: PAGE_SIZE },
      { ...KEY, beforeSeq: 21, limit: PAGE_SIZE },
    ]);
    expect(loaded.items).toHaveLength(120);
    expect(loaded.hasOlder).toBe(false);
    const ids = (from: number, to: number) => new Set(loaded.items.slice(from - 1, to).map((m) => m.id!));
    const focus = vi.spyOn(document, 'hasFocus').mockReturnValue(true);
    // A jump to the bottom (a reply sent): the newest show, the 98 before them were never seen.
    store.setOnScreen(KEY, ids(119, 120));
    await flush();
    expect(fake.callsOf('mark_read')).toEqual([]);
    // The doctor reads from the first unread down: the mark follows what was seen, in order.
    store.setOnScreen(KEY, ids(21, 30));
    await flush();
    expect(fake.callsOf('mark_read')).toEqual([{ ...KEY, messageId: 'm30' }]);
    store.setOnScreen(KEY, ids(31, 118));
    await flush();
    // 119 and 120 were seen before: the mark reaches the newest.
    expect(fake.callsOf('mark_read').at(-1)).toEqual({ ...KEY, messageId: 'm120' });
    focus.mockRestore();
  });

  it('stops loading pages as it opens after ten, with no read message found', async () => {
    const all = Array.from({ length: 700 }, (_, i) =>
      msg({ seq: i + 1, senderId: DOCTOR.id, status: 'DELIVERED', content: `note ${i + 1}` }),
    );
    const { fake, store } = setup({ messages: all });
    await store.start();
    await store.select(KEY);
    expect(fake.callsOf('load_messages')).toHaveLength(10);
    expect(store.getState().messages[keyOf(KEY)]).toMatchObject({ hasOlder: true });
    expect(store.getState().messages[keyOf(KEY)].items).toHaveLength(500);
  });

  it('sends optimistically, queues offline, and turns SENT when back online', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { fake, store } = setup({ connection: { state: 'offline', queued: 0 }, ackDelayMs: 10 });
    await store.start();
    await store.select(KEY);
    await store.send('hello offline');
    const items = () => store.getState().messages[keyOf(KEY)].items;
    expect(items()).toHaveLength(1);
    expect(items()[0]).toMatchObject({ status: 'SENDING', id: null, seq: null, content: 'hello offline' });
    expect(store.getState().connection).toMatchObject({ state: 'offline', queued: 1 });

    fake.setConnection({ state: 'online', queued: 1 });
    await vi.advanceTimersByTimeAsync(20);
    expect(items()[0]).toMatchObject({ status: 'SENT', id: 'm-1', seq: 1 });
    expect(store.getState().connection).toMatchObject({ state: 'online', queued: 0 });
    expect(store.getState().conversations.find((c) => c.doctorId === DOCTOR.id)?.lastMessage?.status).toBe(
      'SENT',
    );
  });

  it('shows FAILED with the error, and retry sends again', async () => {
    const { fake, store } = setup();
    await store.start();
    await store.select(KEY);
    await store.send('x');
    const clientId = store.getState().messages[keyOf(KEY)].items[0].clientId;
    fake.fail(clientId, 'Message too large');
    expect(store.getState().messages[keyOf(KEY)].items[0]).toMatchObject({
      status: 'FAILED',
      error: 'Message too large',
    });
    await store.retry(clientId);
    expect(store.getState().messages[keyOf(KEY)].items[0]).toMatchObject({ status: 'SENDING', error: null });
    fake.ack(clientId);
    expect(store.getState().messages[keyOf(KEY)].items[0].status).toBe('SENT');
  });

  it('counts unread in other conversations and clears it on open', async () => {
    const { fake, store } = setup({
      as: DOCTOR,
      messages: [msg({ seq: 1, status: 'READ' }), msg({ seq: 2, patientId: PATIENT2.id, status: 'READ' })],
    });
    const focus = vi.spyOn(document, 'hasFocus').mockReturnValue(true);
    await store.start();
    await store.select(KEY);
    fake.receive(msg({ seq: 3, patientId: PATIENT2.id, senderId: PATIENT2.id, status: 'DELIVERED' }));
    fake.receive(msg({ seq: 4, patientId: PATIENT2.id, senderId: PATIENT2.id, status: 'DELIVERED' }));
    const fifth = msg({ seq: 5, senderId: PATIENT.id, status: 'DELIVERED' });
    fake.receive(fifth);
    store.setOnScreen(KEY, new Set([fifth.id!]));
    await flush();
    const byPatient = (id: string) => store.getState().conversations.find((c) => c.patientId === id);
    expect(byPatient(PATIENT2.id)?.unreadCount).toBe(2);
    expect(byPatient(PATIENT.id)?.unreadCount).toBe(0);
    expect(fake.callsOf('mark_read')).toContainEqual({ ...KEY, messageId: fifth.id });
    const other = { patientId: PATIENT2.id, doctorId: DOCTOR.id };
    await store.select(other);
    expect(fake.callsOf('view_conversation')).toEqual([KEY, other]);
    store.setOnScreen(other, new Set(store.getState().messages[keyOf(other)].items.map((m) => m.id!)));
    await flush();
    expect(byPatient(PATIENT2.id)?.unreadCount).toBe(0);
    focus.mockRestore();
  });

  it('marks read only what is on screen while the window has focus, and catches up on focus', async () => {
    const { fake, store } = setup({ messages: [msg({ seq: 1, status: 'READ' })] });
    let focused = false;
    const focus = vi.spyOn(document, 'hasFocus').mockImplementation(() => focused);
    await store.start();
    await store.select(KEY);
    const seen = msg({ seq: 2, senderId: DOCTOR.id, status: 'DELIVERED' });
    const below = msg({ seq: 3, senderId: DOCTOR.id, status: 'DELIVERED' });
    fake.receive(seen);
    fake.receive(below);
    // On screen, but another program is in front: nothing is read.
    store.setOnScreen(KEY, new Set([seen.id!]));
    await flush();
    expect(fake.callsOf('mark_read')).toEqual([]);
    expect(store.getState().conversations.find((c) => c.doctorId === DOCTOR.id)?.unreadCount).toBe(2);
    // Focus comes back: what is on screen is read, the message below the fold is not.
    focused = true;
    window.dispatchEvent(new Event('focus'));
    await flush();
    expect(fake.callsOf('mark_read')).toEqual([{ ...KEY, messageId: seen.id }]);
    const status = (id: string | null) =>
      store.getState().messages[keyOf(KEY)].items.find((m) => m.id === id)?.status;
    expect(status(seen.id)).toBe('READ');
    expect(status(below.id)).toBe('DELIVERED');
    // Hidden in the tray (focus or not), scrolling it into view reads nothing.
    const visibility = vi.spyOn(document, 'visibilityState', 'get').mockReturnValue('hidden');
    store.setOnScreen(KEY, new Set([seen.id!, below.id!]));
    await flush();
    expect(fake.callsOf('mark_read')).toHaveLength(1);
    visibility.mockReturnValue('visible');
    document.dispatchEvent(new Event('visibilitychange'));
    await flush();
    expect(fake.callsOf('mark_read')).toEqual([
      { ...KEY, messageId: seen.id },
      { ...KEY, messageId: below.id },
    ]);
    expect(status(below.id)).toBe('READ');
    visibility.mockRestore();
    focus.mockRestore();
    store.stop();
  });

  it('shows typing as the core reports it (its timeouts included), and tracks presence', async () => {
    const { fake, store } = setup();
    await store.start();
    fake.emit({ type: 'typing', ...{ ...KEY, userId: DOCTOR.id, typing: true } });
    expect(store.getState().typing[keyOf(KEY)]).toEqual([DOCTOR.id]);
    fake.emit({ type: 'typing', ...{ ...KEY, userId: DOCTOR.id, typing: false } });
    expect(store.getState().typing[keyOf(KEY)]).toEqual([]);

    expect(store.isOnline(DOCTOR.id)).toBe(true);
    fake.emit({ type: 'presence', ...{ userId: DOCTOR.id, online: false } });
    expect(store.isOnline(DOCTOR.id)).toBe(false);
    fake.emit({ type: 'presence', ...{ userId: DOCTOR.id, online: true } });
    fake.setConnection({ state: 'offline', queued: 0 });
    expect(store.isOnline(DOCTOR.id)).toBe(false);
  });

  it('attachments: the path goes to send_message and upload progress is tracked until acked', async () => {
    const { fake, store } = setup();
    await store.start();
    await store.select(KEY);
    const file = await fake.pickFile();
    if (!file) throw new Error('no file');
    await store.send('', file);
    const m = store.getState().messages[keyOf(KEY)].items[0];
    expect(fake.callsOf('send_message')[0]).toMatchObject({ attachmentPath: file.path, content: '' });
    expect(m).toMatchObject({ fileName: 'blood-test-results.pdf', localFilePath: file.path });
    fake.emit({ type: 'uploadProgress', ...{ clientId: m.clientId, sent: 50, total: 100 } });
    expect(store.getState().uploads[m.clientId]).toEqual({ sent: 50, total: 100 });
    fake.ack(m.clientId);
    expect(store.getState().uploads[m.clientId]).toBeUndefined();
  });
});

describe('retention', () => {
  it('drops purged history and says when it went', async () => {
    const { fake, store } = setup({ messages: history(5) });
    await store.start();
    await store.select(KEY);
    expect(store.getState().messages[keyOf(KEY)].items).toHaveLength(5);
    const first = store.getState().messages[keyOf(KEY)].items[2].seq ?? 0;
    fake.emit({
      type: 'historyPurged',
      patientId: KEY.patientId,
      doctorId: KEY.doctorId,
      upToSeq: first,
      purgedAt: '2026-11-30T03:00:00Z',
      emergencyIds: [],
    });
    const after = store.getState().messages[keyOf(KEY)];
    expect(after.items).toHaveLength(2);
    expect(after.items.every((m) => (m.seq ?? 0) > first)).toBe(true);
    expect(after.purgedAt).toBe('2026-11-30T03:00:00Z');
  });
});

describe('emergencies and settings', () => {
  const raised = emergency();

  it('doctor: alert, acknowledge, silence, resolve with a note', async () => {
    const { fake, store } = setup({ as: DOCTOR, messages: [msg({ seq: 1 })] });
    await store.start();
    fake.upsertEmergency(raised, true);
    expect(store.getState().ringing).toEqual(['e1']);
    expect(store.getState().conversations[0].hasEmergency).toBe(true);
    await store.acknowledge('e1');
    expect(store.getState().emergencies[0]).toMatchObject({
      state: 'ACKNOWLEDGED',
      acknowledgedByName: DOCTOR.name,
    });
    // Confirmed by the server: quiet.
    expect(store.getState().ringing).toEqual([]);
    expect(await store.resolve('e1', 'Called, all fine')).toBe(true);
    expect(fake.callsOf('resolve_emergency')).toEqual([{ emergencyId: 'e1', note: 'Called, all fine' }]);
    expect(store.getState().conversations[0].hasEmergency).toBe(false);
    expect(await store.resolve('nope', '')).toBe(false);
    expect(store.getState().notice).toMatch(/No such emergency/);
  });

  it('patient: an emergency send raises an emergency once acked', async () => {
    const { fake, store } = setup();
    await store.start();
    await store.select(KEY);
    await store.send('help', null, true);
    expect(fake.callsOf('send_message')[0]).toMatchObject({ isEmergency: true, content: 'help' });
    fake.ackAll();
    expect(store.getState().emergencies[0]).toMatchObject({ state: 'RAISED', patientId: PATIENT.id });
  });

  it('a conflict says who took it and keeps ringing; no server keeps ringing and says so', async () => {
    const { fake, store } = setup({
      as: DOCTOR,
      messages: [msg({ seq: 1 })],
      emergencies: [raised],
      ringing: ['e1'],
    });
    await store.start();
    fake.conflictOnAcknowledge = 'Dr. Eli Roe already took it.';
    expect(await store.acknowledge('e1')).toBe(false);
    expect(store.getState().notice).toBe('Dr. Eli Roe already took it.');
    expect(store.getState().ringing).toEqual(['e1']);
    fake.conflictOnAcknowledge = null;
    fake.unreachable = true;
    expect(await store.acknowledge('e1')).toBe(false);
    expect(store.getState().notice).toMatch(/The alarm keeps ringing/);
    expect(store.getState().ringing).toEqual(['e1']);
    await store.silence();
    expect(store.getState().ringing).toEqual([]);
  });

  it("availability is the server's; settings are saved; open emergencies come with the snapshot", async () => {
    const { fake, store } = setup({ as: DOCTOR, emergencies: [raised], ringing: ['e1'] });
    await store.start();
    expect(store.getState().emergencies).toHaveLength(1);
    expect(store.getState().ringing).toEqual(['e1']);
    await store.setAvailability('DO_NOT_DISTURB');
    expect(fake.availability).toBe('DO_NOT_DISTURB');
    expect(store.getState().availability).toBe('DO_NOT_DISTURB');
    await store.updateSettings({ showMessageContent: true });
    expect(fake.settings).toEqual({ showMessageContent: true, startOnLogin: false, textSize: 'normal' });
    await store.sendTestAlert();
    expect(fake.callsOf('send_test_alert')).toHaveLength(1);
  });
});

describe('message identity', () => {
  it('a peer reusing my clientId never replaces my bubble; discard removes only mine', async () => {
    const { fake, store } = setup();
    await store.start();
    await store.select(KEY);
    await store.send('mine');
    const mine = store.getState().messages[keyOf(KEY)].items[0];
    fake.receive(msg({ seq: 7, senderId: DOCTOR.id, clientId: mine.clientId, content: 'theirs' }));
    const items = () => store.getState().messages[keyOf(KEY)].items;
    expect(items().map((m) => [m.senderId, m.content])).toEqual([
      [DOCTOR.id, 'theirs'],
      [PATIENT.id, 'mine'],
    ]);
    fake.fail(
      mine.clientId,
      'The server could not store the message. Tried 5 times; press Retry to try again.',
    );
    expect(items()[1]).toMatchObject({ status: 'FAILED', errorCode: 'internal' });
    await store.discard(mine.clientId);
    expect(items().map((m) => m.content)).toEqual(['theirs']);
  });
});

describe("a command's answer never undoes what events already said", () => {
  it('a file parked before send_message answered stays parked, with no upload bar', async () => {
    const { fake, store } = setup();
    await store.start();
    await store.select(KEY);
    const file = await fake.pickFile();
    if (!file) throw new Error('no file');
    const send = fake.sendMessage.bind(fake);
    fake.sendMessage = async (args) => {
      const m = await send(args);
      // The refusal's event reaches the UI before the command's answer does.
      fake.fail(
        m.clientId,
        'The server does not accept this kind of file. Not sent.',
        'unsupported_media_type',
      );
      return m;
    };
    await store.send('The discharge letter.', file);
    const m = store.getState().messages[keyOf(KEY)].items[0];
    expect(m).toMatchObject({ status: 'FAILED', errorCode: 'unsupported_media_type' });
    expect(store.getState().uploads[m.clientId]).toBeUndefined();
  });

  it('a connection event heard while the login answer was on its way wins over its snapshot', async () => {
    const { fake, store } = setup({ as: null });
    await store.start();
    const login = fake.login.bind(fake);
    fake.login = async (args) => {
      const snapshot = await login(args);
      // The snapshot was taken while connecting; "online" overtakes the command's answer.
      fake.setConnection({ state: 'online' });
      return {
        ...snapshot,
        connection: { ...snapshot.connection, state: 'offline', attempt: 1, lastError: 'refused' },
      };
    };
    await store.login({ serverUrl: 'http://127.0.0.1:1', username: 'pat', password: 'password' });
    expect(store.getState().phase).toBe('ready');
    expect(store.getState().connection.state).toBe('online');
    // Nor does the answer's outage outlive it (a doctor would be warned of one for hours).
    expect(store.getState().offlineSince).toBeNull();
  });

  it('a notice heard while the login answer was on its way (a cache started afresh) stays shown', async () => {
    const { fake, store } = setup({ as: null });
    await store.start();
    const login = fake.login.bind(fake);
    const sentence = 'The local message cache could not be opened, so it was deleted.';
    fake.login = async (args) => {
      const snapshot = await login(args);
      fake.emit({ type: 'notice', code: 'cacheReset', message: sentence });
      return snapshot;
    };
    await store.login({ serverUrl: 'http://127.0.0.1:1', username: 'pat', password: 'password' });
    expect(store.getState().phase).toBe('ready');
    expect(store.getState().notice).toBe(sentence);
  });
});
