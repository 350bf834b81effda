// The UI's single store: starts from the shell's snapshot, applies its events, and runs user
// actions through the Backend. It computes no lists or counts of its own: the client core sends
// the conversation list (ordered, with unread counts) and decides what rings. Components read
// it with hooks (store/hooks.ts); it knows nothing of React.

import { BackendError, type Backend } from '../backend';
import { keyOf, sameKey } from '../logic/conversations';
import {
  emergencyNumber,
  newerPress,
  newestPress,
  shownWhileLocked,
  upsertEmergency,
} from '../logic/emergency';
import {
  hasUnread,
  mergeMessages,
  oldestSeq,
  removeMessage,
  sameMessage,
  upsertMessage,
} from '../logic/messages';
import { PAGE_SIZE, UNREAD_PAGES, pageHasMore } from '../logic/paging';
import { peerStatus, type PeerStatus } from '../logic/presence';
import { readMark } from '../logic/receipts';
import { isUnread } from '../logic/unread';
import { loginErrorText, pairingToCompare } from '../logic/login';
import { normalizeSettings } from '../logic/settings';
import { applyTyping } from '../logic/typing';
import type {
  Availability,
  ConnectionStatus,
  Contact,
  ConversationKey,
  Device,
  DeviceCheck,
  Emergency,
  EmergencyId,
  LocalMessage,
  LockStatus,
  LoginArgs,
  MessageId,
  MessageVersions,
  PickedFile,
  Settings,
  Snapshot,
  UiEvent,
  UserId,
} from '../types';
import { EMPTY_MESSAGES, initialState, type ChatState, type ConversationMessages } from './state';

type Listener = () => void;

/**
 * Since when the connection is down (kept across changes of how it is down), or null: down is
 * offline, or trying again after a failure; a first try and a catch-up (the socket is live and
 * hears alerts) are not.
 */
function offlineSince(status: ConnectionStatus, since: number | null): number | null {
  const down = status.state === 'offline' || (status.state === 'connecting' && status.lastError !== null);
  return down ? (since ?? Date.now()) : null;
}

/** What events said while a command's snapshot was on its way (see `ChatStore.applyAnswer`). */
/** Input tells the shell at most this often that the user is there. */
const ACTIVITY_EVERY_MS = 5000;
/** How many changed messages the page remembers for lists read before they changed. */
const CHANGED_KEPT = 200;
/** A draft is saved once typing pauses this long (and when the window loses focus). */
export const DRAFT_SAVE_MS = 1000;

interface Heard {
  fields: Partial<
    Pick<
      ChatState,
      'connection' | 'conversations' | 'availability' | 'ringing' | 'notice' | 'clinic' | 'device'
    >
  >;
  emergencies: Emergency[];
  /** The newest lock told (its unsent emergency may have gone out since the snapshot). */
  lock: LockStatus | null;
}

/** The window has the keyboard focus and is not hidden (in the tray or minimised). */
function windowFocused(): boolean {
  if (typeof document === 'undefined') return false;
  return document.visibilityState !== 'hidden' && document.hasFocus();
}

function describe(err: unknown): string {
  return BackendError.from(err).message;
}

export class ChatStore {
  private state: ChatState = initialState();
  private readonly listeners = new Set<Listener>();
  private stopWatchingFocus: (() => void) | null = null;
  /** Ids of the open conversation's messages on screen now (reported by the message list). */
  private onScreen: ReadonlySet<MessageId> = new Set();
  /** A doctor took or resolved an emergency in another doctor's conversation: the page moves to
   * their own conversation with the patient once the list has it, once (reading the other one
   * again afterwards stays there). */
  private leaveForOwn = false;
  /** Emergencies whose words are being looked up ([`emergencyText`]), by user and id. */
  private textsAsked = new Set<string>();
  /** Ids of messages seen (on screen while the window had focus), by conversation key: a read
   * mark goes up to the newest of an unbroken run of them (logic/receipts.ts). */
  private seen = new Map<string, Set<MessageId>>();
  /** The read mark on its way, so that a burst of reports asks once. */
  private marking: MessageId | null = null;
  /** Commands on their way whose answer is a snapshot, and what events said meanwhile. */
  private snapshotsAwaited = 0;
  private heard: Heard = { fields: {}, emergencies: [], lock: null };
  private lastActive = 0;
  /** What is being written, by `${userId}|${key}` (a composer's conversation key, `note:ID` for a
   * resolution's note): kept across conversations, and by the shell across a lock and a restart.
   * Not state: typing re-renders only the field that holds it. */
  private drafts = new Map<string, string>();
  /** The file each composer holds to send, by draft key: kept across conversations (a caption
   * must not go without its photo), forgotten at a lock and a sign-out like the page's drafts,
   * and never kept by the shell (the file is chosen again). */
  private stagedFiles = new Map<string, PickedFile>();
  /** Her own presses told so far, the newest's conversation, and whether the next is opened
   * (`raiseEmergency` with `open`). */
  private pressesHeard = 0;
  private lastPress: ConversationKey | null = null;
  private openNextPress = false;
  /** Saves to the shell waiting for typing to pause, by draft key (`setDraft`). */
  private draftSaves = new Map<string, ReturnType<typeof setTimeout>>();
  /** The last save of each field on its way to the shell (`saveDraft` orders them). */
  private draftWrites = new Map<string, Promise<void>>();
  /** Goes up at each lock, sign-out and logout: a drafts answer asked for before one of them
   * belongs to a page that is gone (`restoreDrafts`). */
  private draftEpoch = 0;
  /** Goes up at each lock and logout: a save still queued then is older than what the page
   * handed over at locking, or than a logout that forgot every draft (`saveDraft`). */
  private saveEpoch = 0;

  readonly backend: Backend;

  constructor(backend: Backend) {
    this.backend = backend;
  }

