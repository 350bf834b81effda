// The one door between the UI and the desktop shell: the Backend interface, and its Tauri
// implementation. Nothing else in ui/src imports @tauri-apps; components get their data from
// the store (store/chatStore.ts), which is fed by a Backend. Tests and the browser preview use
// fake/ (chosen at build time, never shipped).

import { Channel, invoke, isTauri } from '@tauri-apps/api/core';
import { getCurrentWebview } from '@tauri-apps/api/webview';
import type {
  Availability,
  BackendErrorBody,
  ClientId,
  Contact,
  Conversation,
  ConversationKey,
  Device,
  DeviceCheck,
  Emergency,
  EditArgs,
  EmergencyId,
  FileDropEvent,
  LoadMessagesArgs,
  LocalMessage,
  LockStatus,
  LoggedOut,
  LoginArgs,
  MarkReadArgs,
  MessageId,
  MessageVersions,
  PickedFile,
  SearchArgs,
  Found,
  SendMessageArgs,
  Settings,
  Snapshot,
  UiEvent,
  UnsendArgs,
  UserId,
} from './types';

/** Stops listening. */
export type Unlisten = () => void;

export interface Backend {
  /** Starts the event stream (every later change goes to `onEvent`) and answers the state now. */
  subscribe(onEvent: (event: UiEvent) => void): Promise<Snapshot>;
  login(args: LoginArgs): Promise<Snapshot>;
  /** A `login` still waiting for the server rejects with `cancelled`. */
  cancelLogin(): Promise<void>;
  logout(): Promise<LoggedOut>;
  /** Oldest first; at most `limit` messages, all older than `beforeSeq` when given. */
  loadMessages(args: LoadMessagesArgs): Promise<LocalMessage[]>;
  /** Returns at once with the optimistic message (status SENDING); updates come as events. */
  sendMessage(args: SendMessageArgs): Promise<LocalMessage>;
  retryMessage(clientId: ClientId): Promise<LocalMessage>;
  discardMessage(clientId: ClientId): Promise<void>;
  /** Unsends (patients) or retracts (doctors) my message: queued like a send, shown at once
   * (`pendingChange`); a refusal comes back on the message as `changeNotice`. */
  unsendMessage(args: UnsendArgs): Promise<LocalMessage>;
  /** Replaces my message's text (queued like a send). */
  editMessage(args: EditArgs): Promise<LocalMessage>;
  /** Every version of a message's text, oldest first (needs the server). */
  messageVersions(messageId: MessageId): Promise<MessageVersions>;
  /** The user saw `messageId` (window focused, message on screen): it and everything before it to me is read. */
  markRead(args: MarkReadArgs): Promise<void>;
  /** The user opened this conversation: its typing indicators are followed from now on. */
  viewConversation(key: ConversationKey): Promise<void>;
  /** When the clinic's retention policy removed this conversation's older messages (RFC 3339), from the cache; null if never. */
  purgedAt(key: ConversationKey): Promise<string | null>;
  /** The conversation's resolved emergencies from the cache, oldest first (who resolved each, their note). */
  resolvedEmergencies(key: ConversationKey): Promise<Emergency[]>;
  setTyping(key: ConversationKey, typing: boolean): Promise<void>;
  /** The server's search over my conversations, newest first; out of reach, this computer's cache (`offline`). */
  searchMessages(args: SearchArgs): Promise<Found>;
  /** Doctors: the clinic's patients whose name contains `query` (needs the server). */
  findPatients(query: string): Promise<Contact[]>;
  /** Doctors: opens the conversation with a patient of the clinic (the server grants it). */
  startConversation(patientId: UserId): Promise<Conversation>;
  /** Resolves once the server stored it; rejects with `conflict` ("Dr. X already took it."). */
  acknowledgeEmergency(emergencyId: EmergencyId): Promise<Emergency>;
  resolveEmergency(emergencyId: EmergencyId, note: string): Promise<Emergency>;
  silenceAlarm(): Promise<void>;
  setAvailability(availability: Availability): Promise<Availability>;
  setSettings(settings: Settings): Promise<Settings>;
  /** Rings once and shows a notification; answers what worked. */
  sendTestAlert(): Promise<DeviceCheck>;
  /** Native file dialog; null when the user cancels. */
  pickFile(): Promise<PickedFile | null>;
  /** Image preview of an attachment as a data: URL; null when it is not an image or not available. */
  attachmentPreview(senderId: UserId, clientId: ClientId): Promise<string | null>;
  /** Opens an attachment with the system's default application (downloading it first if needed). */
  openAttachment(senderId: UserId, clientId: ClientId): Promise<void>;
  /** Opens an http(s) or mailto link from a message in the system's browser (never in the app). */
  openLink(url: string): Promise<void>;
  /** Files dragged over / dropped on the window. */
  onFileDrop(handler: (event: FileDropEvent) => void): Unlisten;
  /** A key or click in the window: the app lock's idle time starts again. */
  userActive(): Promise<void>;
  /** "Lock now" (Ctrl+L). */
  lockNow(): Promise<LockStatus>;
  /** What is being written in the field `key` (blank: nothing), kept by the shell across a
   * restart; rejects with `locked` while locked and `bad_request` past its bounds. */
  saveDraft(key: string, text: string): Promise<void>;
  /** What the page was writing when it locked (by its own key), handed over as it drops it. */
  keepDrafts(drafts: Record<string, string>): Promise<void>;
  /** Every draft kept; rejects with `locked` while locked. */
  drafts(): Promise<Record<string, string>>;
  /** A PIN or the password; rejects with `wrong_secret`, `wait` or `logged_out` (5th wrong try). */
  unlock(secret: string): Promise<LockStatus>;
  /** A patient's emergency from the lock screen, without unlocking. */
  raiseEmergency(content: string): Promise<LockStatus>;
  /** 4-8 digits; weak ones are refused (`bad_request`). */
  setPin(pin: string): Promise<LockStatus>;
  /** Who uses this computer; `idleMinutes` may only shorten the policy's limit (null: the policy's). */
  setLockPolicy(device: Device, idleMinutes: number | null): Promise<LockStatus>;
}

