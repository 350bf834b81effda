// The UI's single store: holds ChatState, applies backend events to it, and runs user actions
// through the Backend. Components read it with hooks (store/hooks.ts); it knows nothing of React.

import { BackendError, type Backend, type Unlisten } from '../backend';
import {
  applyEmergency,
  applyMessage,
  clearUnread,
  keyOf,
  sameKey,
  withContacts,
} from '../logic/conversations';
import { upsertEmergency } from '../logic/emergency';
import { mergeMessages, oldestSeq, unreadIds, upsertMessage } from '../logic/messages';
import { PAGE_SIZE, pageHasMore } from '../logic/paging';
import { normalizeSettings } from '../logic/settings';
import { applyTyping, expireTyping, nextExpiry } from '../logic/typing';
import type {
  ConversationKey,
  EmergencyEvent,
  LocalMessage,
  LoginArgs,
  PickedFile,
  Settings,
  TypingEvent,
} from '../types';
import { EMPTY_MESSAGES, initialState, type ChatState, type ConversationMessages } from './state';

type Listener = () => void;

function isHidden(): boolean {
  return typeof document !== 'undefined' && document.visibilityState === 'hidden';
}

function describe(err: unknown): string {
  return BackendError.from(err).message;
}

export class ChatStore {
  private state: ChatState = initialState();
  private readonly listeners = new Set<Listener>();
  private unlisten: Unlisten[] = [];
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  /** Counts pushed `connection` / `alarm` events, so a start-up read never overwrites a newer push. */
  private pushed = { connection: 0, alarm: 0 };

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

  /** Subscribes to events and restores the session (the shell reads the OS keyring). */
  async start(): Promise<void> {
    this.listen();
    try {
      const session = await this.backend.getSession();
      if (session) await this.enter(session);
      else this.set({ phase: 'login' });
    } catch (err) {
      this.set({ phase: 'login', loginError: describe(err) });
    }
  }

  stop(): void {
    for (const u of this.unlisten) u();
    this.unlisten = [];
    if (this.typingTimer !== null) clearTimeout(this.typingTimer);
  }

  private listen(): void {
    const b = this.backend;
    // A window hidden in the tray must not mark messages as read; catch up when it shows again.
    if (typeof document !== 'undefined') {
      const onVisible = () => {
        if (!isHidden()) void this.markActiveRead();
      };
      document.addEventListener('visibilitychange', onVisible);
      this.unlisten.push(() => document.removeEventListener('visibilitychange', onVisible));
    }
    this.unlisten.push(
      b.on('connection', (connection) => {
        this.pushed.connection++;
        this.set({ connection });
      }),
      b.on('message', ({ message }) => this.onMessage(message)),
      b.on('typing', (e) => this.onTyping(e)),
      b.on('presence', ({ userId, online }) =>
        this.set((s) => ({ presence: { ...s.presence, [userId]: online } })),
      ),
      b.on('emergency', (e) => this.onEmergency(e)),
      b.on('alarm', ({ alerting }) => {
        this.pushed.alarm++;
        this.set({ alerting });
      }),
      b.on('conversations', () => void this.refreshConversations()),
      b.on('upload-progress', ({ clientId, sent, total }) =>
        this.set((s) => ({ uploads: { ...s.uploads, [clientId]: { sent, total } } })),
      ),
      b.on('session', ({ session, reason }) => {
        if (session) void this.enter(session);
        else this.reset(reason ?? null);
      }),
      b.on('open-conversation', (key) => void this.select(key)),
    );
  }

  private async enter(session: ChatState['session'] & object): Promise<void> {
    this.set({ session, phase: 'ready', loginError: null });
    const b = this.backend;
    // Events sent before we listened are lost, so read the current values once; but an event
    // pushed while these reads are in flight is newer than what they return.
    const before = { ...this.pushed };
    const [connection, settings, emergencies, alarm] = await Promise.all([
      b.connectionStatus().catch(() => this.state.connection),
      b.getSettings().catch(() => this.state.settings),
      b.listOpenEmergencies().catch(() => []),
      b.alarmStatus().catch(() => ({ alerting: false })),
    ]);
    this.set((s) => ({
      connection: this.pushed.connection === before.connection ? connection : s.connection,
      alerting: this.pushed.alarm === before.alarm ? alarm.alerting : s.alerting,
      settings: normalizeSettings(settings),
      emergencies,
    }));
    await this.refreshConversations();
  }