  getState = (): ChatState => this.state;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private set(patch: Partial<ChatState> | ((s: ChatState) => Partial<ChatState>)): void {
    const p = typeof patch === 'function' ? patch(this.state) : patch;
    // Every lock told carries the wait as it was then: its end is fixed as it arrives.
    if ('lock' in p && !('lockWaitUntil' in p)) {
      const wait = p.lock?.waitSecs;
      p.lockWaitUntil = wait ? Date.now() + wait * 1000 : null;
    }
    this.state = { ...this.state, ...p };
    for (const l of this.listeners) l();
  }

  private patchMessages(key: ConversationKey, fn: (m: ConversationMessages) => ConversationMessages) {
    this.set((s) => {
      const k = keyOf(key);
      return { messages: { ...s.messages, [k]: fn(s.messages[k] ?? EMPTY_MESSAGES) } };
    });
  }

  // ---- lifecycle ----

  /** Subscribes to the shell's events; its answer is the state to start from. */
  async start(): Promise<void> {
    if (typeof window !== 'undefined') {
      // Read means seen: nothing is marked while the window is in the background (another
      // program in front, or hidden in the tray); what is on screen counts once it has focus.
      const recheck = () => void this.markSeen();
      // A window left (or hidden in the tray) may be quit from there: drafts are saved now.
      const away = () => this.saveDraftsNow();
      window.addEventListener('focus', recheck);
      window.addEventListener('blur', away);
      document.addEventListener('visibilitychange', recheck);
      document.addEventListener('visibilitychange', away);
      this.stopWatchingFocus = () => {
        window.removeEventListener('focus', recheck);
        window.removeEventListener('blur', away);
        document.removeEventListener('visibilitychange', recheck);
        document.removeEventListener('visibilitychange', away);
      };
    }
    try {
      await this.applyAnswer(() => this.backend.subscribe((event) => this.onEvent(event)));
    } catch (err) {
      this.set({ phase: 'login', loginError: describe(err) });
    }
  }

  stop(): void {
    this.stopWatchingFocus?.();
    this.stopWatchingFocus = null;
  }

  /**
   * Applies the snapshot a command answers with. The channel's events and a command's answer
   * are not ordered with each other: an event heard while the command was on its way is at least
   * as new as what the snapshot says (every later change sends another event), so it wins.
   */
  private async applyAnswer(command: () => Promise<Snapshot>): Promise<void> {
    if (this.snapshotsAwaited++ === 0) this.heard = { fields: {}, emergencies: [], lock: null };
    try {
      const snapshot = await command();
      this.apply(snapshot);
      if (this.state.phase !== 'ready') return;
      const { fields, emergencies, lock } = this.heard;
      this.set((st) => ({
        ...fields,
        // A connection heard while the answer was on its way wins, and so does what it says of
        // the outage (the answer's may be older).
        ...(fields.connection ? { offlineSince: offlineSince(fields.connection, st.offlineSince) } : {}),
        emergencies: emergencies.reduce(upsertEmergency, st.emergencies),
      }));
      // The newest lock told, or the snapshot's: either way what a locked page may hold is
      // decided now that the user is known.
      const newest = lock ?? this.state.lock;
      if (newest && (newest.locked || lock)) this.onLock(newest);
    } finally {
      this.snapshotsAwaited -= 1;
    }
  }

  /** Notes what an event said while a snapshot is awaited (see `applyAnswer`). */
  private hear(fields: Heard['fields'], emergency?: Emergency): void {
    if (this.snapshotsAwaited === 0) return;
    Object.assign(this.heard.fields, fields);
    if (emergency) this.heard.emergencies.push(emergency);
  }

  /** Replaces everything with a snapshot from the shell. */
  private apply(snapshot: Snapshot): void {
    if (!snapshot.session) {
      const { loginError, serverPairingCode } = this.state;
      // The page's own error (a sign-in just refused) is newer than why the last session ended.
      this.signedOut({
        loginError: loginError ?? snapshot.ended,
        serverPairingCode,
        settings: normalizeSettings(snapshot.settings),
        lastServer: snapshot.lastServer ?? this.state.lastServer,
      });
      return;
    }
    const sameUser = this.state.session?.user.id === snapshot.session.user.id;
    if (!sameUser) {
      // A new session (a start, a sign-in) takes back what this user was writing.
      if (!snapshot.lock?.locked) void this.restoreDrafts(snapshot.session.user.id, true);
    }
    this.set({
      ...(sameUser ? {} : initialState()),
      phase: 'ready',
      session: snapshot.session,
      loginError: null,
      connection: snapshot.connection,
      offlineSince: offlineSince(snapshot.connection, sameUser ? this.state.offlineSince : null),
      settings: normalizeSettings(snapshot.settings),
      availability: snapshot.availability,
      clinic: snapshot.clinic,
      device: snapshot.device,
      conversations: snapshot.conversations,
      emergencies: snapshot.emergencies,
      ringing: snapshot.ringing,
      lock: snapshot.lock,
    });
  }

