// An in-memory Backend: the test double for Vitest and the data source of the browser preview
// (`npm run dev:fake`, chosen at build time: it is never in the product bundle). It imitates the
// shell and client core as docs/desktop-api.md describes them (snapshot then events, optimistic
// sends, parked failures, the core's conversation list, confirmed emergency actions).

import { BackendError, type Backend, type Unlisten } from '../backend';
import { keyOf, sameKey } from '../logic/conversations';
import { byteLength, fileKind } from '../logic/format';
import { isOpenableLink } from '../logic/links';
import { versionOf } from '../logic/messageChanges';
import { DEFAULT_SETTINGS } from '../logic/settings';
import {
  LOCKED_PRESS_NOTE,
  MAX_DRAFT_BYTES,
  MAX_DRAFT_KEY_BYTES,
  MAX_DRAFTS,
  WRITTEN_APART_MS,
} from '../generated/bindings';
import type {
  Availability,
  ClinicInfo,
  ConnectionStatus,
  DeviceCheck,
  Contact,
  Conversation,
  ConversationKey,
  Device,
  EditArgs,
  Emergency,
  EmergencyId,
  FileDropEvent,
  LocalMessage,
  LockStatus,
  LoginArgs,
  MarkReadArgs,
  Message,
  MessageVersion,
  MessageVersions,
  PendingChange,
  PickedFile,
  SearchArgs,
  Found,
  SendMessageArgs,
  Session,
  Settings,
  Snapshot,
  UiEvent,
  UnsendArgs,
  User,
  UserId,
} from '../types';

/** Marks the fake in a bundle; the product build is checked not to contain it. */
export const FAKE_BACKEND_MARKER = 'clinic-fake-backend:do-not-ship';

export interface FakeOptions {
  /** Everyone known to the fake server (the signed-in user included). */
  users: Contact[];
  /** Signed in from the start (as if restored from the keyring). */
  session?: Session | null;
  messages?: LocalMessage[];
  emergencies?: Emergency[];
  connection?: Partial<ConnectionStatus>;
  settings?: Settings;
  /** Acks sends after this many ms; null leaves them SENDING until ack() is called. */
  ackDelayMs?: number | null;
  /** Emergencies ringing on this device from the start. */
  ringing?: EmergencyId[];
  /** The clinic's settings the fake server sends (default: 112, repeats every 30 s). */
  clinic?: ClinicInfo | null;
  /** The local cache could not be opened with its key and was started afresh: the sentence the
   * shell announces (`notice`, code `cacheReset`) after `subscribe` restores a session and after
   * `login`. */
  cacheReset?: string | null;
  /** The saved session cannot be opened: another account left a file in the profile folder;
   * `subscribe` fails as the shell's does (`profile_not_private`). */
  profileNotPrivate?: boolean;
  /** The server the profile last signed in to, as the shell tells it while signed out
   * (default: the session's, else none). */
  lastServer?: string | null;
}

/** A server's `error` frame: its protocol code (`forbidden`...) and its own text. */
export interface ServerRefusal {
  code: string;
  message: string;
}

/** What the server answers a frame in a conversation the sender is not part of (check_access). */
const NOT_A_PARTICIPANT: ServerRefusal = {
  code: 'forbidden',
  message: 'you are not a participant of this conversation',
};

export interface FakeCall {
  command: string;
  args: unknown;
}

const PASSWORD = 'password';
/** The fake `https://` server's pairing code (an `http://` one needs none, like a loopback server). */
export const FAKE_PAIRING_CODE = 'AAAAAAA-BBBBBBB';

const compact = (code: string) => code.replace(/[\s-]/g, '').toUpperCase();

function status(partial: Partial<ConnectionStatus> = {}): ConnectionStatus {
  return {
    state: 'online',
    attempt: null,
    queued: 0,
    failed: 0,
    lastError: null,
    notYourServer: false,
    ...partial,
  };
}

/** A new session's lock: unlocked, no PIN, a shared computer's 5 minutes. */
const UNLOCKED: LockStatus = {
  locked: false,
  hasPin: false,
  device: 'shared',
  idleLimitSecs: 300,
  sharedLongestSecs: 300,
  personalLongestSecs: 900,
  waitSecs: null,
  triesLeft: 5,
  unsentEmergency: null,
  logsOutWhen: null,
  triesSoFar: null,
};

export class FakeBackend implements Backend {
  readonly calls: FakeCall[] = [];
  readonly marker = FAKE_BACKEND_MARKER;
  private handler: ((e: UiEvent) => void) | null = null;
  private readonly dropHandlers = new Set<(e: FileDropEvent) => void>();
  session: Session | null;
  /** Why the last session ended, until another starts (the snapshot's `ended`). */
  private ended: string | null = null;
  /** As the profile's: the server of the last session saved. */
  private lastServer: string | null;
  /** Whether a press waited when the wrong tries ran out (the logout's sentence names it). */
  private pressedWhenTriesRanOut = false;
  users: Contact[];
  messages: LocalMessage[];
  /** The drafts kept, as the core keeps them in its cache (`save_draft`, `keep_drafts`). */
  drafts_: Map<string, string> = new Map();
  emergencies: Emergency[];
  connection: ConnectionStatus;
  settings: Settings;
  availability: Availability = 'AVAILABLE';
  /** The app lock as the client core keeps it (without its delays); see `lockStatus`. */
  lock: LockStatus = { ...UNLOCKED };
  private pin: string | null = null;
  clinic: ClinicInfo | null;
  /** What the fake device can do (the browser preview and tests: everything, once tried). */
  device: DeviceCheck = {
    sound: 'untested',
    notifications: 'untested',
    notificationsSuppressed: 'unknown',
    trayHost: 'unknown',
  };
  ringing: EmergencyId[];
  /** When set, the next acknowledge is refused with this conflict message. */
  conflictOnAcknowledge: string | null = null;
  /** When true, confirmed actions fail as if the server could not be reached. */
  unreachable = false;
  /** When set, the server answers searches 503 with this sentence (its index being rebuilt,
   * say): the core then searches this computer's cache and passes the sentence on. */
  searchUnavailable: string | null = null;
  /** When set, the server refuses every frame the app sends without waiting for an answer (a
   * read mark, joining a conversation, typing) with this error; the shell shows each refusal as
   * a `notice` (see `serverError`). */
  refuseFrames: ServerRefusal | null = null;
  /** See FakeOptions.cacheReset. */
  cacheReset: string | null;
  /** See FakeOptions.profileNotPrivate. */
  profileNotPrivate: boolean;
  /**
   * The conversations whose typing this app follows (joined; joined again after a reconnect): the
   * open one, and any other it typed in since (as the client core's set of joined conversations).
   */
  private readonly joined = new Map<string, ConversationKey>();
  /** Conversations with a read mark the server has not had yet (sent once the connection is back). */
  private readonly owedReads = new Set<string>();
  /** Addresses that accept a sign-in and never answer (until `cancelLogin`). */
  readonly silentServers = new Set<string>();
  private cancelPending: (() => void) | null = null;
  /** Care relations without messages yet (`patientId|doctorId`): started, or an emergency taken. */
  private readonly cares = new Set<string>();
  private nextSeq: number;
  private nextId = 1;
  /** When the clinic's retention removed each conversation's older messages (by keyOf). */
  private readonly purges = new Map<string, string>();

  private readonly opts: FakeOptions;

  constructor(opts: FakeOptions) {
    this.opts = opts;
    this.users = opts.users;
    this.session = opts.session ?? null;
    this.lastServer = opts.lastServer ?? this.session?.serverUrl ?? null;
    this.messages = opts.messages ?? [];
    this.emergencies = opts.emergencies ?? [];
    this.connection = status(opts.connection);
    this.settings = opts.settings ?? DEFAULT_SETTINGS;
    this.ringing = opts.ringing ?? [];
    this.clinic =
      opts.clinic === undefined
        ? {
            emergencyPhone: '112',
            emergencyRepeatSecs: 30,
            messageWindows: { unsendSecs: 86_400, retractSecs: 900, editSecs: 86_400, maxEdits: 10 },
            maxUploadBytes: 25 * 1024 * 1024,
          }
        : opts.clinic;
    this.nextSeq = Math.max(0, ...this.messages.map((m) => m.seq ?? 0)) + 1;
    this.cacheReset = opts.cacheReset ?? null;
    this.profileNotPrivate = opts.profileNotPrivate ?? false;
  }