  private reset(loginError: string | null): void {
    this.set({ ...initialState(), phase: 'login', loginError });
  }

  async login(args: LoginArgs): Promise<void> {
    this.set({ loggingIn: true, loginError: null });
    try {
      const session = await this.backend.login(args);
      this.set({ loggingIn: false });
      await this.enter(session);
    } catch (err) {
      this.set({ loggingIn: false, loginError: describe(err) });
    }
  }

  async logout(): Promise<void> {
    try {
      await this.backend.logout();
    } catch (err) {
      // Log out locally anyway: the shell forgets the token even if the server was unreachable.
      console.warn('logout', err);
    }
    this.reset(null);
  }

  async refreshConversations(): Promise<void> {
    const me = this.state.session?.user;
    if (!me) return;
    try {
      const [conversations, contacts] = await Promise.all([
        this.backend.listConversations(),
        this.backend.listContacts(),
      ]);
      const list = withContacts(conversations, contacts, me);
      // The open conversation is being read; a server count that lags behind mark_read must not
      // flash a badge on it.
      const active = this.state.active;
      this.set({ conversations: active && !isHidden() ? clearUnread(list, active) : list, contacts });
    } catch (err) {
      this.set({ notice: `Could not load conversations: ${describe(err)}` });
    }
  }

  // ---- conversations and messages ----

  async select(key: ConversationKey): Promise<void> {
    this.set({ active: key });
    if (!this.state.messages[keyOf(key)]?.loaded) await this.loadPage(key, undefined);
    await this.markActiveRead();
  }

  /** Loads the page before the oldest loaded message (from the local cache first). */
  async loadOlder(key: ConversationKey): Promise<void> {
    const m = this.state.messages[keyOf(key)];
    if (!m || !m.hasOlder || m.loadingOlder) return;
    const beforeSeq = oldestSeq(m.items);
    if (beforeSeq === undefined) return;
    this.patchMessages(key, (x) => ({ ...x, loadingOlder: true }));
    await this.loadPage(key, beforeSeq);
  }