  private onEvent(e: UiEvent): void {
    switch (e.type) {
      case 'snapshot':
        return this.apply(e.snapshot);
      case 'connection':
        this.hear({ connection: e.status });
        return this.set({
          connection: e.status,
          offlineSince: offlineSince(e.status, this.state.offlineSince),
        });
      case 'message':
        return this.onMessage(e.message);
      case 'messageDiscarded':
        return this.patchMessages(e, (m) => ({
          ...m,
          items: removeMessage(m.items, e.senderId, e.clientId),
        }));
      case 'historyPurged':
        this.dropEmergencies(e.emergencyIds);
        return this.patchMessages(e, (m) => ({
          ...m,
          items: m.items.filter((x) => x.seq == null || x.seq > e.upToSeq),
          purgedAt: e.purgedAt,
        }));
      case 'conversations':
        this.hear({ conversations: e.conversations });
        this.set({ conversations: e.conversations });
        // Taking an emergency opened our own conversation with the patient: leave theirs.
        return this.toOwnConversation();
      case 'typing':
        return this.set((s) => ({ typing: applyTyping(s.typing, e) }));
      case 'presence':
        return this.set((s) => ({ presence: { ...s.presence, [e.userId]: e.online } }));
      case 'peerAvailability':
        return this.set((s) => ({
          peerAvailability: { ...s.peerAvailability, [e.userId]: e.availability },
        }));
      case 'emergency': {
        // The shell tells a locked page only what `shownWhileLocked` allows; so does the page.
        // Before the start-up snapshot says who is signed in, it is only noted: the snapshot's
        // lock decides then (see `applyAnswer`).
        const me = this.state.session?.user;
        if (this.state.lock?.locked && !me) return this.hear({}, e.emergency);
        const shown = this.state.lock?.locked ? shownWhileLocked(e.emergency, me) : e.emergency;
        if (!shown) return;
        this.hear({}, shown);
        this.set((s) => ({ emergencies: upsertEmergency(s.emergencies, shown) }));
        this.keepResolved(shown);
        if (e.message) {
          const message = e.message;
          // An alert repeated after a reconnect carries the press that raised it: a later press
          // already shown stays.
          this.set((s) => ({
            emergencyMessages: {
              ...s.emergencyMessages,
              [e.emergency.id]: newerPress(s.emergencyMessages[e.emergency.id], message),
            },
          }));
          this.onMessage(message);
        }
        return;
      }
      case 'alarm':
        this.hear({ ringing: e.ringing });
        return this.set({ ringing: e.ringing });
      case 'availability':
        this.hear({ availability: e.availability });
        return this.set({ availability: e.availability });
      case 'clinic':
        this.hear({ clinic: e.clinic });
        return this.set({ clinic: e.clinic });
      case 'device':
        this.hear({ device: e.device });
        return this.set({ device: e.device });
      case 'uploadProgress':
        return this.set((s) => ({
          uploads: { ...s.uploads, [e.clientId]: { sent: e.sent, total: e.total } },
        }));
      case 'session':
        if (e.session) return;
        return this.signedOut({ loginError: e.reason ?? null });
      case 'openConversation':
        void this.select({ patientId: e.patientId, doctorId: e.doctorId });
        return;
      case 'notice':
        this.hear({ notice: e.message });
        return this.set({ notice: e.message });
      case 'lock':
        if (this.snapshotsAwaited > 0) this.heard.lock = e.status;
        return this.onLock(e.status);
    }
  }

  async login(args: LoginArgs): Promise<void> {
    this.set({ loggingIn: true, loginError: null, serverPairingCode: null });
    try {
      await this.applyAnswer(() => this.backend.login(args));
      this.set({ loggingIn: false });
    } catch (err) {
      const e = BackendError.from(err);
      this.set({ loggingIn: false, loginError: loginErrorText(e), serverPairingCode: pairingToCompare(e) });
    }
  }

  /** Gives up a sign-in that waits for the server; the form is back as it was. */
  /** The address on the login form changed: the code a server gave is not that address's. */
  forgetServerPairingCode(): void {
    if (this.state.serverPairingCode) this.set({ serverPairingCode: null });
  }

  async cancelLogin(): Promise<void> {
    if (!this.state.loggingIn) return;
    try {
      await this.backend.cancelLogin();
    } catch {
      // The login itself answers (cancelled or not); nothing else to do here.
    }
  }

  // ---- the app lock ----

  /**
   * Locked: every message and list is dropped from memory (the shell sends none while locked)
   * but a patient's own open emergencies, which the lock screen shows as the shell does;
   * unlocked: the shell's snapshot brings the list back and the open conversation reloads.
   */
  private onLock(status: LockStatus): void {
    if (status.locked) {
      const me = this.state.session?.user;
      // Locking now, from an unlocked page: what was resolved then, she could read; the lock
      // screen tells only of those open now (or told later) that get resolved. A start or an
      // answer that finds it locked holds what the shell chose by the same rule.
      const lockingNow = this.state.lock?.locked === false;
      // Every field's text goes to the shell now (saves still waiting included), and none stays
      // here. A note for an emergency no longer open has nothing left to resolve: forgotten.
      const kept: Record<string, string> = {};
      for (const [key, text] of this.drafts) kept[key] = this.stillOpen(key) ? text : '';
      this.cancelDraftSaves();
      this.draftEpoch += 1;
      this.saveEpoch += 1;
      this.drafts.clear();
      this.stagedFiles.clear();
      // The banner's words are dropped with the page: looked up again after the unlock.
      this.textsAsked.clear();
      if (Object.keys(kept).length > 0)
        this.backend.keepDrafts(kept).catch((err: unknown) => console.warn('keep_drafts', err));
      this.set((s) => ({
        lock: status,
        messages: {},
        emergencyMessages: {},
        resolutions: {},
        changedMessages: {},
        conversations: [],
        emergencies: s.emergencies
          .filter((e) => !lockingNow || e.state !== 'RESOLVED')
          .flatMap((e) => shownWhileLocked(e, me) ?? []),
        typing: {},
      }));
      return;
    }
    const wasLocked = this.state.lock?.locked === true;
    this.set({ lock: status, lockError: null });
    // Only unlocking brings drafts back: other news of an unlocked lock (a PIN set, a new policy)
    // must not draw the fields again (a picked file would go).
    if (wasLocked && this.state.session) void this.restoreDrafts(this.state.session.user.id, false);
    // The open conversation's page was dropped when the app locked: load it again.
    const active = this.state.active;
    if (active && !this.state.messages[keyOf(active)]?.loaded) void this.select(active);
  }