  private record(command: string, args: unknown = null): void {
    this.calls.push({ command, args });
  }

  callsOf(command: string): unknown[] {
    return this.calls.filter((c) => c.command === command).map((c) => c.args);
  }

  /** Sends an event to the subscribed UI (as the shell's channel does, locked too). */
  emit(event: UiEvent): void {
    // As the shell's outlet: why the last session ended, for a snapshot taken while signed out.
    if (event.type === 'session' && !event.session) this.ended = event.reason;
    const shown = this.session && this.lock.locked ? this.whileLocked(event) : event;
    if (shown) this.handler?.(shown);
  }

  /**
   * What the shell's forwarder lets through to a locked page: no message, no list, no typing,
   * and of emergencies only a patient's own, without a resolution's note.
   */
  private whileLocked(event: UiEvent): UiEvent | null {
    // A change of her own unsent emergency, or a send of hers dropped, tells the lock again
    // (as `event_while_locked`); no one typing.
    const me = this.session?.user;
    if (event.type === 'message')
      return event.message.isEmergency && event.message.senderId === me?.id
        ? { type: 'lock', status: this.lockStatus() }
        : null;
    if (event.type === 'messageDiscarded')
      return event.senderId === me?.id ? { type: 'lock', status: this.lockStatus() } : null;
    if (event.type === 'conversations' || event.type === 'typing') return null;
    if (event.type !== 'emergency') return event;
    if (me?.role !== 'PATIENT' || event.emergency.patientId !== me.id) return null;
    return { ...event, emergency: { ...event.emergency, resolutionNote: null }, message: null };
  }

  private me(): User {
    if (!this.session) throw new BackendError('not_logged_in', 'Not logged in');
    return this.session.user;
  }

  /** As the core as it locks: which emergencies were open then, and which it knew at all
   * (`clinic_client::lock::Watched`). `null` when it was locked from the start (a state the
   * test set): every resolution counts as new, as for a lost state. */
  private watched: { open: Set<string>; known: Set<string> } | null = null;

  private watchEmergencies(): void {
    this.watched = {
      open: new Set(this.emergencies.filter((e) => e.state !== 'RESOLVED').map((e) => e.id)),
      known: new Set(this.emergencies.map((e) => e.id)),
    };
  }

  snapshot(): Snapshot {
    const me = this.session?.user;
    // Locked, as the shell: no list, and only a patient's own emergencies, open or resolved
    // since it locked (open then, or not known then).
    const locked = this.session !== null && this.lock.locked;
    const watched = this.watched;
    const open = this.emergencies.filter(
      (e) =>
        e.state !== 'RESOLVED' ||
        (locked && (!watched || watched.open.has(e.id) || !watched.known.has(e.id))),
    );
    return {
      session: this.session,
      ended: this.session ? null : this.ended,
      lastServer: this.session ? null : this.lastServer,
      connection: this.connection,
      settings: this.settings,
      availability: this.availability,
      conversations: this.session && !locked ? this.conversationList() : [],
      emergencies: locked ? open.filter((e) => me?.role === 'PATIENT' && e.patientId === me.id) : open,
      ringing: this.ringing,
      lock: this.session ? this.lockStatus() : null,
      clinic: this.session ? this.clinic : null,
      device: this.device,
    };
  }

  async subscribe(onEvent: (e: UiEvent) => void): Promise<Snapshot> {
    this.record('subscribe');
    this.handler = onEvent;
    if (this.session && this.profileNotPrivate)
      throw new BackendError(
        'profile_not_private',
        "The app's folder is not private: /home/demo/.local/share/clinic-messaging/left-by-another-account (another account put it there). Nothing was saved there; remove it or ask for help, then sign in again.",
      );
    if (this.session) this.announceCacheReset();
    return this.snapshot();
  }

  /** As the shell does once it has a client: told before the snapshot or login answers. */
  private announceCacheReset(): void {
    if (this.cacheReset) this.emit({ type: 'notice', code: 'cacheReset', message: this.cacheReset });
  }

  /**
   * Test hook: the server sent an `error` frame not tied to a send (those park on their
   * bubble): a refused read mark, join or typing frame, a failure while the connection is set
   * up. The shell shows it as a `notice` with the protocol's code and the server's own text.
   */
  serverError(code: string, message: string): void {
    this.emit({ type: 'notice', code, message });
  }

  /**
   * A frame the app sends without waiting for an answer: dropped unless online (the callers
   * keep what must be sent later), refused by the server when `refusal` or `refuseFrames` says.
   */
  private sendFrame(refusal: ServerRefusal | null = null): void {
    if (this.connection.state !== 'online') return;
    const refused = refusal ?? this.refuseFrames;
    if (refused) this.serverError(refused.code, refused.message);
  }

  private isMine(key: ConversationKey): boolean {
    const me = this.me().id;
    return key.patientId === me || key.doctorId === me;
  }

