// The fake's `notice` events, in the situations where the real shell sends one: a frame the
// server refuses (a read mark, a join, typing), and a cache the keyring no longer opens.

import { describe, expect, it } from 'vitest';
import { DOCTOR, DOCTOR2, PATIENT, msg, sessionOf, setup } from '../test/fixtures';
import type { UiEvent } from '../types';

const ours = { patientId: PATIENT.id, doctorId: DOCTOR.id };
const theirs = { patientId: PATIENT.id, doctorId: DOCTOR2.id };
const REFUSED = { code: 'forbidden', message: 'you are not a participant of this conversation' };

async function subscribed(opts: Parameters<typeof setup>[0] = {}) {
  const { fake } = setup({
    messages: [
      msg({ seq: 1, id: 'm1', ...ours, senderId: PATIENT.id }),
      msg({ seq: 2, id: 'm2', ...theirs, senderId: PATIENT.id }),
    ],
    ...opts,
  });
  const events: UiEvent[] = [];
  await fake.subscribe((e) => events.push(e));
  const notices = () => events.filter((e) => e.type === 'notice');
  return { fake, events, notices };
}

describe('the fake backend’s notices', () => {
  it('shows the server’s refusal of a read mark, sent at once online', async () => {
    const { fake, notices } = await subscribed({ as: DOCTOR });
    fake.refuseFrames = { code: 'not_found', message: 'no such message in this conversation' };
    await fake.markRead({ ...ours, messageId: 'm1' });
    // Read here all the same: the mark is the server's to refuse, not the command.
    expect(fake.messages.find((m) => m.id === 'm1')?.status).toBe('READ');
    expect(notices()).toEqual([
      { type: 'notice', code: 'not_found', message: 'no such message in this conversation' },
    ]);
    // Nothing new to read: no mark, no refusal.
    await fake.markRead({ ...ours, messageId: 'm1' });
    expect(notices()).toHaveLength(1);
  });

  it('owes a read mark made offline and has it refused once the connection is back', async () => {
    const { fake, notices } = await subscribed({ as: DOCTOR, connection: { state: 'offline' } });
    fake.refuseFrames = REFUSED;
    await fake.markRead({ ...ours, messageId: 'm1' });
    expect(notices()).toEqual([]);
    fake.setConnection({ state: 'online' });
    expect(notices()).toEqual([{ type: 'notice', ...REFUSED }]);
  });

  it('joins again after a reconnect every conversation it follows, as the client core does', async () => {
    // The patient is in both conversations: the open one, and another typed in since.
    const { fake, notices } = await subscribed({ as: PATIENT, connection: { state: 'offline' } });
    await fake.viewConversation(ours);
    await fake.setTyping(theirs, true);
    fake.refuseFrames = REFUSED;
    fake.setConnection({ state: 'online' });
    expect(notices()).toHaveLength(2);
    // Opening one leaves the others: one join is owed after the next reconnect.
    fake.refuseFrames = null;
    await fake.viewConversation(ours);
    fake.setConnection({ state: 'offline' });
    fake.refuseFrames = REFUSED;
    fake.setConnection({ state: 'online' });
    expect(notices()).toHaveLength(3);
  });

  it('marks nothing in another doctor’s conversation, so nothing is refused', async () => {
    const { fake, notices } = await subscribed({ as: DOCTOR });
    await fake.markRead({ ...theirs, messageId: 'm2' });
    expect(fake.messages.find((m) => m.id === 'm2')?.status).toBe('SENT');
    await fake.viewConversation(theirs);
    expect(notices()).toEqual([]);
  });

  it('has typing in a conversation the user is not part of refused, and drops it offline', async () => {
    const { fake, notices } = await subscribed({ as: DOCTOR });
    await fake.setTyping(ours, true);
    expect(notices()).toEqual([]);
    await fake.setTyping(theirs, true);
    expect(notices()).toEqual([{ type: 'notice', ...REFUSED }]);
    fake.setConnection({ state: 'offline' });
    await fake.setTyping(theirs, true);
    expect(notices()).toHaveLength(1);
  });

  it('joins the open conversation again after a reconnect, where the server may refuse it', async () => {
    const { fake, notices } = await subscribed({ as: DOCTOR });
    await fake.viewConversation(ours);
    fake.refuseFrames = REFUSED;
    // Already joined: opening it again sends nothing.
    await fake.viewConversation(ours);
    expect(notices()).toEqual([]);
    fake.setConnection({ state: 'connecting' });
    fake.setConnection({ state: 'online' });
    expect(notices()).toEqual([{ type: 'notice', ...REFUSED }]);
  });

  it('says the cache was started afresh when a session is restored, and at login', async () => {
    const sentence = 'The local message cache could not be opened.';
    const restored = await subscribed({ cacheReset: sentence });
    expect(restored.notices()).toEqual([{ type: 'notice', code: 'cacheReset', message: sentence }]);

    const signedOut = await subscribed({ as: null, cacheReset: sentence });
    expect(signedOut.notices()).toEqual([]);
    await signedOut.fake.login({
      serverUrl: sessionOf(PATIENT).serverUrl,
      username: PATIENT.username,
      password: 'password',
    });
    expect(signedOut.notices()).toEqual([{ type: 'notice', code: 'cacheReset', message: sentence }]);
  });
});

describe('the fake backend’s refusals of a text', () => {
  it('refuses what the core refuses before queueing, and sends an emergency without disguises', async () => {
    const { fake } = await subscribed({ as: PATIENT });
    const send = (content: string, isEmergency = false) =>
      fake.sendMessage({ ...ours, content, isEmergency });
    await expect(send('\u3164\u2800\u200b\ufe0f')).rejects.toThrow('A message needs some text.');
    await expect(send('a\u0000b')).rejects.toThrow('control characters');
    await expect(send('invoice\u202efdp.exe')).rejects.toThrow('bidirectional override');
    expect((await send('\u2764\ufe0f ok')).content).toBe('\u2764\ufe0f ok');
    expect((await send('help, \u2068Anna\u2069 is here', true)).content).toBe('help, Anna is here');
  });
});