  /** The login screen, with nothing of the session left in the page: no state, no drafts. Drafts
   * still to be saved go to the shell first (a session the server ended keeps them for the
   * user's next sign-in; a logout forgets them there). */
  private signedOut(fields: Partial<ChatState>): void {
    this.saveDraftsNow();
    this.draftEpoch += 1;
    this.drafts.clear();
    this.stagedFiles.clear();
    this.seen.clear();
    this.textsAsked.clear();
    // This computer's settings (the text size) are not the session's: they stay.
    // Nor is the address the sign-in form offers (the session's own, after a logout).
    const lastServer = this.state.session?.serverUrl ?? this.state.lastServer;
    this.set({ ...initialState(), phase: 'login', settings: this.state.settings, lastServer, ...fields });
  }

  /** The drafts the shell kept for `user`, back in their fields (a field written meanwhile keeps
   * its text). `prune`: the page holds the snapshot's open emergencies (a start or a sign-in,
   * not an unlock, whose snapshot comes after), so a note for one no longer open is forgotten. */
  private async restoreDrafts(user: UserId, prune: boolean): Promise<void> {
    try {
      const epoch = this.draftEpoch;
      const kept = Object.entries(await this.backend.drafts());
      // Asked before a lock (or a sign-out): older than what the page handed over since.
      if (epoch !== this.draftEpoch) return;
      // Locked or signed out while the answer was on its way: the page holds no text then.
      if (this.state.lock?.locked || this.state.session?.user.id !== user) return;
      let filled = 0;
      for (const [key, text] of kept) {
        // A note for an emergency resolved meanwhile (elsewhere, or while the app was closed)
        // has nothing left to resolve: forgotten, here and in the shell.
        if (prune && !this.stillOpen(key)) {
          this.saveDraft(key);
          continue;
        }
        if (!this.drafts.get(key)) {
          this.drafts.set(key, text);
          filled += 1;
        }
      }
      // Fields are drawn again only when one gets text back.
      if (filled > 0) this.set((s) => ({ draftsBack: s.draftsBack + 1 }));
    } catch (err) {
      console.warn('drafts', err);
    }
  }

  /** Moves on at every lock and sign-out: what a page asked before (a file dialog left open)
   * is not taken after. */
  lockMark(): number {
    return this.draftEpoch;
  }

  /** The file the composer `key` holds to send, if any (see `stagedFiles`). */
  stagedFile(key: string): PickedFile | null {
    return this.stagedFiles.get(this.draftKey(key)) ?? null;
  }

  setStagedFile(key: string, file: PickedFile | null): void {
    if (file) this.stagedFiles.set(this.draftKey(key), file);
    else this.stagedFiles.delete(this.draftKey(key));
  }

  /** What this user was writing in the field `key` ('' if nothing). */
  draft(key: string): string {
    return this.drafts.get(this.draftKey(key)) ?? '';
  }

  /** The field `key` now holds `text` (blank: nothing to keep). The shell keeps it once typing
   * pauses, and at once when it is cleared (the text of a message sent must not come back). */
  setDraft(key: string, text: string): void {
    const k = this.draftKey(key);
    const blank = text.trim() === '';
    if (blank) this.drafts.delete(k);
    else this.drafts.set(k, text);
    clearTimeout(this.draftSaves.get(k));
    this.draftSaves.delete(k);
    if (blank) this.saveDraft(k);
    else
      this.draftSaves.set(
        k,
        setTimeout(() => {
          this.draftSaves.delete(k);
          this.saveDraft(k);
        }, DRAFT_SAVE_MS),
      );
  }

  /** Saves every draft whose save waits for typing to pause. */
  saveDraftsNow(): void {
    const waiting = [...this.draftSaves.keys()];
    this.cancelDraftSaves();
    for (const k of waiting) this.saveDraft(k);
  }

  private saveDraft(k: string): void {
    // Locked, the page holds no text: what it had went to the shell with `keepDrafts`.
    if (this.state.lock?.locked) return;
    const text = this.drafts.get(k) ?? '';
    // One field's saves reach the shell in the order they were made: a blank one (a message sent)
    // never lands before the text it clears.
    const epoch = this.saveEpoch;
    const before = this.draftWrites.get(k) ?? Promise.resolve();
    const done = before
      .then(() => (epoch === this.saveEpoch ? this.backend.saveDraft(k, text) : undefined))
      .catch((err: unknown) => console.warn('save_draft', err));
    this.draftWrites.set(k, done);
    void done.then(() => {
      if (this.draftWrites.get(k) === done) this.draftWrites.delete(k);
    });
  }

  private cancelDraftSaves(): void {
    for (const timer of this.draftSaves.values()) clearTimeout(timer);
    this.draftSaves.clear();
  }

  /** False for the draft of a resolution note whose emergency is no longer open. */
  private stillOpen(draftKey: string): boolean {
    const note = draftKey.split('|note:')[1];
    return note === undefined || this.state.emergencies.some((e) => e.id === note && e.state !== 'RESOLVED');
  }

  /** A field's draft is this user's: `${userId}|${key}`. */
  private draftKey(key: string): string {
    return `${this.state.session?.user.id ?? ''}|${key}`;
  }

  /** The user did something: the shell restarts the idle time (at most every few seconds). */
  userActive(): void {
    const now = Date.now();
    if (now - this.lastActive < ACTIVITY_EVERY_MS) return;
    this.lastActive = now;
    this.backend.userActive().catch(() => undefined);
  }

  async lockNow(): Promise<void> {
    try {
      this.onLock(await this.backend.lockNow());
    } catch (err) {
      this.set({ notice: `Could not lock: ${describe(err)}` });
    }
  }

