// The contract suite, fake side: replays the real shell's transcript (recorded by the desktop
// e2e, tests/e2e/desktop.rs, into transcript.jsonl) against the fake backend and requires the
// same shapes: every command the real shell answered gets an answer with the same fields and
// types, the same error codes for the same failures, and every event the fake sends has the real
// event's fields. The e2e checks the other half: the real shell still matches this file.
//
// What happened outside the app in the e2e (a doctor's reply, the server's acks and refusals, an
// emergency raised by a patient, the server going away, a frame the server refused, a cache the
// keyring no longer opened) is told to the fake through its test hooks, taken from the events the
// real shell sent; the fake must then answer by its own rules.

import { describe, expect, it } from 'vitest';
import type { Backend } from '../backend';
import { FAKE_PAIRING_CODE, FakeBackend } from '../fake/fakeBackend';
import { sameKey } from '../logic/conversations';
import type { Contact, Emergency, LocalMessage, Session, Snapshot, UiEvent } from '../types';
import { differences, shapeTable, type ContractLine } from './shapes';
import transcriptText from './transcript.jsonl?raw';

const transcript: ContractLine[] = transcriptText
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as ContractLine);

type Args = Record<string, unknown>;

/**
 * Each command of docs/desktop-api.md as a call on a Backend (backend.ts maps the other way);
 * `subscribe` starts a new fake app in `replay`.
 */
const COMMANDS: Record<string, (b: Backend, a: Args) => Promise<unknown>> = {
  login: (b, a) => b.login(a as never),
  logout: (b) => b.logout(),
  load_messages: (b, a) => b.loadMessages(a as never),
  send_message: (b, a) => b.sendMessage(a as never),
  retry_message: (b, a) => b.retryMessage(a.clientId as string),
  discard_message: (b, a) => b.discardMessage(a.clientId as string),
  unsend_message: (b, a) => b.unsendMessage(a as never),
  edit_message: (b, a) => b.editMessage(a as never),
  message_versions: (b, a) => b.messageVersions(a.messageId as string),
  search_messages: (b, a) => b.searchMessages(a as never),
  find_patients: (b, a) => b.findPatients(a.query as string),
  start_conversation: (b, a) => b.startConversation(a.patientId as string),
  mark_read: (b, a) => b.markRead(a as never),
  view_conversation: (b, a) => b.viewConversation(a as never),
  purged_at: (b, a) => b.purgedAt(a as never),
  resolved_emergencies: (b, a) => b.resolvedEmergencies(a as never),
  set_typing: (b, a) =>
    b.setTyping({ patientId: a.patientId as string, doctorId: a.doctorId as string }, !!a.typing),
  acknowledge_emergency: (b, a) => b.acknowledgeEmergency(a.emergencyId as string),
  resolve_emergency: (b, a) => b.resolveEmergency(a.emergencyId as string, a.note as string),
  silence_alarm: (b) => b.silenceAlarm(),
  set_availability: (b, a) => b.setAvailability(a.availability as never),
  set_settings: (b, a) => b.setSettings(a.settings as never),
  send_test_alert: (b) => b.sendTestAlert(),
  pick_file: (b) => b.pickFile(),
  attachment_preview: (b, a) => b.attachmentPreview(a.senderId as string, a.clientId as string),
  open_attachment: (b, a) => b.openAttachment(a.senderId as string, a.clientId as string),
  open_link: (b, a) => b.openLink(a.url as string),
  cancel_login: (b) => b.cancelLogin(),
  user_active: (b) => b.userActive(),
  lock_now: (b) => b.lockNow(),
  save_draft: (b, a) => b.saveDraft(a.key as string, a.text as string),
  keep_drafts: (b, a) => b.keepDrafts(a.drafts as Record<string, string>),
  drafts: (b) => b.drafts(),
  unlock: (b, a) => b.unlock(a.secret as string),
  raise_emergency: (b, a) => b.raiseEmergency(a.content as string),
  set_pin: (b, a) => b.setPin(a.newPin as string),
  set_lock_policy: (b, a) => b.setLockPolicy(a.device as never, (a.idleMinutes as number | null) ?? null),
};

/** The people of the e2e's clinic, as the real shell described them (ids are placeholders). */
function usersOf(lines: ContractLine[]): Contact[] {
  const found = new Map<string, Contact>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.id === 'string' && typeof o.username === 'string' && typeof o.role === 'string') {
        const known = found.get(o.id);
        found.set(o.id, {
          age: null,
          bloodGroup: null,
          dateOfBirth: null,
          online: false,
          ...known,
          ...(o as Partial<Contact>),
        } as Contact);
      }
      Object.values(o).forEach(walk);
    }
  };
  lines.forEach(walk);
  return [...found.values()];
}