/** A failed command, with a machine-readable code (see docs/desktop-api.md). */
export class BackendError extends Error implements BackendErrorBody {
  readonly code: string;
  /** With `not_paired`: the server's pairing code. */
  readonly serverCode?: string;

  constructor(code: string, message: string, serverCode?: string) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
    if (serverCode !== undefined) this.serverCode = serverCode;
  }

  /** Tauri rejects with whatever the Rust command returned as its error: an object or a string. */
  static from(raw: unknown): BackendError {
    if (raw instanceof BackendError) return raw;
    if (typeof raw === 'object' && raw !== null) {
      const rec = raw as Record<string, unknown>;
      const code = typeof rec.code === 'string' ? rec.code : 'internal';
      const message = typeof rec.message === 'string' ? rec.message : JSON.stringify(raw);
      const serverCode = typeof rec.serverCode === 'string' ? rec.serverCode : undefined;
      return new BackendError(code, message, serverCode);
    }
    if (typeof raw === 'string') return new BackendError('internal', raw);
    return new BackendError('internal', String(raw));
  }
}

/**
 * One line of the contract transcript (docs/desktop-api.md, "The contract suite"). A call is
 * added when it is made (so the lines are in request order) and gets `ok` or `error` when
 * answered; events are added as they arrive.
 */
export type TranscriptLine =
  | {
      kind: 'call';
      command: string;
      args: Record<string, unknown> | null;
      ok?: unknown;
      error?: BackendErrorBody;
    }
  | { kind: 'event'; event: UiEvent };

/** The e2e's transcript: present only when the shell was started with CLINIC_E2E_TRANSCRIPT=1. */
function transcript(): TranscriptLine[] | null {
  const t = (globalThis as { __CLINIC_TRANSCRIPT__?: unknown }).__CLINIC_TRANSCRIPT__;
  return Array.isArray(t) ? (t as TranscriptLine[]) : null;
}