  /** A patient's emergency from the lock screen, without unlocking: `null` once queued, else why
   * not, with the number to call (for the dialog, which keeps her words). Where the press stands
   * comes with the shell's `lock` events (the answer may arrive after a newer one, so it is not
   * applied). */
  /**
   * A patient's emergency where the shell sends it (from the lock screen, or before a
   * conversation is chosen). `open`: its conversation opens once it is queued, where her
   * status line says whether it went (offline, refused) and the number to call.
   */
  async raiseEmergency(content: string, open = false): Promise<string | null> {
    const heard = this.pressesHeard;
    try {
      // A wrong try's sentence stays: its wait and the tries left still hold.
      await this.backend.raiseEmergency(content);
      if (open) {
        // Its message may have been told before the answer, or comes after it.
        if (this.pressesHeard > heard && this.lastPress) void this.select(this.lastPress);
        else this.openNextPress = true;
      }
      return null;
    } catch (err) {
      const call = emergencyNumber(this.state.clinic);
      return `Could not send the emergency: ${describe(err)} If you need help now, call ${call}.`;
    }
  }

  async unlock(secret: string): Promise<void> {
    try {
      this.onLock(await this.backend.unlock(secret));
    } catch (err) {
      const e = BackendError.from(err);
      if (e.code === 'logged_out') this.signedOut({ loginError: e.message });
      // The wait is counted down from the `lock` event that comes with it: a sentence of it
      // would stand still beside that, and stay once it passed.
      else if (e.code === 'wait') this.set({ lockError: null });
      else this.set({ lockError: e.message });
    }
  }

  /** Her own press, not acknowledged yet, was told: noted, and opened when asked for. */
  private heardPress(message: LocalMessage): void {
    this.pressesHeard += 1;
    this.lastPress = { patientId: message.patientId, doctorId: message.doctorId };
    if (this.openNextPress) {
      this.openNextPress = false;
      void this.select(this.lastPress);
    }
  }

  /** Resolves to an error sentence, or null when the PIN was saved. */
  async setPin(pin: string): Promise<string | null> {
    try {
      this.set({ lock: await this.backend.setPin(pin) });
      return null;
    } catch (err) {
      return describe(err);
    }
  }

  async setLockPolicy(device: Device, idleMinutes: number | null): Promise<void> {
    try {
      this.set({ lock: await this.backend.setLockPolicy(device, idleMinutes) });
    } catch (err) {
      this.set({ notice: `Could not save the lock settings: ${describe(err)}` });
    }
  }

  async logout(): Promise<void> {
    // Logging out forgets drafts: none may be saved after it.
    this.cancelDraftSaves();
    this.saveEpoch += 1;
    let loginError: string | null = null;
    // Asked before: the lock starts over with the logout.
    const personal = this.state.lock?.device === 'personal';
    try {
      const { revoked } = await this.backend.logout();
      if (!revoked)
        loginError = personal
          ? "Signed out on this computer. Your clinic's server could not be reached to end the session: the next sign-in to it here ends it."
          : "Signed out on this computer. Your clinic's server could not be reached to end the session: it ends by itself once left unused (a week, unless the clinic set another time).";
    } catch (err) {
      loginError = `Signed out on this computer (${describe(err)}).`;
    }
    this.signedOut({ loginError });
  }

  // ---- conversations and messages ----

  async select(key: ConversationKey): Promise<void> {
    // A conversation chosen (by the doctor, or by the move below) is where the page stays.
    this.leaveForOwn = false;
    if (!sameKey(this.state.active, key)) this.onScreen = new Set();
    this.set({ active: key });
    // Follow its typing indicators from now on (not only after typing in it myself).
    this.backend.viewConversation(key).catch((err: unknown) => console.warn('view_conversation', err));
    if (!this.state.messages[keyOf(key)]?.loaded) {
      await Promise.all([this.loadOpening(key), this.loadPurgedAt(key), this.loadResolutions(key)]);
    }
    await this.markSeen();
  }

  /** Who resolved the conversation's emergencies and their notes, from the cache: after a restart
   * or an unlock too, not only when the resolution was heard live. */
  private async loadResolutions(key: ConversationKey): Promise<void> {
    try {
      const resolved = await this.backend.resolvedEmergencies(key);
      // Locked while the answer travelled: the page holds no doctor's note.
      if (this.state.lock?.locked) return;
      this.set((s) => ({ resolutions: { ...s.resolutions, [keyOf(key)]: resolved } }));
    } catch (err) {
      console.warn('resolved_emergencies', err);
    }
  }

  /** A resolution heard live (or answered) joins the loaded conversations of its patient, so that
   * a snapshot, which carries only open emergencies, does not take it out of view. */
  private keepResolved(e: Emergency): void {
    if (e.state !== 'RESOLVED' || this.state.lock?.locked) return;
    // Resolved (here or by another doctor): a note still being written for it is forgotten.
    if (this.drafts.has(this.draftKey(`note:${e.id}`))) this.setDraft(`note:${e.id}`, '');
    this.set((s) => ({
      resolutions: Object.fromEntries(
        Object.entries(s.resolutions).map(([key, list]) => [
          key,
          key.startsWith(`${e.patientId}|`) ? upsertEmergency(list, e) : list,
        ]),
      ),
    }));
  }

  /** The retention notice comes from the cache, so it is there after a restart too. */
  private async loadPurgedAt(key: ConversationKey): Promise<void> {
    try {
      const purgedAt = await this.backend.purgedAt(key);
      // A live `historyPurged` that came meanwhile is newer: keep it.
      if (purgedAt) this.patchMessages(key, (m) => ({ ...m, purgedAt: m.purgedAt ?? purgedAt }));
    } catch (err) {
      console.warn('purged_at', err);
    }
  }

  /** Emergencies the clinic's retention removed: gone from the banner, the list and the alarm. */
  private dropEmergencies(ids: EmergencyId[]): void {
    if (ids.length === 0) return;
    const gone = new Set(ids);
    this.set((s) => ({
      emergencies: s.emergencies.filter((x) => !gone.has(x.id)),
      ringing: s.ringing.filter((id) => !gone.has(id)),
      resolutions: Object.fromEntries(
        Object.entries(s.resolutions).map(([key, list]) => [key, list.filter((x) => !gone.has(x.id))]),
      ),
      emergencyMessages: Object.fromEntries(
        Object.entries(s.emergencyMessages).filter(([id]) => !gone.has(id)),
      ),
    }));
  }