const SERVER = /^<server(?:-(\d+))?>/;

/** Replays one scenario's lines; returns the fake's transcript in the same form. */
async function replay(lines: ContractLine[], users: Contact[]): Promise<ContractLine[]> {
  const out: ContractLine[] = [];
  let fake: FakeBackend | null = null;
  /** The shell's clientIds of this scenario's sends to the fake's. */
  const clientIds = new Map<string, string>();
  const url = (s: string) => s.replace(SERVER, (_, n?: string) => `https://clinic${n ?? ''}.test`);

  const mapArgs = (line: ContractLine): Args => {
    const a: Args = { ...(line.args ?? {}) };
    if (typeof a.serverUrl === 'string') a.serverUrl = url(a.serverUrl);
    if (a.pin === '<pin>') a.pin = FAKE_PAIRING_CODE;
    if (a.pin === '<wrong-pin>') a.pin = 'ZZZZZZZ-ZZZZZZZ';
    // The recorder never keeps passwords: a refused login is replayed with a wrong one.
    if (a.password === '<redacted>')
      a.password = line.error?.code === 'unauthorized' ? 'not the password' : 'password';
    if (typeof a.clientId === 'string') a.clientId = clientIds.get(a.clientId) ?? a.clientId;
    // Nor PINs: a refused one is replayed with a weak one, a refused unlock with a wrong one.
    if (a.newPin === '<redacted>') a.newPin = line.error ? '1234' : '8203';
    if (a.secret === '<redacted>') a.secret = line.error ? '1357' : 'password';
    // A read mark names a message the real shell loaded from the server's history, which the
    // fake may not hold: replay it as the fake's newest message from the other person there.
    if (line.command === 'mark_read' && fake && !fake.messages.some((m) => m.id === a.messageId)) {
      const key = { patientId: a.patientId as string, doctorId: a.doctorId as string };
      const theirs = fake.messages.filter((m) => sameKey(m, key) && m.senderId !== me() && m.id !== null);
      a.messageId = theirs[theirs.length - 1]?.id ?? a.messageId;
    }
    return a;
  };

  const me = () => fake?.session?.user.id;
  const localId = (m: LocalMessage) => clientIds.get(m.clientId) ?? m.clientId;

  /**
   * The sentence of the cache reset the shell announced while answering `lines[i]` (a subscribe
   * or a login): the keyring no longer opened the cache, which the fake is told before it
   * answers, as the shell knew it before answering.
   */
  const cacheResetAt = (i: number): string | null => {
    for (const l of lines.slice(i + 1)) {
      if (l.kind === 'call' && (l.command === 'subscribe' || l.command === 'login')) break;
      if (l.kind === 'event' && l.event?.type === 'notice' && l.event.code === 'cacheReset')
        return String(l.event.message);
    }
    return null;
  };

  /** Whether the fake sent this notice itself since the last command. */
  const fakeSaid = (notice: Extract<UiEvent, { type: 'notice' }>) => {
    for (let i = out.length - 1; i >= 0 && out[i].kind !== 'call'; i--) {
      const e = out[i].event as UiEvent | undefined;
      if (e?.type === 'notice' && e.code === notice.code && e.message === notice.message) return true;
    }
    return false;
  };

  /** Tells the fake what the real shell's event shows happened outside the app. */
  const outside = (f: FakeBackend, e: UiEvent) => {
    if (e.type === 'connection') {
      if (e.status.state !== f.connection.state) f.setConnection({ state: e.status.state });
    } else if (e.type === 'message') {
      const m = e.message;
      const local = f.messages.find((x) => x.clientId === localId(m) && x.senderId === m.senderId);
      if (m.senderId !== me()) {
        if (!local) f.receive({ ...m });
      } else if (local && local.status === 'SENDING' && m.status === 'FAILED')
        f.fail(local.clientId, m.error ?? 'refused', m.errorCode ?? 'internal');
      else if (local && local.status === 'SENDING' && m.id !== null) f.ack(local.clientId);
    } else if (e.type === 'lock') {
      // Locked by idle time or the screen lock, which the replay has no clock or bus for.
      if (e.status.locked && !f.lock.locked) f.setLock({ ...f.lock, locked: true });
    } else if (e.type === 'emergency') {
      f.conflictOnAcknowledge = null;
      if (!f.emergencies.some((x) => x.id === e.emergency.id && x.state === e.emergency.state))
        f.upsertEmergency({ ...e.emergency } as Emergency);
    } else if (e.type === 'notice' && e.code !== 'cacheReset' && !fakeSaid(e)) {
      // The server refused a frame (which one the recording does not say; the fake's own rules
      // for them are unit-tested) or failed as the connection was set up. One the fake already
      // told by its own rules (typing in another doctor's conversation) is not told twice.
      f.serverError(e.code, e.message);
    }
  };

  // Another account left a file in the profile folder before the next start.
  let notPrivate = false;
  for (const [i, line] of lines.entries()) {
    if (line.kind === 'outside') {
      if (!fake) throw new Error(`outside event ${line.what} before the app started`);
      if (line.what === 'server-certificate-changed')
        for (const s of fake.pairedServers()) fake.changeCertificate(s);
      else if (line.what === 'emergency-taken-elsewhere')
        fake.conflictOnAcknowledge = 'Dr. Minh Nguyen already took it.';
      else if (line.what === 'availability-set-elsewhere') fake.availabilityFromElsewhere('DO_NOT_DISTURB');
      else if (line.what === 'profile-not-private') notPrivate = true;
      else throw new Error(`the replay does not know the outside event ${line.what}`);
    } else if (line.kind === 'event' && line.event) {
      if (fake) outside(fake, line.event as unknown as UiEvent);
    } else if (line.kind === 'call' && line.command === 'subscribe') {
      // A new app start: the saved session (the keyring's) is the profile's, as in the e2e.
      const recorded = (line.ok as Snapshot | undefined)?.session ?? null;
      // The profile keeps its pins across app starts within the scenario.
      const paired = fake?.pairedServers() ?? [];
      const changed = fake?.changedCertificates() ?? [];
      // So does its cache the drafts of the user it is (another user's app has its own cache).
      const sameUser = fake?.session && recorded && fake.session.user.id === recorded.user.id;
      const drafts = sameUser ? new Map(fake!.drafts_) : new Map<string, string>();
      // A session the shell could not open (its profile made unsafe in between) has no
      // snapshot: the one saved before is the fake's.
      const saved = line.error ? (fake?.session ?? null) : recorded;
      fake = new FakeBackend({
        users,
        ackDelayMs: null,
        session: saved as Session | null,
        cacheReset: cacheResetAt(i),
        profileNotPrivate: notPrivate,
      });
      notPrivate = false;
      paired.forEach((s) => fake!.pairWith(s));
      fake.drafts_ = drafts;
      changed.forEach((s) => fake!.changeCertificate(s));
      // An app started while locked stays locked (the lock is kept with the profile).
      if ((line.ok as Snapshot | undefined)?.lock?.locked) fake.lock = { ...fake.lock, locked: true };
      const f = fake;
      try {
        const ok = await f.subscribe((event) => out.push({ kind: 'event', event }));
        out.push({ kind: 'call', command: 'subscribe', args: line.args, ok });
      } catch (e) {
        const { code, message } = e as { code: string; message: string };
        out.push({ kind: 'call', command: 'subscribe', args: line.args, error: { code, message } });
      }
    } else if (line.kind === 'call' && line.command) {
      const run = COMMANDS[line.command];
      if (!run) throw new Error(`the replay does not know the command ${line.command}`);
      if (!fake) throw new Error(`${line.command} before subscribe`);
      if (line.command === 'login') fake.cacheReset = cacheResetAt(i);
      const answered = 'ok' in line || line.error !== undefined;
      const mine: ContractLine = { kind: 'call', command: line.command, args: line.args };
      out.push(mine);
      try {
        const ok = await run(fake, mapArgs(line));
        // History the real shell loaded from the server is the server's, not this app's doing:
        // the fake holds it from now on (a later read mark may name one of those messages).
        if (line.command === 'load_messages' && Array.isArray(line.ok))
          for (const m of line.ok as LocalMessage[])
            if (m.id !== null && !fake.messages.some((x) => x.id === m.id)) fake.messages.push({ ...m });
        if (line.command === 'send_message' && line.ok)
          clientIds.set((line.ok as LocalMessage).clientId, (ok as LocalMessage).clientId);
        // A call the app closed on before its answer is compared by its arguments only.
        if (answered) mine.ok = ok ?? null;
      } catch (e) {
        const { code, message } = e as { code: string; message: string };
        if (answered) mine.error = { code, message };
      }
    }
  }
  return out;
}

