// Every type the UI exchanges with the desktop shell (src-tauri), in one place.
//
// The wire records mirror protocol/src/model.rs (camelCase JSON, ids as opaque strings, times as
// RFC 3339 UTC strings). The rest (Session, Settings, ConnectionStatus, event payloads) is the
// desktop contract documented in docs/desktop-api.md.

export type UserId = string;
export type MessageId = string;
export type ClientId = string;
export type EmergencyId = string;
/** RFC 3339 UTC timestamp, e.g. "2026-11-24T09:30:00Z". */
export type Timestamp = string;

export type Role = 'PATIENT' | 'DOCTOR' | 'ADMIN';

export interface User {
  id: UserId;
  username: string;
  name: string;
  role: Role;
}

/** Another person one can talk to: a doctor for a patient, a patient for a doctor. */
export interface Contact {
  id: UserId;
  username: string;
  name: string;
  role: Role;
  /** Patients only, and only shown to doctors ("YYYY-MM-DD"). */
  dateOfBirth?: string | null;
  age?: number | null;
  bloodGroup?: string | null;
  online: boolean;
}

/** A conversation is the pair (patient, doctor); there is exactly one per pair. */
export interface ConversationKey {
  patientId: UserId;
  doctorId: UserId;
}

export type MessageType = 'REGULAR' | 'EMERGENCY' | 'FILE' | 'SYSTEM';

/** SENT, DELIVERED, READ come from the server; SENDING and FAILED exist only in the local cache. */
export type MessageStatus = 'SENDING' | 'SENT' | 'DELIVERED' | 'READ' | 'FAILED';

export const MESSAGE_STATUSES: readonly MessageStatus[] = ['SENDING', 'SENT', 'DELIVERED', 'READ', 'FAILED'];

/** A stored message, as the server sends it. */
export interface Message extends ConversationKey {
  id: MessageId;
  seq: number;
  clientId: ClientId;
  senderId: UserId;
  content: string;
  messageType: MessageType;
  status: MessageStatus;
  fileUrl?: string | null;
  fileName?: string | null;
  fileSize?: number | null;
  fileType?: string | null;
  isEmergency: boolean;
  resolvedAt?: Timestamp | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  deliveredAt?: Timestamp | null;
  readAt?: Timestamp | null;
}

/**
 * A message in the client's local cache: a Message whose `id` and `seq` are null until the server
 * acknowledged it. `clientId` is always set and is the key the UI merges on.
 */
export interface LocalMessage extends Omit<Message, 'id' | 'seq'> {
  id: MessageId | null;
  seq: number | null;
  /** Why the message is FAILED (for people, shown next to Retry). */
  error?: string | null;
  /** The file on this machine that is being (or was) uploaded with this message. */
  localFilePath?: string | null;
}

/** One entry of list_conversations. */
export interface Conversation extends ConversationKey {
  otherParty: Contact;
  lastMessage?: LocalMessage | null;
  unreadCount: number;
  hasEmergency: boolean;
  emergency?: Emergency | null;
}

export type EmergencyState = 'RAISED' | 'ACKNOWLEDGED' | 'RESOLVED';

export interface Emergency extends ConversationKey {
  id: EmergencyId;
  messageId: MessageId;
  patientName: string;
  state: EmergencyState;
  raisedAt: Timestamp;
  escalatedAt?: Timestamp | null;
  acknowledgedBy?: UserId | null;
  acknowledgedByName?: string | null;
  acknowledgedAt?: Timestamp | null;
  resolvedBy?: UserId | null;
  resolvedAt?: Timestamp | null;
  resolutionNote?: string | null;
}

export type NotificationKind = 'NEW_MESSAGE' | 'EMERGENCY' | 'EMERGENCY_UPDATE' | 'OTHER';

export interface Notification {
  id: string;
  userId: UserId;
  kind: NotificationKind;
  title: string;
  body: string;
  messageId?: MessageId | null;
  patientId?: UserId | null;
  doctorId?: UserId | null;
  read: boolean;
  createdAt: Timestamp;
}

export type Availability = 'AVAILABLE' | 'DO_NOT_DISTURB';

// ---- Desktop contract (not on the wire) ----

/** The signed-in session the shell keeps (the token stays in Rust and the OS keyring). */
export interface Session {
  serverUrl: string;
  user: User;
}

export interface LoginArgs {
  serverUrl: string;
  username: string;
  password: string;
}

export interface LoadMessagesArgs extends ConversationKey {
  /** Only messages with a smaller seq (older); omit for the newest page. */
  beforeSeq?: number;
  limit: number;
}

export interface SendMessageArgs extends ConversationKey {
  content: string;
  isEmergency: boolean;
  /** A file on this machine to upload and attach (from pickFile or a drop). */
  attachmentPath?: string;
}

export interface Settings {
  /** Off by default: notifications then name the sender only. */
  showMessageContent: boolean;
  /** Start the app when the user logs in to the OS (opt-in). */
  startOnLogin: boolean;
  /** Doctors only; patients ignore it. */
  availability: Availability;
}

export type ConnectionState = 'online' | 'connecting' | 'offline';

export interface ConnectionStatus {
  state: ConnectionState;
  /** Reconnect attempt number while `connecting` after a loss (1, 2, ...); absent on first connect. */
  attempt?: number | null;
  /** Messages in the outbox not yet acknowledged by the server. */
  queued: number;
  /** Why the last attempt failed, for people. */
  lastError?: string | null;
}

/** A file on this machine chosen with pickFile or dropped on the window. */
export interface PickedFile {
  path: string;
  name: string;
  size: number;
  /** MIME type guessed from the extension, e.g. "image/png", "application/pdf". */
  mimeType: string;
}

/** How an attachment can be shown: an image preview as a data: URL, when the file is an image. */
export interface AttachmentPreview {
  dataUrl: string | null;
}

// ---- Event payloads pushed by the shell ----

export interface MessageEvent {
  message: LocalMessage;
}

export interface TypingEvent extends ConversationKey {
  userId: UserId;
  typing: boolean;
}

export interface PresenceEvent {
  userId: UserId;
  online: boolean;
}

export interface EmergencyEvent {
  emergency: Emergency;
  message?: LocalMessage | null;
  /** True while this device is sounding the alarm for it. */
  alerting: boolean;
}

export interface AlarmEvent {
  /** True while this device is sounding any emergency alarm. */
  alerting: boolean;
}

export interface UploadProgressEvent {
  clientId: ClientId;
  sent: number;
  total: number;
}

export type FileDropEvent = { kind: 'over' } | { kind: 'leave' } | { kind: 'drop'; files: PickedFile[] };

export interface SessionEvent {
  session: Session | null;
  /** Why the session ended, when it did (e.g. "token revoked"). */
  reason?: string | null;
}

/** Every event name and its payload. */
export interface BackendEvents {
  connection: ConnectionStatus;
  message: MessageEvent;
  typing: TypingEvent;
  presence: PresenceEvent;
  emergency: EmergencyEvent;
  alarm: AlarmEvent;
  conversations: Record<string, never>;
  'upload-progress': UploadProgressEvent;
  session: SessionEvent;
  'open-conversation': ConversationKey;
}

export type BackendEventName = keyof BackendEvents;

/** What a failed command rejects with (the Tauri implementation normalises every rejection). */
export interface BackendErrorBody {
  /** A protocol ErrorCode ("unauthorized", "bad_request", ...) or a desktop one ("network", "keyring", "io", "not_logged_in"). */
  code: string;
  message: string;
}