  /** The message list reports which messages of `key` are on screen now. */
  setOnScreen(key: ConversationKey, ids: ReadonlySet<MessageId>): void {
    if (!sameKey(this.state.active, key)) return;
    this.onScreen = ids;
    void this.markSeen();
  }

  /** Loads the page before the oldest loaded message (the shell asks the server if needed). */
  async loadOlder(key: ConversationKey): Promise<void> {
    const m = this.state.messages[keyOf(key)];
    if (!m || !m.hasOlder || m.loadingOlder) return;
    const beforeSeq = oldestSeq(m.items);
    if (beforeSeq === undefined) return;
    this.patchMessages(key, (x) => ({ ...x, loadingOlder: true }));
    await this.loadPage(key, beforeSeq);
  }

  /**
   * A conversation's first pages: the newest, and the ones before it while the oldest loaded
   * message waits to be read or the list counts more unread than are loaded (at most
   * `UNREAD_PAGES` in all), so that it opens at its first unread message rather than below
   * unread ones never loaded, which a read mark would then pass over unseen.
   */
  private async loadOpening(key: ConversationKey): Promise<void> {
    const me = this.state.session?.user.id;
    const listed = this.state.conversations.find((c) => sameKey(c, key))?.unreadCount ?? 0;
    try {
      const newest = await this.backend.loadMessages({ ...key, limit: PAGE_SIZE });
      let items = mergeMessages([], newest);
      let hasOlder = pageHasMore(newest.length, PAGE_SIZE);
      for (let pages = 1; pages < UNREAD_PAGES && hasOlder && me; pages++) {
        const unread = items.filter((m) => isUnread(m, me));
        const oldest = items.find((m) => m.seq !== null);
        if (!(oldest && isUnread(oldest, me)) && unread.length >= listed) break;
        const beforeSeq = oldestSeq(items);
        if (beforeSeq === undefined) break;
        const older = await this.backend.loadMessages({ ...key, beforeSeq, limit: PAGE_SIZE });
        items = mergeMessages(items, older);
        hasOlder = pageHasMore(older.length, PAGE_SIZE);
      }
      // Locked while the answers travelled: the page holds no message.
      if (this.state.lock?.locked) return;
      this.patchMessages(key, (m) => ({
        ...m,
        items: mergeMessages(m.items, items),
        hasOlder,
        loaded: true,
        loadingOlder: false,
      }));
    } catch (err) {
      this.patchMessages(key, (m) => ({ ...m, loadingOlder: false }));
      this.set({ notice: `Could not load messages: ${describe(err)}` });
    }
  }

  /** The newest page (no `beforeSeq`) or the one before `beforeSeq`, merged into the list. */
  private async loadPage(key: ConversationKey, beforeSeq: number | undefined): Promise<void> {
    try {
      const page = await this.backend.loadMessages({
        ...key,
        ...(beforeSeq === undefined ? {} : { beforeSeq }),
        limit: PAGE_SIZE,
      });
      // Locked while the answer travelled: the page holds no message.
      if (this.state.lock?.locked) return;
      this.patchMessages(key, (m) => ({
        ...m,
        items: mergeMessages(m.items, page),
        hasOlder: pageHasMore(page.length, PAGE_SIZE),
        loaded: true,
        loadingOlder: false,
      }));
    } catch (err) {
      this.patchMessages(key, (m) => ({ ...m, loadingOlder: false }));
      this.set({ notice: `Could not load messages: ${describe(err)}` });
    }
  }

  /**
   * Marks as read what the user has seen: up to the newest unread message that, with every unread
   * one before it, was on screen while the window had focus, now or earlier in this conversation
   * (logic/receipts.ts). Messages below the fold, passed over by a jump, or arriving while the
   * window is in the background, stay unread until they are seen.
   */
  async markSeen(): Promise<void> {
    const { active, session } = this.state;
    if (!active || !session) return;
    const items = this.state.messages[keyOf(active)]?.items ?? [];
    if (!hasUnread(items, session.user.id)) return;
    const focused = windowFocused();
    const key = keyOf(active);
    const seen = this.seen.get(key) ?? new Set<MessageId>();
    if (focused) for (const id of this.onScreen) seen.add(id);
    this.seen.set(key, seen);
    const messageId = readMark(items, session.user.id, { focused, onScreen: this.onScreen, seen });
    if (messageId === null || messageId === this.marking) return;
    this.marking = messageId;
    try {
      await this.backend.markRead({ ...active, messageId });
    } catch (err) {
      this.set({ notice: `Could not mark as read: ${describe(err)}` });
    } finally {
      if (this.marking === messageId) this.marking = null;
    }
  }

  private onMessage(message: LocalMessage): void {
    const me = this.state.session?.user;
    if (!me) return;
    const key = keyOf(message);
    if (message.isEmergency && message.senderId === me.id && message.id === null) this.heardPress(message);
    this.set((s) => {
      const loaded = s.messages[key];
      // Only conversations already opened keep a list; others load it on select.
      return loaded
        ? { messages: { ...s.messages, [key]: { ...loaded, items: upsertMessage(loaded.items, message) } } }
        : {};
    });
    if (message.id && (message.retracted || message.edited)) this.noteChanged(message.id, message);
    if (sameKey(this.state.active, message) && message.senderId !== me.id && message.status !== 'READ')
      void this.markSeen();
    if (message.status !== 'SENDING') this.dropUpload(message.clientId);
  }

  /** Keeps the newest copy of a message that changed (see `ChatState.changedMessages`). */
  private noteChanged(id: MessageId, message: LocalMessage): void {
    this.set((s) => {
      const { [id]: _before, ...others } = s.changedMessages;
      const kept = Object.entries(others).slice(-(CHANGED_KEPT - 1));
      return { changedMessages: { ...Object.fromEntries(kept), [id]: message } };
    });
  }