const real = transcript;
const scenarios = [...new Set(real.map((l) => l.scenario ?? '?'))];

/** Event types the shell sends that the fake never does (it has no network, tray or notifications). */
const NOT_IMITATED = ['openConversation', 'presence', 'peerAvailability', 'uploadProgress'];

/** The fake's transcript of the whole replay of `shell` (each scenario from a fresh fake profile). */
async function replayAll(shell: ContractLine[] = real): Promise<ContractLine[]> {
  const users = usersOf(shell);
  const out: ContractLine[] = [];
  for (const name of scenarios)
    out.push(
      ...(await replay(
        shell.filter((l) => l.scenario === name),
        users,
      )),
    );
  return out;
}

/** Each signature's differences between the fake and the shell (empty when they agree). */
function compare(prefix: string, fake: ContractLine[], shell: ContractLine[] = real) {
  const ours = new Map([...shapeTable(fake)].filter(([k]) => k.startsWith(prefix)));
  const theirs = new Map([...shapeTable(shell)].filter(([k]) => k.startsWith(prefix)));
  const problems: string[] = [];
  for (const [key, shape] of ours) {
    const r = theirs.get(key);
    if (r === undefined) problems.push(`${key}: only in the fake`);
    else if (shape && r) problems.push(...differences(shape, r).map((d) => `${key} ${d}`));
  }
  const missing = [...theirs.keys()].filter((k) => !ours.has(k));
  return { problems, missing };
}

