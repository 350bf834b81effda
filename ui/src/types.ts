// The types the UI exchanges with the desktop shell. Everything that crosses the boundary is
// generated from the Rust types (generated/bindings.ts, checked by a Rust test); what is here is
// only the UI's own argument shapes and names for parts of the generated ones.

import type {
  CommandError,
  ConversationKey,
  MessageId,
  PickedFile,
  SessionInfo,
  UiEvent,
} from './generated/bindings';

export type * from './generated/bindings';

/** The signed-in session the shell keeps (the token stays in Rust and the OS keyring). */
export type Session = SessionInfo;

/** One event on the subscription's channel, by its `type`. */
export type UiEventOf<T extends UiEvent['type']> = Extract<UiEvent, { type: T }>;

export interface LoginArgs {
  serverUrl: string;
  username: string;
  password: string;
  /** The server's pairing code the user typed (needed the first time this app meets an `https://` server). */
  pin?: string;
}

export interface LoadMessagesArgs extends ConversationKey {
  /** Only messages with a smaller seq (older); omit for the newest page. */
  beforeSeq?: number;
  limit: number;
}

export interface UnsendArgs {
  messageId: MessageId;
  /** Why (kept sealed on the server, never shown to the other side); needed when misdirected. */
  reason?: string | null;
  /** Sent to the wrong person: allowed at any age, with a reason. */
  misdirected: boolean;
}

export interface EditArgs {
  messageId: MessageId;
  content: string;
}

export interface MarkReadArgs extends ConversationKey {
  /** The newest message the user saw; it and everything before it addressed to them is read. */
  messageId: MessageId;
}

export interface SendMessageArgs extends ConversationKey {
  content: string;
  isEmergency: boolean;
  /** A file on this machine to upload and attach (from pickFile or a drop). */
  attachmentPath?: string;
}

export interface SearchArgs {
  query: string;
  /** Only this conversation (both or neither). */
  patientId?: string;
  doctorId?: string;
  /** A previous page's `nextCursor`. */
  cursor?: string;
}

export type FileDropEvent =
  | { kind: 'over' }
  | { kind: 'leave' }
  | { kind: 'drop'; files: PickedFile[] }
  /** A dropped file the shell would not take (too large, not a file): why, as its error. */
  | { kind: 'refused'; error: unknown };

/**
 * What a failed command rejects with (the Tauri implementation normalises every rejection): a
 * protocol error code ("unauthorized", "conflict", ...) or a desktop one ("network", "keyring",
 * "not_paired", ...), a sentence, and with `not_paired` the server's pairing code.
 */
export type BackendErrorBody = CommandError;

export const MESSAGE_STATUSES = ['SENDING', 'SENT', 'DELIVERED', 'READ', 'FAILED'] as const;