  /** Whether the open list already holds this message (by id, else sender and clientId). */
  private knows(message: LocalMessage): boolean {
    const loaded = this.state.messages[keyOf(message)];
    return loaded?.items.some((m) => sameMessage(m, message)) ?? false;
  }

  private dropUpload(clientId: string): void {
    if (!(clientId in this.state.uploads)) return;
    this.set((s) => {
      const uploads = { ...s.uploads };
      delete uploads[clientId];
      return { uploads };
    });
  }

  /** Queues a send in the open conversation; false when it was refused (the text is not sent). */
  async send(content: string, attachment?: PickedFile | null, isEmergency = false): Promise<boolean> {
    const active = this.state.active;
    if (!active) return false;
    try {
      const msg = await this.backend.sendMessage({
        ...active,
        content,
        isEmergency,
        ...(attachment ? { attachmentPath: attachment.path } : {}),
      });
      // The answer is the message's first state; events may already have moved it on (a file
      // the server refuses is parked within milliseconds), and then it must not go back.
      if (this.knows(msg)) return true;
      this.onMessage(msg);
      if (attachment)
        this.set((s) => ({
          uploads:
            msg.clientId in s.uploads
              ? s.uploads
              : { ...s.uploads, [msg.clientId]: { sent: 0, total: attachment.size } },
        }));
      return true;
    } catch (err) {
      this.set({ notice: `Could not send: ${describe(err)}` });
      return false;
    }
  }

  retry = (clientId: string) =>
    this.act('retry', () => this.backend.retryMessage(clientId).then(() => undefined));
  /** Drops my message not sent yet; its text goes back into an empty composer of its
   * conversation, to be corrected and sent again. */
  discard = async (clientId: string): Promise<boolean> => {
    const me = this.state.session?.user.id;
    const dropped = Object.values(this.state.messages)
      .flatMap((m) => m.items)
      .find((m) => m.clientId === clientId && m.senderId === me && m.id === null);
    const done = await this.act('discard', () => this.backend.discardMessage(clientId));
    if (done && dropped?.content.trim() && !this.state.lock?.locked) {
      const key = keyOf(dropped);
      if (!this.draft(key).trim()) {
        this.setDraft(key, dropped.content);
        // The composer open on it takes the text without being drawn again (which would drop a
        // picked file); one opened later reads it from the drafts.
        this.set((s) => ({ refill: { key, text: dropped.content, n: (s.refill?.n ?? 0) + 1 } }));
      }
    }
    return done;
  };
  /** Unsends (patients) or retracts (doctors) my message; the events show it pending, then
   * settled, or with the server's refusal on the bubble. */
  unsend = (messageId: string, reason: string | null = null, misdirected = false) =>
    this.act(this.state.session?.user.role === 'DOCTOR' ? 'retract' : 'unsend', () =>
      this.backend.unsendMessage({ messageId, reason, misdirected }).then(() => undefined),
    );
  edit = (messageId: string, content: string) =>
    this.act('edit', () => this.backend.editMessage({ messageId, content }).then(() => undefined));
  /** The version list of an edited message (null when it could not be fetched, e.g. offline). */
  async versions(messageId: string): Promise<MessageVersions | null> {
    try {
      return await this.backend.messageVersions(messageId);
    } catch (err) {
      this.set({ notice: `Could not show the versions: ${describe(err)}` });
      return null;
    }
  }

  setTyping(typing: boolean): void {
    const active = this.state.active;
    if (active)
      this.backend.setTyping(active, typing).catch((err: unknown) => console.warn('set_typing', err));
  }

  // ---- emergencies: only the server's answer changes anything ----