describe('the fake backend against the real shell transcript', () => {
  it('has a transcript of every e2e scenario', () => {
    expect(scenarios).toEqual([
      'login_and_session',
      'chat_and_receipts',
      'search',
      'attachments',
      'offline',
      'emergency_as_patient',
      'emergency_as_doctor',
      'changed_certificate',
      'dnd_doctor_sees_emergency',
      'second_emergency_joins',
      'unanswered_emergency_shows_number',
      'device_without_sound_says_so',
      'true_receipts',
      'message_actions',
      'care_for_another_doctors_patient',
      'unsend',
      'app_lock',
    ]);
  });

  it('answers every command with the shapes and error codes of the real shell', async () => {
    const { problems, missing } = compare('call ', await replayAll());
    expect(problems).toEqual([]);
    expect(missing).toEqual([]);
  });

  it('sends events with the fields of the real shell', async () => {
    const { problems, missing } = compare('event ', await replayAll());
    expect(problems).toEqual([]);
    // Every kind the shell sent, except the few the fake cannot have.
    const sent = new Set(real.filter((l) => l.kind === 'event').map((l) => l.event?.type));
    expect(missing.map((k) => k.split(' ')[1]).sort()).toEqual(NOT_IMITATED.filter((k) => sent.has(k)));
  });

  it('imitates the notices a recording may catch', async () => {
    // As earlier recordings caught it in the care scenario (the server refusing a read mark,
    // before the client stopped sending marks for another doctor's conversation), and what a
    // profile whose cache the keyring no longer opens would show when it signs in.
    const notice = (scenario: string, code: string, message: string): ContractLine => ({
      kind: 'event',
      scenario,
      event: { type: 'notice', code, message },
    });
    const care = 'care_for_another_doctors_patient';
    const refused = notice(care, 'forbidden', 'you are not a participant of this conversation');
    const reset = notice('login_and_session', 'cacheReset', 'The local message cache could not be opened.');
    const recording = [...real];
    recording.splice(
      recording.findIndex((l) => l.scenario === care && l.command === 'set_typing'),
      0,
      refused,
    );
    recording.splice(
      recording.findIndex((l) => l.scenario === reset.scenario && l.command === 'login' && 'ok' in l) + 1,
      0,
      reset,
    );

    const fake = await replayAll(recording);
    const { problems, missing } = compare('event ', fake, recording);
    expect(problems).toEqual([]);
    expect(missing).not.toContain('event notice');
    // The same notices, in the same order, with the same values.
    const notices = (lines: ContractLine[]) =>
      lines.filter((l) => l.event?.type === 'notice').map((l) => l.event);
    expect(notices(recording)).toEqual(expect.arrayContaining([reset.event, refused.event]));
    expect(notices(fake)).toEqual(notices(recording));
  });
});
