// The one door between the UI and the desktop shell: the Backend interface, and its Tauri
// implementation. Nothing else in ui/src imports @tauri-apps; components get their data from
// the store (store/chatStore.ts), which is fed by a Backend. Tests and `?fake=1` use fake/.

import { invoke, isTauri } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import { getCurrentWebview } from '@tauri-apps/api/webview';
import type {
  AlarmEvent,
  BackendErrorBody,
  BackendEventName,
  BackendEvents,
  ClientId,
  Contact,
  Conversation,
  ConversationKey,
  ConnectionStatus,
  Emergency,
  EmergencyId,
  FileDropEvent,
  LoadMessagesArgs,
  LocalMessage,
  LoginArgs,
  MessageId,
  PickedFile,
  SendMessageArgs,
  Session,
  Settings,
} from './types';

/** Stops listening. */
export type Unlisten = () => void;

export interface Backend {
  getSession(): Promise<Session | null>;
  login(args: LoginArgs): Promise<Session>;
  logout(): Promise<void>;
  listConversations(): Promise<Conversation[]>;
  listContacts(): Promise<Contact[]>;
  /** Oldest first; at most `limit` messages, all older than `beforeSeq` when given. */
  loadMessages(args: LoadMessagesArgs): Promise<LocalMessage[]>;
  /** Returns at once with the optimistic message (status SENDING); updates come as `message` events. */
  sendMessage(args: SendMessageArgs): Promise<LocalMessage>;
  retryMessage(clientId: ClientId): Promise<void>;
  markRead(key: ConversationKey, messageIds: MessageId[]): Promise<void>;
  setTyping(key: ConversationKey, typing: boolean): Promise<void>;
  acknowledgeEmergency(emergencyId: EmergencyId): Promise<void>;
  resolveEmergency(emergencyId: EmergencyId, note: string): Promise<void>;
  listOpenEmergencies(): Promise<Emergency[]>;
  silenceAlarm(): Promise<void>;
  /** Whether this device is sounding an emergency alarm right now (the `alarm` event's value). */
  alarmStatus(): Promise<AlarmEvent>;
  getSettings(): Promise<Settings>;
  setSettings(settings: Settings): Promise<Settings>;
  sendTestAlert(): Promise<void>;
  connectionStatus(): Promise<ConnectionStatus>;
  /** Native file dialog; null when the user cancels. */
  pickFile(): Promise<PickedFile | null>;
  /** Image preview of an attachment as a data: URL; null when it is not an image or not available. */
  attachmentPreview(clientId: ClientId): Promise<string | null>;
  /** Opens an attachment with the system's default application (downloading it first if needed). */
  openAttachment(clientId: ClientId): Promise<void>;
  on<E extends BackendEventName>(event: E, handler: (payload: BackendEvents[E]) => void): Unlisten;
  /** Files dragged over / dropped on the window. */
  onFileDrop(handler: (event: FileDropEvent) => void): Unlisten;
}

/** A failed command, with a machine-readable code (see docs/desktop-api.md). */
export class BackendError extends Error implements BackendErrorBody {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
  }

  /** Tauri rejects with whatever the Rust command returned as its error: an object or a string. */
  static from(raw: unknown): BackendError {
    if (raw instanceof BackendError) return raw;
    if (typeof raw === 'object' && raw !== null) {
      const rec = raw as Record<string, unknown>;
      const code = typeof rec.code === 'string' ? rec.code : 'internal';
      const message = typeof rec.message === 'string' ? rec.message : JSON.stringify(raw);
      return new BackendError(code, message);
    }
    if (typeof raw === 'string') return new BackendError('internal', raw);
    return new BackendError('internal', String(raw));
  }
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (raw) {
    throw BackendError.from(raw);
  }
}

/**
 * Adapts Tauri's async `listen` to a synchronous unlisten function: if the caller unlistens
 * before registration finished, the registration is undone as soon as it completes.
 */
function subscribe(register: () => Promise<() => void>): Unlisten {
  let stop: (() => void) | null = null;
  let cancelled = false;
  register()
    .then((fn) => {
      if (cancelled) fn();
      else stop = fn;
    })
    .catch((err: unknown) => console.error('listen failed', err));
  return () => {
    cancelled = true;
    stop?.();
  };
}

/** True inside the Tauri webview; false in a plain browser (then only the fake backend works). */
export function runningInTauri(): boolean {
  return isTauri();
}

/** The real backend: commands and events of the Tauri shell (src-tauri). */
export function createTauriBackend(): Backend {
  return {
    getSession: () => call('get_session'),
    login: (args) => call('login', { ...args }),
    logout: () => call('logout'),
    listConversations: () => call('list_conversations'),
    listContacts: () => call('list_contacts'),
    loadMessages: (args) => call('load_messages', { ...args }),
    sendMessage: (args) => call('send_message', { ...args }),
    retryMessage: (clientId) => call('retry_message', { clientId }),
    markRead: (key, messageIds) => call('mark_read', { ...key, messageIds }),
    setTyping: (key, typing) => call('set_typing', { ...key, typing }),
    acknowledgeEmergency: (emergencyId) => call('acknowledge_emergency', { emergencyId }),
    resolveEmergency: (emergencyId, note) => call('resolve_emergency', { emergencyId, note }),
    listOpenEmergencies: () => call('list_open_emergencies'),
    silenceAlarm: () => call('silence_alarm'),
    alarmStatus: () => call('alarm_status'),
    getSettings: () => call('get_settings'),
    setSettings: (settings) => call('set_settings', { settings }),
    sendTestAlert: () => call('send_test_alert'),
    connectionStatus: () => call('connection_status'),
    pickFile: () => call('pick_file'),
    attachmentPreview: (clientId) => call('attachment_preview', { clientId }),
    openAttachment: (clientId) => call('open_attachment', { clientId }),
    on: (event, handler) =>
      subscribe(() => listen<BackendEvents[typeof event]>(event, (e) => handler(e.payload))),
    onFileDrop: (handler) =>
      subscribe(() =>
        getCurrentWebview().onDragDropEvent((e) => {
          const p = e.payload;
          if (p.type === 'enter' || p.type === 'over') handler({ kind: 'over' });
          else if (p.type === 'leave') handler({ kind: 'leave' });
          else {
            // The webview only knows paths; the shell tells us name, size and type.
            Promise.all(p.paths.map((path) => call<PickedFile>('describe_file', { path })))
              .then((files) => handler({ kind: 'drop', files }))
              .catch((err: unknown) => {
                console.error('describe_file failed', err);
                handler({ kind: 'leave' });
              });
          }
        }),
      ),
  };
}