  /** The newest page (no `beforeSeq`) or the one before `beforeSeq`, merged into the list. */
  private async loadPage(key: ConversationKey, beforeSeq: number | undefined): Promise<void> {
    try {
      const page = await this.backend.loadMessages({
        ...key,
        ...(beforeSeq === undefined ? {} : { beforeSeq }),
        limit: PAGE_SIZE,
      });
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

  async markActiveRead(): Promise<void> {
    const { active, session } = this.state;
    if (!active || !session || isHidden()) return;
    const ids = unreadIds(this.state.messages[keyOf(active)]?.items ?? [], session.user.id);
    const conv = this.state.conversations.find((c) => sameKey(active, c));
    if (ids.length === 0 && !conv?.unreadCount) return;
    this.set((s) => ({ conversations: clearUnread(s.conversations, active) }));
    if (ids.length === 0) return;
    try {
      await this.backend.markRead(active, ids);
    } catch (err) {
      console.warn('mark_read', err);
    }
  }

  private onMessage(message: LocalMessage): void {
    const me = this.state.session?.user;
    if (!me) return;
    const key = keyOf(message);
    // A conversation we do not list yet (a new patient writing first): fetch the list again.
    if (!this.state.conversations.some((c) => sameKey(c, message))) void this.refreshConversations();
    this.set((s) => {
      const loaded = s.messages[key];
      return {
        // Hidden in the tray, even the open conversation collects unread messages.
        conversations: applyMessage(s.conversations, message, me, isHidden() ? null : s.active),
        // Only conversations already opened keep a list; others load it on select.
        messages: loaded
          ? { ...s.messages, [key]: { ...loaded, items: upsertMessage(loaded.items, message) } }
          : s.messages,
      };
    });
    if (sameKey(this.state.active, message) && message.senderId !== me.id) void this.markActiveRead();
    if (message.status !== 'SENDING') this.dropUpload(message.clientId);
  }

  private dropUpload(clientId: string): void {
    if (!(clientId in this.state.uploads)) return;
    this.set((s) => {
      const uploads = { ...s.uploads };
      delete uploads[clientId];
      return { uploads };
    });
  }

  async send(content: string, attachment?: PickedFile | null, isEmergency = false): Promise<void> {
    const active = this.state.active;
    if (!active) return;
    try {
      const msg = await this.backend.sendMessage({
        ...active,
        content,
        isEmergency,
        ...(attachment ? { attachmentPath: attachment.path } : {}),
      });
      this.onMessage(msg);
      if (attachment)
        this.set((s) => ({ uploads: { ...s.uploads, [msg.clientId]: { sent: 0, total: attachment.size } } }));
    } catch (err) {
      this.set({ notice: `Could not send: ${describe(err)}` });
    }
  }

  async retry(clientId: string): Promise<void> {
    try {
      await this.backend.retryMessage(clientId);
    } catch (err) {
      this.set({ notice: `Could not retry: ${describe(err)}` });
    }
  }

  setTyping(typing: boolean): void {
    const active = this.state.active;
    if (active)
      this.backend.setTyping(active, typing).catch((err: unknown) => console.warn('set_typing', err));
  }

  private onTyping(e: TypingEvent): void {
    this.set((s) => ({ typing: applyTyping(s.typing, e, Date.now()) }));
    this.scheduleTypingExpiry();
  }

  private scheduleTypingExpiry(): void {
    if (this.typingTimer !== null) clearTimeout(this.typingTimer);
    this.typingTimer = null;
    const at = nextExpiry(this.state.typing);
    if (at === null) return;
    this.typingTimer = setTimeout(
      () => {
        this.set((s) => ({ typing: expireTyping(s.typing, Date.now()) }));
        this.scheduleTypingExpiry();
      },
      Math.max(0, at - Date.now()) + 10,
    );
  }

  // ---- emergencies ----

  private onEmergency(e: EmergencyEvent): void {
    if (!this.state.conversations.some((c) => sameKey(c, e.emergency))) void this.refreshConversations();
    this.set((s) => ({
      emergencies: upsertEmergency(s.emergencies, e.emergency),
      conversations: applyEmergency(s.conversations, e.emergency),
      alerting: e.alerting,
    }));
    if (e.message) this.onMessage(e.message);
  }

  private async act(what: string, fn: () => Promise<void>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      this.set({ notice: `Could not ${what}: ${describe(err)}` });
      return false;
    }
  }

  acknowledge = (id: string) => this.act('acknowledge', () => this.backend.acknowledgeEmergency(id));
  resolve = (id: string, note: string) => this.act('resolve', () => this.backend.resolveEmergency(id, note));
  silence = () =>
    this.act('silence the alarm', async () => {
      await this.backend.silenceAlarm();
      this.set({ alerting: false });
    });
  sendTestAlert = () => this.act('send a test alert', () => this.backend.sendTestAlert());

  // ---- settings and misc ----

  async updateSettings(patch: Partial<Settings>): Promise<void> {
    const wanted = { ...this.state.settings, ...patch };
    this.set({ settings: wanted });
    try {
      this.set({ settings: normalizeSettings(await this.backend.setSettings(wanted)) });
    } catch (err) {
      this.set({ notice: `Could not save settings: ${describe(err)}` });
    }
  }

  dismissNotice(): void {
    this.set({ notice: null });
  }

  /** Presence is only known while connected; otherwise everyone shows as offline (grey). */
  isOnline(userId: string): boolean {
    if (this.state.connection.state !== 'online') return false;
    const live = this.state.presence[userId];
    if (live !== undefined) return live;
    return this.state.contacts.find((c) => c.id === userId)?.online ?? false;
  }
}