/** Arguments as recorded: never the password, never the channel object. */
function recordedArgs(args?: Record<string, unknown>): Record<string, unknown> | null {
  if (!args) return null;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (k === 'events') out[k] = '<channel>';
    else if (k === 'password' || k === 'secret' || k === 'newPin') out[k] = '<redacted>';
    else out[k] = v;
  }
  return out;
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  const line: TranscriptLine = { kind: 'call', command, args: recordedArgs(args) };
  transcript()?.push(line);
  try {
    const ok = await invoke<T>(command, args);
    line.ok = ok ?? null;
    return ok;
  } catch (raw) {
    const error = BackendError.from(raw);
    const { code, message, serverCode } = error;
    line.error = serverCode === undefined ? { code, message } : { code, message, serverCode };
    throw error;
  }
}

/** True inside the Tauri webview; false in a plain browser. */
export function runningInTauri(): boolean {
  return isTauri();
}

/** The real backend: commands and the event channel of the Tauri shell (src-tauri). */
export function createTauriBackend(): Backend {
  return {
    subscribe: (onEvent) => {
      const events = new Channel<UiEvent>();
      events.onmessage = (event) => {
        transcript()?.push({ kind: 'event', event });
        onEvent(event);
      };
      return call('subscribe', { events });
    },
    login: (args) => call('login', { ...args }),
    cancelLogin: () => call('cancel_login'),
    logout: () => call('logout'),
    loadMessages: (args) => call('load_messages', { ...args }),
    sendMessage: (args) => call('send_message', { ...args }),
    retryMessage: (clientId) => call('retry_message', { clientId }),
    discardMessage: (clientId) => call('discard_message', { clientId }),
    unsendMessage: (args) => call('unsend_message', { ...args }),
    editMessage: (args) => call('edit_message', { ...args }),
    messageVersions: (messageId) => call('message_versions', { messageId }),
    searchMessages: (args) => call('search_messages', { ...args }),
    findPatients: (query) => call('find_patients', { query }),
    startConversation: (patientId) => call('start_conversation', { patientId }),
    markRead: (args) => call('mark_read', { ...args }),
    viewConversation: (key) => call('view_conversation', { ...key }),
    purgedAt: (key) => call('purged_at', { ...key }),
    resolvedEmergencies: (key) => call('resolved_emergencies', { ...key }),
    setTyping: (key, typing) => call('set_typing', { ...key, typing }),
    acknowledgeEmergency: (emergencyId) => call('acknowledge_emergency', { emergencyId }),
    resolveEmergency: (emergencyId, note) => call('resolve_emergency', { emergencyId, note }),
    silenceAlarm: () => call('silence_alarm'),
    setAvailability: (availability) => call('set_availability', { availability }),
    setSettings: (settings) => call('set_settings', { settings }),
    sendTestAlert: () => call('send_test_alert'),
    pickFile: () => call('pick_file'),
    attachmentPreview: (senderId, clientId) => call('attachment_preview', { senderId, clientId }),
    openAttachment: (senderId, clientId) => call('open_attachment', { senderId, clientId }),
    openLink: (url) => call('open_link', { url }),
    userActive: () => call('user_active'),
    lockNow: () => call('lock_now'),
    saveDraft: (key, text) => call('save_draft', { key, text }),
    keepDrafts: (drafts) => call('keep_drafts', { drafts }),
    drafts: () => call('drafts'),
    unlock: (secret) => call('unlock', { secret }),
    raiseEmergency: (content) => call('raise_emergency', { content }),
    setPin: (pin) => call('set_pin', { newPin: pin }),
    setLockPolicy: (device, idleMinutes) => call('set_lock_policy', { device, idleMinutes }),
    onFileDrop: (handler) => {
      let stop: (() => void) | null = null;
      let cancelled = false;
      getCurrentWebview()
        .onDragDropEvent((e) => {
          const p = e.payload;
          if (p.type === 'enter' || p.type === 'over') handler({ kind: 'over' });
          else if (p.type === 'leave') handler({ kind: 'leave' });
          else {
            // The webview only knows paths; the shell tells us name, size and type.
            Promise.all(p.paths.map((path) => call<PickedFile>('describe_file', { path })))
              .then((files) => handler({ kind: 'drop', files }))
              .catch((err: unknown) => handler({ kind: 'refused', error: err }));
          }
        })
        .then((fn) => {
          if (cancelled) fn();
          else stop = fn;
        })
        .catch((err: unknown) => console.error('listen failed', err));
      return () => {
        cancelled = true;
        stop?.();
      };
    },
  };
}