  private async act(what: string, fn: () => Promise<void>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      const e = BackendError.from(err);
      // A conflict says who has it ("Dr. X already took it."), too late says why and what
      // else to do: that is the whole message.
      const whole = e.code === 'conflict' || e.code === 'too_late';
      this.set({ notice: whole ? e.message : `Could not ${what}: ${e.message}` });
      return false;
    }
  }

  /** Opens a message's link in the system's browser; a refusal is said, never swallowed. */
  openLink = (href: string) => this.act('open the link', () => this.backend.openLink(href));

  /** Opens a message's attachment with the system's program; a refusal is said too. */
  openAttachment = (senderId: string, clientId: string) =>
    this.act('open the file', () => this.backend.openAttachment(senderId, clientId));

  acknowledge = (id: string) =>
    this.act('acknowledge', async () => {
      const e = await this.backend.acknowledgeEmergency(id);
      this.set((s) => ({ emergencies: upsertEmergency(s.emergencies, e) }));
      this.leaveForOwn = true;
      this.toOwnConversation();
    });
  resolve = (id: string, note: string) =>
    this.act('resolve', async () => {
      const e = await this.backend.resolveEmergency(id, note);
      this.set((s) => ({ emergencies: upsertEmergency(s.emergencies, e) }));
      this.keepResolved(e);
      this.leaveForOwn = true;
      this.toOwnConversation();
    });
  /**
   * "Open chat" on the banner: the emergency's conversation, scrolled to the press the banner
   * quotes (its newest, once pressed again; else the one that raised it). For a doctor whose
   * patient it is not: their own conversation with the patient once they have one (taking the
   * emergency opens it), else the emergency's, to read (they cannot write there).
   */
  async openEmergency(e: Emergency): Promise<void> {
    const own = this.ownConversationFor(e);
    if (own && !sameKey(own, e)) return this.select(own);
    const quoted = this.state.emergencyMessages[e.id];
    const press = quoted?.id && sameKey(quoted, e) ? quoted.id : e.messageId;
    await this.openMessage({ patientId: e.patientId, doctorId: e.doctorId }, press);
    // Taken by me while my own conversation was not listed yet: it is where this leads once
    // the list brings it (opening theirs did not choose to stay there).
    const me = this.state.session?.user.id;
    const current = this.state.emergencies.find((x) => x.id === e.id) ?? e;
    if (me && e.doctorId !== me && (current.acknowledgedBy === me || current.resolvedBy === me)) {
      this.leaveForOwn = true;
      this.toOwnConversation();
    }
  }

  /**
   * The banner's words for an emergency: its newest press, from the conversation's newest page in
   * this computer's cache, unless a newer one is shown already. An alert carries the press that
   * raised it, also when repeated after a restart of the server or of this app, while the patient
   * may have pressed again since with words that matter more ("now unconscious"). Looked up once
   * per emergency and state (and user), one lookup at a time; the list of messages is left as it
   * is, and nothing is kept when the app locked meanwhile.
   */
  async emergencyText(e: Emergency): Promise<void> {
    const asked = `${this.state.session?.user.id ?? ''}|${e.id}|${e.state}|${e.reopenedAt ?? ''}`;
    if (this.state.lock?.locked || this.textsAsked.has(asked)) return;
    this.textsAsked.add(asked);
    try {
      const page = await this.backend.loadMessages({
        patientId: e.patientId,
        doctorId: e.doctorId,
        limit: PAGE_SIZE,
      });
      const newest = newestPress(page, e);
      if (newest && !this.state.lock?.locked)
        this.set((s) => ({
          emergencyMessages: {
            ...s.emergencyMessages,
            [e.id]: newerPress(s.emergencyMessages[e.id], newest),
          },
        }));
    } catch (err) {
      console.warn('emergency text', err);
      this.textsAsked.delete(asked);
    }
  }

  /** A doctor's own conversation with the patient of `e`, when the list has it. */
  private ownConversationFor(e: Emergency): ConversationKey | null {
    const me = this.state.session?.user;
    if (!me || me.role !== 'DOCTOR') return null;
    const key = { patientId: e.patientId, doctorId: me.id };
    return this.state.conversations.some((c) => sameKey(c, key)) ? key : null;
  }

  /**
   * A doctor reading another doctor's conversation (opened from an emergency) moves to their
   * own conversation with that patient as soon as the list has it (taking the emergency opens
   * it; the list may arrive just before or just after the answer).
   */
  private toOwnConversation(): void {
    const active = this.state.active;
    const me = this.state.session?.user;
    if (!this.leaveForOwn || !me || me.role !== 'DOCTOR' || !active || active.doctorId === me.id) return;
    const own = { patientId: active.patientId, doctorId: me.id };
    if (this.state.conversations.some((c) => sameKey(c, own))) void this.select(own);
  }

  /** Doctors: the clinic's patients whose name contains `query` (null when that failed). */
  async findPatients(query: string): Promise<Contact[] | null> {
    try {
      return await this.backend.findPatients(query);
    } catch (err) {
      this.set({ notice: `Could not look up patients: ${describe(err)}` });
      return null;
    }
  }

  /** Doctors: opens (and shows) the conversation with a patient of the clinic. */
  startConversation = (patientId: string) =>
    this.act('start the conversation', async () => {
      const c = await this.backend.startConversation(patientId);
      this.set((s) => ({
        conversations: s.conversations.some((x) => sameKey(x, c)) ? s.conversations : [c, ...s.conversations],
      }));
      await this.select({ patientId: c.patientId, doctorId: c.doctorId });
    });
  /** A message's conversation, scrolled to it and highlighted (a search result, an emergency). */
  async openMessage(key: ConversationKey, messageId: string): Promise<void> {
    this.set({ focus: { key: keyOf(key), messageId } });
    await this.select(key);
  }
  /** The focused message was shown (or the user moved on). */
  clearFocus(): void {
    if (this.state.focus) this.set({ focus: null });
  }
  silence = () => this.act('silence the alarm', () => this.backend.silenceAlarm());
  /** Rings and notifies once; answers what worked (null when the command failed). */
  async sendTestAlert(): Promise<DeviceCheck | null> {
    let checked: DeviceCheck | null = null;
    await this.act('send a test alert', async () => {
      checked = await this.backend.sendTestAlert();
      this.set({ device: checked });
    });
    return checked;
  }
  setAvailability = (availability: Availability) =>
    this.act('change your availability', async () => {
      this.set({ availability: await this.backend.setAvailability(availability) });
    });

  // ---- settings and misc ----

  async updateSettings(patch: Partial<Settings>): Promise<void> {
    const before = this.state.settings;
    const wanted = { ...before, ...patch };
    this.set({ settings: wanted });
    try {
      this.set({ settings: normalizeSettings(await this.backend.setSettings(wanted)) });
    } catch (err) {
      // Not saved, so not in effect: the page shows what is.
      this.set({ settings: before, notice: `Could not save settings: ${describe(err)}` });
    }
  }

  dismissNotice(): void {
    this.set({ notice: null });
  }

  /** A file picked or dropped that cannot be attached (too large, not a file): said, not dropped. */
  attachRefused(err: unknown): void {
    this.set({ notice: `Could not attach the file: ${describe(err)}` });
  }

  /** Online, on do not disturb, offline, or unknown while this app is not connected. */
  peerStatus(userId: string): PeerStatus {
    const connected = this.state.connection.state === 'online';
    const listed = this.state.conversations.find((c) => c.otherParty.id === userId)?.otherParty;
    const availability = this.state.peerAvailability[userId] ?? listed?.availability;
    return peerStatus(connected, this.isOnline(userId), availability);
  }

  /** Presence is only known while connected; otherwise nobody is online. */
  isOnline(userId: string): boolean {
    if (this.state.connection.state !== 'online') return false;
    const live = this.state.presence[userId];
    if (live !== undefined) return live;
    return this.state.conversations.find((c) => c.otherParty.id === userId)?.otherParty.online ?? false;
  }
}
