// The shape of the UI's state, and its starting value.

import { DEFAULT_SETTINGS } from '../logic/settings';
import type { TypingMap } from '../logic/typing';
import type {
  ClientId,
  ConnectionStatus,
  Contact,
  Conversation,
  ConversationKey,
  Emergency,
  LocalMessage,
  Session,
  Settings,
  UserId,
} from '../types';

export interface ConversationMessages {
  /** Sorted oldest first (see compareMessages). */
  items: LocalMessage[];
  /** Older messages may exist before items[0]. */
  hasOlder: boolean;
  loadingOlder: boolean;
  /** The first page has arrived. */
  loaded: boolean;
}

export interface UploadProgress {
  sent: number;
  total: number;
}

export type Phase = 'starting' | 'login' | 'ready';

export interface ChatState {
  phase: Phase;
  session: Session | null;
  /** Why the last login failed, or why the session ended. */
  loginError: string | null;
  loggingIn: boolean;
  connection: ConnectionStatus;
  conversations: Conversation[];
  contacts: Contact[];
  active: ConversationKey | null;
  /** By conversation key (keyOf). */
  messages: Record<string, ConversationMessages>;
  typing: TypingMap;
  /** Live presence; falls back to Contact.online. */
  presence: Record<UserId, boolean>;
  /** Emergencies known to this session (open ones, and resolved ones seen live). */
  emergencies: Emergency[];
  /** This device is sounding an emergency alarm. */
  alerting: boolean;
  uploads: Record<ClientId, UploadProgress>;
  settings: Settings;
  /** A transient problem to show in a toast. */
  notice: string | null;
}

export const EMPTY_MESSAGES: ConversationMessages = {
  items: [],
  hasOlder: false,
  loadingOlder: false,
  loaded: false,
};

export function initialState(): ChatState {
  return {
    phase: 'starting',
    session: null,
    loginError: null,
    loggingIn: false,
    connection: { state: 'connecting', queued: 0 },
    conversations: [],
    contacts: [],
    active: null,
    messages: {},
    typing: {},
    presence: {},
    emergencies: [],
    alerting: false,
    uploads: {},
    settings: DEFAULT_SETTINGS,
    notice: null,
  };
}