  async login(args: LoginArgs): Promise<Snapshot> {
    this.record('login', { ...args, password: '***' });
    const user = this.users.find((u) => u.username === args.username);
    if (!/^https?:\/\//.test(args.serverUrl))
      throw new BackendError('bad_request', 'The server address must start with http:// or https://');
    if (this.silentServers.has(args.serverUrl))
      await new Promise<never>((_, reject) => {
        this.cancelPending = () => reject(new BackendError('cancelled', 'Sign-in cancelled.'));
      });
    this.checkPairing(args);
    if (!user || args.password !== PASSWORD)
      throw new BackendError('unauthorized', 'Wrong username or password.');
    const { id, username, name, role } = user;
    this.session = { serverUrl: args.serverUrl, user: { id, username, name, role } };
    this.lastServer = args.serverUrl;
    this.ended = null;
    // As the core: a new sign-in starts a new lock (unlocked, no PIN, no wrong tries), whatever
    // the last session's lock was.
    this.lock = {
      ...this.lock,
      locked: false,
      hasPin: false,
      waitSecs: null,
      triesLeft: UNLOCKED.triesLeft,
      unsentEmergency: null,
    };
    this.pin = null;
    this.announceCacheReset();
    const snapshot = this.snapshot();
    // The clinic's settings come with the first connection (the store keeps what an event said
    // while the login's answer was on its way).
    if (this.clinic) this.emit({ type: 'clinic', clinic: this.clinic });
    return snapshot;
  }

  async cancelLogin(): Promise<void> {
    this.record('cancel_login');
    this.cancelPending?.();
    this.cancelPending = null;
  }

  /** The doctor's availability was changed on another device (the tray, the CLI). */
  availabilityFromElsewhere(availability: Availability): void {
    this.availability = availability;
    this.emit({ type: 'availability', availability });
  }

  /** Servers this fake app paired with, like the profile's pins. */
  private readonly paired = new Set<string>();
  /** Paired servers that now present another clinic CA's certificate. */
  private readonly changedCerts = new Set<string>();

  pairedServers(): string[] {
    return [...this.paired];
  }

  changedCertificates(): string[] {
    return [...this.changedCerts];
  }

  /** As if this profile had paired with `serverUrl` before. */
  pairWith(serverUrl: string): void {
    this.paired.add(serverUrl);
  }

  /** Another server (another CA) now answers at a paired address. */
  changeCertificate(serverUrl: string): void {
    this.changedCerts.add(serverUrl);
  }

  /** Pairing as the client core does it: the code once per https:// server, then the saved pin. */
  private checkPairing({ serverUrl, pin }: LoginArgs) {
    if (!serverUrl.startsWith('https://')) return;
    // The pin is kept: typing the new server's code does not replace it.
    if (this.changedCerts.has(serverUrl))
      throw new BackendError(
        'not_your_server',
        "This is not your clinic's server (its pairing code changed): nothing was sent to it. Check the server's address; if it is right, tell your clinic.",
      );
    if (pin === undefined) {
      if (this.paired.has(serverUrl)) return;
      throw new BackendError('not_paired', 'this server is not paired yet', FAKE_PAIRING_CODE);
    }
    // Paired already: another code typed is not taken (the core's `PairedWithAnother`).
    if (this.paired.has(serverUrl) && compact(pin) !== compact(FAKE_PAIRING_CODE))
      throw new BackendError(
        'not_your_server',
        'This computer is paired with this server under another pairing code, so the code entered is not taken: nothing was sent to it. If your clinic gave you a new code, its IT must first remove the old pairing on this computer.',
      );
    if (compact(pin) !== compact(FAKE_PAIRING_CODE))
      throw new BackendError(
        'not_your_server',
        "This is not your clinic's server (its pairing code is not the one you entered): nothing was sent to it. Check the address and the code on the paper from your clinic; if both are right, tell your clinic.",
      );
    this.paired.add(serverUrl);
  }

  async logout() {
    this.record('logout');
    this.session = null;
    this.ringing = [];
    // Nothing is followed any more. The fake also forgets owed read marks here; the real client
    // keeps them in its cache on a personal computer and sends them after the next sign-in, which
    // the fake does not model.
    this.joined.clear();
    this.owedReads.clear();
    this.drafts_.clear();
    this.emit({ type: 'session', session: null, reason: null });
    return { revoked: !this.unreachable };
  }

  /** The list as the client core makes it: emergencies first for doctors, then most recent, then contacts not talked to. */
  conversationList(): Conversation[] {
    const me = this.me();
    const byKey = new Map<string, LocalMessage[]>();
    for (const m of this.messages) {
      if (m.patientId !== me.id && m.doctorId !== me.id) continue;
      byKey.set(keyOf(m), [...(byKey.get(keyOf(m)) ?? []), m]);
    }
    const talked: Conversation[] = [...byKey.values()].flatMap((list) => {
      // As the core chooses: a send still pending is newest; else the newest by seq, unless a
      // send parked after a refusal came after it in this list (the order the fake heard of
      // them, as the core's cache does); an edit that moved a message in `messages` does not
      // make it the last.
      const pending = list.filter((m) => m.seq === null && m.status !== 'FAILED');
      const acked = list.filter((m) => m.seq !== null);
      const newestAcked = acked.length
        ? acked.reduce((a, b) => ((b.seq ?? 0) >= (a.seq ?? 0) ? b : a))
        : undefined;
      const parked = list.filter((m) => m.status === 'FAILED').at(-1);
      const parkedLater =
        parked && (!newestAcked || this.messages.indexOf(parked) > this.messages.indexOf(newestAcked));
      const last = pending.at(-1) ?? (parkedLater ? parked : newestAcked) ?? list[list.length - 1];
      const otherId = last.patientId === me.id ? last.doctorId : last.patientId;
      const other = this.users.find((u) => u.id === otherId);
      if (!other) return [];
      const emergency = this.emergencies.find((e) => sameKey(e, last) && e.state !== 'RESOLVED') ?? null;
      return [
        {
          patientId: last.patientId,
          doctorId: last.doctorId,
          otherParty: other,
          lastMessage: wireMessage(last),
          // A tombstone is nothing to read, as in the client's cache.
          unreadCount: list.filter((m) => m.senderId !== me.id && m.status !== 'READ' && !m.retracted).length,
          hasEmergency: !!emergency,
          emergency,
        },
      ];
    });
    const doctor = me.role === 'DOCTOR';
    for (const k of this.cares) {
      const [patientId, doctorId] = k.split('|');
      const other = this.users.find((u) => u.id === patientId);
      if (doctorId !== me.id || !other || byKey.has(k)) continue;
      talked.push({
        patientId,
        doctorId,
        otherParty: other,
        lastMessage: null,
        unreadCount: 0,
        hasEmergency: false,
        emergency: null,
      });
    }
    talked.sort((a, b) => {
      if (doctor && a.hasEmergency !== b.hasEmergency) return a.hasEmergency ? -1 : 1;
      return (b.lastMessage?.createdAt ?? '').localeCompare(a.lastMessage?.createdAt ?? '');
    });
    const seen = new Set(talked.map((c) => c.otherParty.id));
    const want = me.role === 'PATIENT' ? 'DOCTOR' : 'PATIENT';
    const fresh: Conversation[] = this.users
      .filter((u) => u.role === want && !seen.has(u.id) && me.role === 'PATIENT')
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((u) => ({
        patientId: me.id,
        doctorId: u.id,
        otherParty: u,
        lastMessage: null,
        unreadCount: 0,
        hasEmergency: false,
        emergency: null,
      }));
    return [...talked, ...fresh];
  }

  private listChanged(): void {
    if (this.session) this.emit({ type: 'conversations', conversations: this.conversationList() });
  }

  private changed(message: LocalMessage): void {
    this.emit({ type: 'message', message: { ...message } });
    this.listChanged();
  }

  /** As the core refuses reading and changing messages while locked. */
  private ensureUnlocked(): void {
    if (this.lock.locked)
      throw new BackendError('locked', 'the app is locked; unlock it with your PIN or password');
  }

  async loadMessages(args: ConversationKey & { beforeSeq?: number; limit: number }) {
    this.record('load_messages', args);
    this.ensureUnlocked();
    const list = this.messages.filter(
      (m) => sameKey(m, args) && (args.beforeSeq === undefined || (m.seq ?? Infinity) < args.beforeSeq),
    );
    return list.slice(Math.max(0, list.length - args.limit)).map((m) => ({ ...m }));
  }

  async sendMessage(args: SendMessageArgs): Promise<LocalMessage> {
    this.record('send_message', args);
    this.ensureUnlocked();
    return this.queueSend(args);
  }

  /** As `Client::raise_emergency`: a patient's press from the lock screen, no PIN asked, into
   * her newest open emergency's conversation, else the first of her list. */
  async raiseEmergency(content: string): Promise<LockStatus> {
    this.record('raise_emergency', { content });
    const me = this.me();
    if (me.role !== 'PATIENT') throw new BackendError('bad_request', 'only a patient raises an emergency');
    let text = content;
    if (this.lock.locked) {
      if (
        this.connection.state !== 'online' &&
        this.messages.some((m) => m.isEmergency && m.senderId === me.id && m.status === 'SENDING')
      )
        throw new BackendError(
          'bad_request',
          'Your emergency is already waiting to be sent: it goes out as soon as the app is connected.',
        );
      if (!content.trim()) throw new BackendError('bad_request', 'A message needs some text.');
      // As the core: cut to a few sentences, and a line for the doctors saying nobody's
      // password was asked.
      text = `${cutToBytes(content.trim(), 1000)}\n\n${LOCKED_PRESS_NOTE}`;
    } else if (!content.trim()) throw new BackendError('bad_request', 'A message needs some text.');
    const open = this.emergencies
      .filter((e) => e.state !== 'RESOLVED' && e.patientId === me.id)
      .sort((a, b) => Date.parse(a.raisedAt) - Date.parse(b.raisedAt))
      .at(-1);
    const key = open ?? this.conversationList()[0];
    if (!key) throw new BackendError('not_found', 'No doctor of the clinic is known to this app yet.');
    const press = this.queueSend({
      patientId: key.patientId,
      doctorId: key.doctorId,
      content: text,
      isEmergency: true,
    });
    // As the core tells of every send (a locked page hears it as the lock again).
    this.emit({ type: 'message', message: { ...press } });
    return this.lockStatus();
  }

  private queueSend(args: SendMessageArgs): LocalMessage {
    const me = this.me();
    if (args.isEmergency && args.attachmentPath)
      throw new BackendError(
        'bad_request',
        'an emergency is sent as text at once; send the file as its own message',
      );
    // As the core: an emergency goes without characters that disguise text; any other message
    // is refused with them, and one without a file is refused when nothing of it shows.
    const content = args.isEmergency
      ? Array.from(args.content)
          .filter((ch) => !isControl(ch.codePointAt(0) ?? 0) && !isReordering(ch.codePointAt(0) ?? 0))
          .join('')
      : args.content;
    if (!args.attachmentPath && isBlank(content))
      throw new BackendError('bad_request', 'A message needs some text.');
    if (codes(content).some(isControl))
      throw new BackendError('bad_request', 'The message contains control characters (such as NUL).');
    if (codes(content).some(isReordering))
      throw new BackendError(
        'bad_request',
        'The message contains bidirectional override characters (U+202A-U+202E, U+2066-U+2069).',
      );
    args = { ...args, content };
    const now = new Date().toISOString();
    const file = args.attachmentPath ? describePath(args.attachmentPath) : null;
    const msg: LocalMessage = {
      id: null,
      seq: null,
      clientId: `fake-${this.nextId++}`,
      patientId: args.patientId,
      doctorId: args.doctorId,
      senderId: me.id,
      content: args.content,
      messageType: args.isEmergency ? 'EMERGENCY' : file ? 'FILE' : 'REGULAR',
      status: 'SENDING',
      isEmergency: args.isEmergency,
      fileUrl: null,
      fileName: file?.name ?? null,
      fileSize: file?.size ?? null,
      fileType: file?.mimeType ?? null,
      localFilePath: args.attachmentPath ?? null,
      retracted: null,
      edited: null,
      writtenAt: null,
      pendingChange: null,
      changeNotice: null,
      onItsWay: false,
      resolvedAt: null,
      deliveredAt: null,
      readAt: null,
      error: null,
      errorCode: null,
      createdAt: now,
      updatedAt: now,
    };
    this.messages.push(msg);
    const sent = { ...msg };
    // Written by the queue after the send returned; one with a file once its upload is done
    // (here: when it is acknowledged).
    if (this.connection.state === 'online' && !file) setTimeout(() => this.markWritten(msg), 0);
    this.setQueued();
    this.listChanged();
    this.scheduleAck();
    return sent;
  }

  private setQueued(): void {
    const queued = this.messages.filter((m) => m.status === 'SENDING').length;
    const failed = this.messages.filter((m) => m.status === 'FAILED').length;
    this.setConnection({ ...this.connection, queued, failed });
  }

  private scheduleAck(): void {
    const delay = this.opts.ackDelayMs;
    if (delay === null || delay === undefined || this.connection.state !== 'online') return;
    setTimeout(() => this.ackAll(), delay);
  }

  /** Acks every SENDING message (as the server would once connected). */
  ackAll(): void {
    for (const m of this.messages.filter((x) => x.status === 'SENDING')) this.ack(m.clientId);
    this.settleChanges();
  }

  /**
   * Acks one send: id, seq, SENT, the server's time, and when it was written if it waited
   * more than a minute; an emergency message also raises its emergency.
   */
  ack(clientId: string): void {
    const idx = this.messages.findIndex((m) => m.clientId === clientId && m.id === null);
    if (idx < 0) return;
    const seq = this.nextSeq++;
    const written = this.messages[idx].createdAt;
    const now = new Date();
    const waited = now.getTime() - new Date(written).getTime();
    const m: LocalMessage = {
      ...this.messages[idx],
      id: `m-${seq}`,
      seq,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      writtenAt: waited > WRITTEN_APART_MS ? written : null,
      status: 'SENT',
      error: null,
      errorCode: null,
      onItsWay: false,
    };
    this.messages.splice(idx, 1);
    this.messages.push(m);
    this.setQueued();
    queueMicrotask(() => this.endIfTriesRanOut());
    this.changed(m);
    if (m.isEmergency && m.id) {
      // One open emergency per patient, as the server keeps: a press joins one waiting, and
      // reopens one a doctor took (waiting again since now).
      const open = this.emergencies.find((e) => e.patientId === m.patientId && e.state !== 'RESOLVED');
      if (open?.state === 'RAISED') return;
      if (open) {
        this.upsertEmergency({
          ...open,
          state: 'RAISED',
          reopenedAt: m.createdAt,
          acknowledgedBy: null,
          acknowledgedByName: null,
          acknowledgedAt: null,
        });
        return;
      }
      const sender = this.users.find((u) => u.id === m.senderId);
      this.upsertEmergency({
        id: `e-${seq}`,
        messageId: m.id,
        patientId: m.patientId,
        patientName: sender?.name ?? 'Patient',
        doctorId: m.doctorId,
        state: 'RAISED',
        raisedAt: m.createdAt,
        ...(m.writtenAt ? { writtenAt: m.writtenAt } : {}),
        escalatedAt: null,
        alertedAt: null,
        alertedDoctors: 0,
        acknowledgedBy: null,
        acknowledgedByName: null,
        acknowledgedAt: null,
        resolvedBy: null,
        resolvedAt: null,
        resolutionNote: null,
      });
    }
  }

  /** Parks a pending send (as the core does after its attempts, or on a permanent refusal). */
  fail(clientId: string, error: string, code = 'internal'): void {
    const m = this.messages.find((x) => x.clientId === clientId && x.id === null);
    if (!m) return;
    // Parked, it keeps whether it may be on the server (the core's count of writes stays).
    Object.assign(m, { status: 'FAILED', error, errorCode: code });
    this.setQueued();
    // As the shell: a refused press ends a session whose tries ran out, as a delivered one.
    queueMicrotask(() => this.endIfTriesRanOut());
    this.changed(m);
  }

  /** Another user's message arriving live. */
  receive(msg: LocalMessage): void {
    this.messages.push(msg);
    this.changed(msg);
  }

  setConnection(partial: Partial<ConnectionStatus>): void {
    const wasOnline = this.connection.state === 'online';
    this.connection = status({ ...this.connection, ...partial });
    this.emit({ type: 'connection', status: this.connection });
    if (!wasOnline && this.connection.state === 'online') {
      // What the core owes a new connection: the join, then one read mark per conversation.
      this.joined.forEach(() => this.sendFrame());
      this.owedReads.forEach(() => this.sendFrame());
      this.owedReads.clear();
      // The queue is written to the new connection.
      for (const m of this.messages) if (m.status === 'SENDING') this.markWritten(m);
      this.scheduleAck();
    }
  }

  /** An emergency raised or changed on the server; a doctor's device rings while it is RAISED. */
  /** An emergency changed; `message` is what an alert carries (a doctor's device). */
  upsertEmergency(
    e: Emergency,
    ring = this.session?.user.role === 'DOCTOR',
    message: LocalMessage | null = null,
  ): void {
    this.emergencies = [...this.emergencies.filter((x) => x.id !== e.id), e];
    this.emit({ type: 'emergency', emergency: e, message });
    const ringing =
      e.state === 'RAISED' && ring
        ? [...new Set([...this.ringing, e.id])]
        : this.ringing.filter((id) => id !== e.id);
    if (ringing.length !== this.ringing.length) {
      this.ringing = ringing;
      this.emit({ type: 'alarm', alerting: ringing.length > 0, ringing });
    }
    this.listChanged();
  }

  async searchMessages(args: SearchArgs): Promise<Found> {
    this.record('search_messages', args);
    const me = this.me();
    // A test double of the server's search: every typed word is a prefix of some word of the
    // text (case and accents folded), newest first, ten at a time. Filters are not modelled.
    const fold = (t: string) => t.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
    const words = fold(args.query)
      .split(/[^\p{L}\p{N}]+/u)
      .filter(Boolean);
    if (words.length === 0) throw new BackendError('bad_request', 'Type something to search for.');
    // Offline, or while the server cannot search, the core searches this computer's cache:
    // here the same messages, labelled so.
    const serverNote = this.connection.state === 'offline' ? null : this.searchUnavailable;
    const offline = this.connection.state === 'offline' || serverNote !== null;
    const hits = this.messages
      .filter((m) => m.id !== null && m.seq !== null && (m.patientId === me.id || m.doctorId === me.id))
      .filter(
        (m) => !args.patientId || sameKey(m, { patientId: args.patientId, doctorId: args.doctorId ?? '' }),
      )
      .filter((m) => (args.cursor === undefined ? true : (m.seq ?? 0) < Number(args.cursor)))
      .filter((m) => {
        const have = fold(m.content).split(/[^\p{L}\p{N}]+/u);
        return words.every((w) => have.some((h) => h.startsWith(w)));
      })
      .sort((a, b) => (b.seq ?? 0) - (a.seq ?? 0));
    const page = hits.slice(0, 10);
    return {
      results: page.map((m) => {
        const highlights = [...fold(m.content).matchAll(/[\p{L}\p{N}]+/gu)]
          .filter((t) => words.some((w) => t[0].startsWith(w)))
          .map((t) => ({ start: t.index, end: t.index + t[0].length }));
        return { message: toMessage(m), snippet: { text: m.content, highlights } };
      }),
      nextCursor: hits.length > page.length ? String(page[page.length - 1]?.seq) : null,
      offline,
      serverNote,
    };
  }

  async retryMessage(clientId: string) {
    this.record('retry_message', { clientId });
    this.ensureUnlocked();
    const m = this.messages.find((x) => x.clientId === clientId && x.status === 'FAILED');
    if (!m) throw new BackendError('not_found', `No failed send ${clientId}`);
    Object.assign(m, { status: 'SENDING', error: null, errorCode: null });
    if (this.connection.state === 'online') this.markWritten(m);
    this.setQueued();
    this.changed(m);
    this.scheduleAck();
    return { ...m };
  }

  /** A send written to a connection, as the core marks it: on its way, no longer discardable. */
  private markWritten(m: LocalMessage): void {
    if (m.onItsWay || m.status !== 'SENDING' || m.id !== null || !this.messages.includes(m)) return;
    m.onItsWay = true;
    this.changed(m);
  }

  async discardMessage(clientId: string) {
    this.record('discard_message', { clientId });
    this.ensureUnlocked();
    const m = this.messages.find(
      (x) => x.clientId === clientId && x.id === null && (x.status === 'FAILED' || x.status === 'SENDING'),
    );
    if (!m)
      throw new BackendError(
        'not_found',
        `No unsent message ${clientId} (it was sent or discarded already).`,
      );
    if (m.status === 'SENDING' && m.onItsWay)
      throw new BackendError(
        'too_late',
        'This message is already on its way to the clinic and can no longer be stopped. Once it has arrived you can take it back from its menu.',
      );
    this.messages = this.messages.filter((x) => x !== m);
    this.setQueued();
    this.emit({
      type: 'messageDiscarded',
      clientId,
      senderId: m.senderId,
      patientId: m.patientId,
      doctorId: m.doctorId,
    });
    this.listChanged();
  }

  // ---- unsend / edit, as the client core does them: checked, queued, shown, then settled ----

  /** When set, the fake server refuses every change with this sentence (as too late). */
  refuseChanges: string | null = null;
  /** Earlier texts of edited messages, by message id (the server's version list). */
  private readonly versions = new Map<string, MessageVersion[]>();

  private ownChangeable(messageId: string, what: string): LocalMessage {
    const m = this.messages.find((x) => x.id === messageId);
    if (!m) throw new BackendError('not_found', `Message ${messageId}.`);
    if (m.senderId !== this.me().id)
      throw new BackendError('bad_request', `Only the person who sent a message can ${what} it.`);
    if (m.isEmergency)
      throw new BackendError(
        'bad_request',
        `An emergency message can't be ${what === 'edit' ? 'edited' : 'unsent'}; resolve it with a note instead.`,
      );
    return m;
  }

  private tooLate(m: LocalMessage, secs: number | undefined, what: string): void {
    if (secs === undefined) return;
    const ends = new Date(m.createdAt).getTime() + secs * 1000;
    if (Date.now() >= ends)
      throw new BackendError(
        'bad_request',
        `Too late to ${what}: that ended at ${new Date(ends).toISOString()}.`,
      );
  }

  async unsendMessage(args: UnsendArgs) {
    this.record('unsend_message', { ...args });
    const role = this.me().role;
    const verb = role === 'DOCTOR' ? 'retract' : 'unsend';
    if (args.misdirected && !args.reason?.trim())
      throw new BackendError(
        'bad_request',
        'Say why: a message sent to the wrong person is retracted with a reason.',
      );
    const m = this.ownChangeable(args.messageId, 'unsend');
    if (m.retracted) return { ...m };
    const w = this.clinic?.messageWindows;
    if (!args.misdirected) this.tooLate(m, role === 'DOCTOR' ? w?.retractSecs : w?.unsendSecs, verb);
    this.queueChange(m, { kind: 'retract', clientId: `fake-change-${this.nextId++}`, content: null });
    return { ...m };
  }

  async editMessage(args: EditArgs) {
    this.record('edit_message', { ...args });
    if (!args.content.trim())
      throw new BackendError(
        'bad_request',
        'An edit cannot leave the message empty; to remove it, unsend it.',
      );
    const m = this.ownChangeable(args.messageId, 'edit');
    if (m.retracted)
      throw new BackendError('bad_request', 'This message was unsent; there is nothing left to edit.');
    this.tooLate(m, this.clinic?.messageWindows?.editSecs, 'edit');
    this.queueChange(m, { kind: 'edit', clientId: `fake-change-${this.nextId++}`, content: args.content });
    return { ...m };
  }

  async messageVersions(messageId: string): Promise<MessageVersions> {
    this.record('message_versions', { messageId });
    const m = this.messages.find((x) => x.id === messageId);
    if (!m) throw new BackendError('not_found', 'There is no such message.');
    if (this.connection.state !== 'online')
      throw new BackendError('network', 'Cannot reach the clinic server.');
    if (m.retracted) return { messageId, versions: [] };
    const current = { version: versionOf(m), content: m.content, at: m.edited?.at ?? m.createdAt };
    return { messageId, versions: [...(this.versions.get(messageId) ?? []), current] };
  }

  private queueChange(m: LocalMessage, change: PendingChange): void {
    Object.assign(m, { pendingChange: change, changeNotice: null });
    this.changed(m);
    this.scheduleAck();
  }

  /**
   * The server keeps answering the pending changes "not now" (as many times as a send is tried
   * before it is parked): they stay pending, and say why they wait, as the core does.
   */
  delayChanges(why: string): void {
    for (const m of this.messages.filter((x) => x.pendingChange)) {
      const change = m.pendingChange;
      if (!change) continue;
      const verb = change.kind === 'edit' ? 'edit' : this.me().role === 'DOCTOR' ? 'retract' : 'unsend';
      Object.assign(m, { changeNotice: `Still trying to ${verb}: ${why}` });
      this.changed(m);
    }
  }

  /** The fake server answers every queued change (as the core does after catch-up). */
  settleChanges(): void {
    for (const m of this.messages.filter((x) => x.pendingChange)) {
      const change = m.pendingChange;
      if (!change) continue;
      const now = new Date().toISOString();
      if (this.refuseChanges) {
        const verb = change.kind === 'edit' ? 'edit' : this.me().role === 'DOCTOR' ? 'retract' : 'unsend';
        Object.assign(m, {
          pendingChange: null,
          changeNotice: `Couldn't ${verb}: too late. ${this.refuseChanges}`,
        });
      } else if (change.kind === 'retract') {
        Object.assign(m, {
          pendingChange: null,
          changeNotice: null,
          content: '',
          fileUrl: null,
          fileName: null,
          fileSize: null,
          fileType: null,
          localFilePath: null,
          retracted: { by: m.senderId, at: now },
          updatedAt: now,
        });
      } else {
        const version = versionOf(m);
        if (m.id) {
          const earlier = this.versions.get(m.id) ?? [];
          earlier.push({ version, content: m.content, at: m.edited?.at ?? m.createdAt });
          this.versions.set(m.id, earlier);
        }
        Object.assign(m, {
          pendingChange: null,
          changeNotice: null,
          content: change.content ?? m.content,
          edited: { at: now, version: version + 1 },
          updatedAt: now,
        });
      }
      this.changed(m);
    }
  }

  /** The other side takes back or edits its own message (as `message:updated` would bring). */
  peerChanged(messageId: string, change: { retract: true } | { content: string }): void {
    const m = this.messages.find((x) => x.id === messageId);
    if (!m) return;
    Object.assign(m, {
      pendingChange: {
        kind: 'content' in change ? 'edit' : 'retract',
        clientId: 'peer',
        content: 'content' in change ? change.content : null,
      },
    });
    this.settleChanges();
  }

  async markRead(args: MarkReadArgs) {
    this.record('mark_read', { ...args });
    const { messageId, ...key } = args;
    const seen = this.messages.find((m) => m.id === messageId && sameKey(m, key));
    if (!seen) throw new BackendError('not_found', `Not found: message ${messageId} in this conversation`);
    const me = this.me();
    // Another doctor's conversation (opened from an emergency) is theirs to read: nothing is
    // marked, and no mark goes to the server (which would refuse it).
    if (!this.isMine(key)) return;
    // "Read up to": the message seen and everything before it to me; later ones stay unread.
    let changed = false;
    for (const m of this.messages)
      if (
        sameKey(m, key) &&
        m.senderId !== me.id &&
        m.id &&
        m.status !== 'READ' &&
        (m.seq ?? 0) <= (seen.seq ?? 0)
      ) {
        m.status = 'READ';
        changed = true;
        this.emit({ type: 'message', message: { ...m } });
      }
    if (!changed) return;
    this.listChanged();
    // The "read up to" mark: now, or owed until the connection is back.
    if (this.connection.state === 'online') this.sendFrame();
    else this.owedReads.add(keyOf(key));
  }

  async viewConversation(key: ConversationKey) {
    this.record('view_conversation', { ...key });
    // Every other followed conversation is left (a leave is never refused).
    for (const [k, other] of this.joined) if (!sameKey(other, key)) this.joined.delete(k);
    if (this.joined.has(keyOf(key))) return;
    this.join(key);
  }

  /** Follows a conversation's typing (only a participant joins; the server refuses others). */
  private join(key: ConversationKey): void {
    if (!this.isMine(key)) return;
    this.joined.set(keyOf(key), { patientId: key.patientId, doctorId: key.doctorId });
    this.sendFrame();
  }

  async resolvedEmergencies(key: ConversationKey): Promise<Emergency[]> {
    this.record('resolved_emergencies', { ...key });
    this.ensureUnlocked();
    return this.emergencies
      .filter((e) => e.patientId === key.patientId && e.state === 'RESOLVED')
      .sort((a, b) => (a.resolvedAt ?? '').localeCompare(b.resolvedAt ?? ''))
      .map((e) => ({ ...e }));
  }

  async purgedAt(key: ConversationKey): Promise<string | null> {
    this.record('purged_at', { ...key });
    return this.purges.get(keyOf(key)) ?? null;
  }

  /**
   * Test hook: the clinic's retention removed a conversation's messages up to `upToSeq` and
   * these emergencies (as the client core drops them from its cache and tells the UI).
   */
  purge(key: ConversationKey, upToSeq: number, purgedAt: string, emergencyIds: EmergencyId[] = []): void {
    this.messages = this.messages.filter((m) => !sameKey(m, key) || m.seq == null || m.seq > upToSeq);
    const gone = new Set(emergencyIds);
    this.emergencies = this.emergencies.filter((e) => !gone.has(e.id));
    this.ringing = this.ringing.filter((id) => !gone.has(id));
    this.purges.set(keyOf(key), purgedAt);
    this.emit({ type: 'historyPurged', ...key, upToSeq, purgedAt, emergencyIds });
    this.listChanged();
  }

  async setTyping(key: ConversationKey, typing: boolean) {
    this.record('set_typing', { ...key, typing });
    if (typing) this.join(key);
    // Sent for any conversation (dropped offline); the server refuses one the user is not in.
    this.sendFrame(this.isMine(key) ? null : NOT_A_PARTICIPANT);
  }

  private confirm(id: string, patch: (e: Emergency) => Partial<Emergency>): Emergency {
    if (this.unreachable)
      throw new BackendError(
        'network',
        'The clinic server could not be reached, so the emergency is not acknowledged and nobody was told. The alarm keeps ringing; try again.',
      );
    const e = this.emergencies.find((x) => x.id === id);
    if (!e) throw new BackendError('not_found', 'No such emergency');
    const next = { ...e, ...patch(e) };
    // Taking a patient's emergency opens this doctor's conversation with them (the care relation).
    this.cares.add(keyOf({ patientId: e.patientId, doctorId: this.me().id }));
    this.upsertEmergency(next, false);
    return next;
  }

  async acknowledgeEmergency(emergencyId: string) {
    this.record('acknowledge_emergency', { emergencyId });
    if (this.conflictOnAcknowledge) throw new BackendError('conflict', this.conflictOnAcknowledge);
    const me = this.me();
    // Taken already by this doctor (another device, an answer lost): done, as the core says.
    const mine = this.emergencies.find((x) => x.id === emergencyId);
    if (mine?.state === 'ACKNOWLEDGED' && mine.acknowledgedBy === me.id) return { ...mine };
    return this.confirm(emergencyId, (e) => {
      if (e.state !== 'RAISED')
        throw new BackendError('conflict', `${e.acknowledgedByName ?? 'Another doctor'} already took it.`);
      return {
        state: 'ACKNOWLEDGED',
        acknowledgedBy: me.id,
        acknowledgedByName: me.name,
        acknowledgedAt: new Date().toISOString(),
      };
    });
  }

  async resolveEmergency(emergencyId: string, note: string) {
    this.record('resolve_emergency', { emergencyId, note });
    const me = this.me();
    const resolved = this.confirm(emergencyId, (e) => {
      if (e.state === 'RESOLVED')
        throw new BackendError(
          'conflict',
          e.resolvedBy === me.id
            ? 'You already resolved it.'
            : e.resolvedByName
              ? `${e.resolvedByName} already resolved it.`
              : 'This emergency is already resolved.',
        );
      return {
        state: 'RESOLVED',
        acknowledgedBy: e.acknowledgedBy ?? me.id,
        acknowledgedByName: e.acknowledgedByName ?? me.name,
        resolvedBy: me.id,
        resolvedByName: me.name,
        resolvedAt: new Date().toISOString(),
        resolutionNote: note || null,
      };
    });
    return resolved;
  }

  async findPatients(query: string): Promise<Contact[]> {
    this.record('find_patients', { query });
    if (this.me().role !== 'DOCTOR')
      throw new BackendError('bad_request', "only doctors look up the clinic's patients");
    const q = query.trim().toLowerCase();
    return this.users
      .filter((u) => u.role === 'PATIENT')
      .filter((u) => !q || u.name.toLowerCase().includes(q) || u.username.toLowerCase().includes(q))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async startConversation(patientId: UserId): Promise<Conversation> {
    this.record('start_conversation', { patientId });
    const me = this.me();
    if (me.role !== 'DOCTOR')
      throw new BackendError('bad_request', "only doctors look up the clinic's patients");
    if (!this.users.some((u) => u.id === patientId && u.role === 'PATIENT'))
      throw new BackendError('not_found', 'no such patient');
    this.cares.add(keyOf({ patientId, doctorId: me.id }));
    this.listChanged();
    const found = this.conversationList().find((c) => c.patientId === patientId && c.doctorId === me.id);
    if (!found) throw new BackendError('internal', 'the conversation vanished');
    return found;
  }

  async silenceAlarm() {
    this.record('silence_alarm');
    this.ringing = [];
    this.emit({ type: 'alarm', alerting: false, ringing: [] });
  }

  async setAvailability(availability: Availability) {
    this.record('set_availability', { availability });
    if (this.me().role !== 'DOCTOR')
      throw new BackendError('bad_request', 'only doctors set their availability');
    if (this.unreachable)
      throw new BackendError(
        'network',
        'The clinic server could not be reached; your availability is unchanged.',
      );
    this.availability = availability;
    this.emit({ type: 'availability', availability });
    return availability;
  }

  async setSettings(settings: Settings) {
    this.record('set_settings', { settings });
    this.settings = settings;
    return settings;
  }

  async userActive() {
    // Not recorded: it comes with every few seconds of input.
  }

  /**
   * The lock as the shell tells it: while locked, with the user's newest emergency not sent yet
   * (without its text), as `Client::lock_status`.
   */
  lockStatus(): LockStatus {
    const me = this.session?.user.id;
    const unsent = this.lock.locked
      ? this.messages
          .filter((m) => m.isEmergency && m.senderId === me && m.id === null)
          .reduce<LocalMessage | null>(
            (newest, m) => (!newest || Date.parse(m.createdAt) > Date.parse(newest.createdAt) ? m : newest),
            null,
          )
      : null;
    const waitMs = this.lock.locked && this.waitUntil !== null ? this.waitUntil - Date.now() : 0;
    const used = UNLOCKED.triesLeft - this.lock.triesLeft;
    return {
      ...this.lock,
      waitSecs: waitMs > 0 ? Math.ceil(waitMs / 1000) : null,
      unsentEmergency: unsent && { status: unsent.status, createdAt: unsent.createdAt },
      logsOutWhen: this.lock.locked && this.lock.triesLeft === 0 ? this.logsOutWhen(unsent) : null,
      triesSoFar: this.lock.locked && used > 0 && this.lock.triesLeft > 0 ? this.triesSoFar(used) : null,
    };
  }

  /** As the core's `tries_so_far`, for the plain case (no emergency or messages waiting). */
  private triesSoFar(used: number): string {
    const left = this.lock.triesLeft;
    return `${used} wrong ${used === 1 ? 'try' : 'tries'} to unlock so far. ${left} ${left === 1 ? 'try' : 'tries'} left before you are logged out.`;
  }

  /** As the core's lock: after the 3rd wrong try each one waits, 30 s doubling. */
  private waitUntil: number | null = null;

  /** For tests: the wait after the wrong tries has passed (told, as the core tells a lock). */
  waitsPass(): void {
    this.waitUntil = null;
    if (this.session) this.setLock(this.lock);
  }

  /** As `lock::sentences::logout_pending`: what the logout after the wrong tries waits for. */
  private logsOutWhen(unsent: LocalMessage | null): string {
    const noMore = 'Too many wrong tries to unlock: no more are taken.';
    if (unsent?.status === 'SENDING')
      return `${noMore} This app logs out as soon as the emergency has been sent (or refused by the clinic's server).`;
    const me = this.session?.user.id;
    const waiting =
      this.lock.device === 'shared'
        ? this.messages.filter((m) => m.senderId === me && m.status === 'SENDING').length
        : 0;
    if (waiting === 0) return `${noMore} This app logs out now.`;
    const what =
      waiting === 1 ? '1 message waiting to be sent has' : `${waiting} messages waiting to be sent have`;
    return `${noMore} This app logs out as soon as the ${what} gone (or been refused by the clinic's server), or after 12 hours without: on this shared computer, logging out deletes what has not gone.`;
  }

  /** Whether an emergency of the user waits to be sent (not one parked), as the core asks. */
  private emergencyWaiting(): boolean {
    const me = this.session?.user.id;
    return this.messages.some((m) => m.isEmergency && m.senderId === me && m.status === 'SENDING');
  }

  /** As the core: a logout now would lose a press, or on a shared computer any message. */
  private logoutWouldLose(): boolean {
    const me = this.session?.user.id;
    const sending = (m: LocalMessage) => m.senderId === me && m.status === 'SENDING';
    return this.emergencyWaiting() || (this.lock.device === 'shared' && this.messages.some(sending));
  }

  /** As the shell after the wrong tries ran out: the session ends once nothing it would lose waits. */
  private endIfTriesRanOut(): void {
    if (!this.session || !this.lock.locked || this.lock.triesLeft > 0 || this.logoutWouldLose()) return;
    // As `lock::logged_out_after_tries`: what became of a press (none waited: messages went).
    const refused = this.lockStatus().unsentEmergency?.status === 'FAILED';
    const fate =
      this.lock.device === 'shared'
        ? "was deleted with this computer's messages"
        : 'was refused: after signing in, open it and press Retry';
    const call = this.clinic?.emergencyPhone ?? 'your local emergency number';
    const reason = !this.pressedWhenTriesRanOut
      ? 'Too many wrong tries to unlock: you were logged out.'
      : refused
        ? `Too many wrong tries to unlock: you were logged out. Your emergency had not reached the clinic and ${fate}: if you need help now, call ${call}.`
        : 'Too many wrong tries to unlock: you were logged out once your emergency had reached the clinic.';
    this.session = null;
    this.lock = { ...UNLOCKED };
    this.waitUntil = null;
    this.pin = null;
    this.emit({ type: 'session', session: null, reason });
  }

  /** The lock changed (as the shell says it with a `lock` event). */
  setLock(lock: LockStatus): LockStatus {
    if (lock.locked && !this.lock.locked) this.watchEmergencies();
    if (!lock.locked) this.watched = null;
    this.lock = { ...lock, unsentEmergency: null };
    const status = this.lockStatus();
    this.emit({ type: 'lock', status });
    return status;
  }

  async lockNow(): Promise<LockStatus> {
    this.record('lock_now');
    return this.setLock({ ...this.lock, locked: true });
  }

  async saveDraft(key: string, text: string): Promise<void> {
    this.record('save_draft', { key, text });
    this.ensureUnlocked();
    if (key === '' || byteLength(key) > MAX_DRAFT_KEY_BYTES)
      throw new BackendError(
        'bad_request',
        `invalid input: a draft's key must have 1 to ${MAX_DRAFT_KEY_BYTES} bytes`,
      );
    if (byteLength(text) > MAX_DRAFT_BYTES)
      throw new BackendError('bad_request', 'invalid input: a draft is kept up to 64 KiB');
    this.keepDraft(key, text);
  }

  async keepDrafts(drafts: Record<string, string>): Promise<void> {
    this.record('keep_drafts', { drafts });
    // As the core: a key past its bound left out; a text past its bound or blank forgets.
    for (const [key, text] of Object.entries(drafts))
      if (key !== '' && byteLength(key) <= MAX_DRAFT_KEY_BYTES)
        this.keepDraft(key, byteLength(text) <= MAX_DRAFT_BYTES ? text : '');
  }

  /** As the cache: blank forgets, the newest saved last, past 64 the oldest go. */
  private keepDraft(key: string, text: string): void {
    this.drafts_.delete(key);
    if (text.trim() !== '') this.drafts_.set(key, text);
    while (this.drafts_.size > MAX_DRAFTS) this.drafts_.delete(this.drafts_.keys().next().value as string);
  }

  async drafts(): Promise<Record<string, string>> {
    this.record('drafts');
    this.ensureUnlocked();
    return Object.fromEntries(this.drafts_);
  }

  async unlock(secret: string): Promise<LockStatus> {
    this.record('unlock', { secret: '***' });
    if (!this.lock.locked) return this.lockStatus();
    const waiting = this.lockStatus().waitSecs;
    if (this.lock.triesLeft > 0 && waiting !== null) {
      throw new BackendError('wait', `Wait ${waiting} seconds before the next try.`);
    }
    if (secret === PASSWORD || (this.pin !== null && secret === this.pin)) {
      this.waitUntil = null;
      const status = this.setLock({ ...this.lock, locked: false, triesLeft: UNLOCKED.triesLeft });
      // As the shell does: the page hears it unlocked, and gets the snapshot a moment later.
      queueMicrotask(() => this.emit({ type: 'snapshot', snapshot: this.snapshot() }));
      return status;
    }
    const triesLeft = Math.max(this.lock.triesLeft - 1, 0);
    if (triesLeft === 0 && this.logoutWouldLose()) {
      // As the core: no more tries, and the session ends once her press (or a shared
      // computer's messages) has gone.
      this.setLock({ ...this.lock, triesLeft });
      this.pressedWhenTriesRanOut = this.emergencyWaiting();
      throw new BackendError('logout_pending', this.lockStatus().logsOutWhen ?? '');
    }
    if (triesLeft === 0) {
      const reason = 'Too many wrong tries to unlock: you were logged out.';
      this.session = null;
      this.lock = { ...UNLOCKED };
      this.waitUntil = null;
      this.pin = null;
      // As the shell: the page hears the session end with its reason, and the command fails.
      this.emit({ type: 'session', session: null, reason });
      throw new BackendError('logged_out', reason);
    }
    const failures = UNLOCKED.triesLeft - triesLeft;
    this.waitUntil = failures >= 3 ? Date.now() + 30_000 * 2 ** (failures - 3) : null;
    this.setLock({ ...this.lock, triesLeft });
    throw new BackendError(
      'wrong_secret',
      `${this.pin === null ? 'Wrong password.' : 'Wrong PIN or password.'} ${triesLeft} tries left before you are logged out.`,
    );
  }

  async setPin(pin: string): Promise<LockStatus> {
    this.record('set_pin', { pin: '***' });
    if (!/^\d{4,8}$/.test(pin)) throw new BackendError('bad_request', 'A PIN is 4 to 8 digits.');
    if (/^(\d)\1+$/.test(pin) || '0123456789'.includes(pin) || '9876543210'.includes(pin))
      throw new BackendError('bad_request', 'This PIN is too easy to guess; pick another.');
    this.pin = pin;
    return this.setLock({ ...this.lock, hasPin: true });
  }

  async setLockPolicy(device: Device, idleMinutes: number | null): Promise<LockStatus> {
    this.record('set_lock_policy', { device, idleMinutes });
    const longest = device === 'shared' ? this.lock.sharedLongestSecs : this.lock.personalLongestSecs;
    const chosen = idleMinutes === null ? longest : Math.min(idleMinutes * 60, longest);
    return this.setLock({ ...this.lock, device, idleLimitSecs: chosen });
  }

  async sendTestAlert(): Promise<DeviceCheck> {
    this.record('send_test_alert');
    // The fake desktop: everything works, nothing held back, a tray.
    this.device = { sound: 'works', notifications: 'works', notificationsSuppressed: 'no', trayHost: 'yes' };
    this.emit({ type: 'device', device: this.device });
    return this.device;
  }

  /** What the next pick finds wrong with the chosen file, as the shell's `describe` would. */
  pickRefusal: BackendError | null = null;

  /** While set, a pick waits for it (a file dialog left open). */
  pickHeld: Promise<void> | null = null;

  async pickFile(): Promise<PickedFile | null> {
    this.record('pick_file');
    if (this.pickHeld) await this.pickHeld;
    const refused = this.pickRefusal;
    this.pickRefusal = null;
    if (refused) throw refused;
    return describePath('/home/demo/Documents/blood-test-results.pdf');
  }

  /** A message by its sender's `clientId`, as the shell finds one (a `clientId` is unique only
   * per sender). */
  private bySender(senderId: string, clientId: string): LocalMessage | undefined {
    return this.messages.find((x) => x.senderId === senderId && x.clientId === clientId);
  }

  async attachmentPreview(senderId: string, clientId: string) {
    this.record('attachment_preview', { senderId, clientId });
    const m = this.bySender(senderId, clientId);
    if (!m?.fileName || fileKind(m.fileName, m.fileType) !== 'image') return null;
    return demoImage(m.fileName);
  }

  async openLink(url: string) {
    this.record('open_link', { url });
    if (!isOpenableLink(url))
      throw new BackendError('bad_request', 'only web (http, https) and e-mail (mailto) links are opened');
  }

  async openAttachment(senderId: string, clientId: string) {
    this.record('open_attachment', { senderId, clientId });
    const m = this.bySender(senderId, clientId);
    if (!m) throw new BackendError('not_found', `Message ${clientId}.`);
    if (!m.fileName) throw new BackendError('not_found', 'this message has no attachment');
  }

  onFileDrop(handler: (e: FileDropEvent) => void): Unlisten {
    this.dropHandlers.add(handler);
    return () => this.dropHandlers.delete(handler);
  }

  /** Simulates the window's native drag-and-drop. */
  drop(e: FileDropEvent): void {
    for (const h of this.dropHandlers) h(e);
  }
}

/** The wire record the conversation list carries: a message without this device's send state. */
function wireMessage(m: LocalMessage): Message {
  const {
    error: _error,
    errorCode: _errorCode,
    localFilePath: _path,
    pendingChange: _pending,
    changeNotice: _notice,
    onItsWay: _onItsWay,
    retracted,
    edited,
    writtenAt,
    ...wire
  } = m;
  return {
    ...wire,
    id: m.id ?? '',
    seq: m.seq ?? 0,
    ...(retracted ? { retracted } : {}),
    ...(edited ? { edited } : {}),
    ...(writtenAt ? { writtenAt } : {}),
  };
}

const MIME: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  pdf: 'application/pdf',
  txt: 'text/plain',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
};

/** What the shell's describe_file would say about a path (sizes are made up). */
export function describePath(path: string): PickedFile {
  const name = path.split(/[\\/]/).pop() ?? path;
  const ext = name.split('.').pop()?.toLowerCase() ?? '';
  return {
    path,
    name,
    size: 180_000 + name.length * 1000,
    mimeType: MIME[ext] ?? 'application/octet-stream',
  };
}

/** A small generated picture, so image previews have something to show. */
function demoImage(label: string): string {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160"><rect width="240" height="160" fill="#cbd5e1"/><circle cx="120" cy="70" r="34" fill="#64748b"/><text x="120" y="140" font-family="sans-serif" font-size="14" text-anchor="middle" fill="#1e293b">${label.replace(/[<&>]/g, '')}</text></svg>`;
  return `data:image/svg+xml;utf8,${encodeURIComponent(svg)}`;
}

/** A stored message as the server sends it (the local-only fields dropped). */
function toMessage(m: LocalMessage): Message {
  return {
    id: m.id ?? '',
    seq: m.seq ?? 0,
    clientId: m.clientId,
    patientId: m.patientId,
    doctorId: m.doctorId,
    senderId: m.senderId,
    content: m.content,
    messageType: m.messageType,
    status: m.status,
    fileUrl: m.fileUrl,
    fileName: m.fileName,
    fileSize: m.fileSize,
    fileType: m.fileType,
    isEmergency: m.isEmergency,
    resolvedAt: m.resolvedAt,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    deliveredAt: m.deliveredAt,
    readAt: m.readAt,
  };
}

/** The code points of `text`. */
const codes = (text: string) => Array.from(text, (c) => c.codePointAt(0) ?? 0);
const inRanges = (c: number, ranges: [number, number][]) => ranges.some(([a, b]) => c >= a && c <= b);
/** As `clinic_protocol::text`: controls but tab and line breaks. */
const isControl = (c: number) =>
  inRanges(c, [
    [0, 8],
    [11, 12],
    [14, 31],
    [0x7f, 0x9f],
  ]);
/** Bidirectional embeddings, overrides and isolates. */
const isReordering = (c: number) =>
  inRanges(c, [
    [0x202a, 0x202e],
    [0x2066, 0x2069],
  ]);
/** As `clinic_protocol::text::is_blank`: whitespace, format characters and fillers only. */
function isBlank(text: string): boolean {
  const fillers: [number, number][] = [
    [0x115f, 0x1160],
    [0x3164, 0x3164],
    [0xffa0, 0xffa0],
    [0x2800, 0x2800],
    [0x17b4, 0x17b5],
    [0x034f, 0x034f],
    [0x180b, 0x180d],
    [0x180f, 0x180f],
    [0xfe00, 0xfe0f],
    [0xe0100, 0xe01ef],
  ];
  return Array.from(text).every((ch) => /[\s\p{Cf}]/u.test(ch) || inRanges(ch.codePointAt(0) ?? 0, fillers));
}

/** `text` within `bytes` of UTF-8, cut at a character with " … (cut short)" (as the client core
 * cuts a press from the lock screen). */
function cutToBytes(text: string, bytes: number): string {
  const size = (t: string) => new TextEncoder().encode(t).length;
  if (size(text) <= bytes) return text;
  const mark = ' … (cut short)';
  let kept = '';
  for (const ch of text) {
    if (size(kept + ch) + size(mark) > bytes) break;
    kept += ch;
  }
  return kept + mark;
}
