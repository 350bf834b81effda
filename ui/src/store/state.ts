// The shape of the UI's state, and its starting value. Lists and counts come from the client
// core as they are (through the shell's snapshot and events); the UI keeps only what it shows.

import { DEFAULT_SETTINGS } from '../logic/settings';
import type { TypingMap } from '../logic/typing';
import type {
  Availability,
  ClientId,
  ClinicInfo,
  DeviceCheck,
  ConnectionStatus,
  Conversation,
  ConversationKey,
  Emergency,
  EmergencyId,
  LocalMessage,
  LockStatus,
  MessageId,
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
  /** When the clinic's retention policy removed the older history (RFC 3339), if it did. */
  purgedAt?: string;
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
  /** The server's pairing code when the last sign-in found it not paired with this app yet: the
   * first sign-in's step (compare it with the paper), shown as information, not as an error. */
  serverPairingCode: string | null;
  /** The address the sign-in form offers: the server last signed in to (the profile's, as the
   * shell tells it while signed out; a session's while signed in). */
  lastServer: string;
  loggingIn: boolean;
  connection: ConnectionStatus;
  /** When the connection was last lost (ms since the epoch), while it is down; null online. */
  offlineSince: number | null;
  /** The core's list: ordered, with unread counts and contacts not talked to yet. */
  conversations: Conversation[];
  active: ConversationKey | null;
  /** By conversation key (keyOf). */
  messages: Record<string, ConversationMessages>;
  typing: TypingMap;
  /** Live presence (overrides the list's `online`). */
  presence: Record<UserId, boolean>;
  /** Live availability of doctors (overrides the list's `otherParty.availability`). */
  peerAvailability: Record<UserId, Availability>;
  /** Emergencies known to this session (open ones, and resolved ones seen live). */
  emergencies: Emergency[];
  /** Emergencies this device is sounding the alarm for. */
  ringing: EmergencyId[];
  /** By conversation key: its resolved emergencies as the cache has them (loaded with its
   * messages, dropped while locked), so who resolved each and their note stay in view. */
  resolutions: Record<string, Emergency[]>;
  /** Messages unsent, retracted or edited as heard live this session, by id (the newest 200):
   * what a list read earlier (search results) must not go on showing as it was. */
  changedMessages: Record<MessageId, LocalMessage>;
  /** Counts the times drafts came back from the shell after unlocking: fields that are empty
   * take theirs again (`ChatStore.draft`). */
  draftsBack: number;
  /** Text for the composer of conversation `key`, if it is empty (a dropped message's); `n`
   * tells one refill from the next. */
  refill: { key: string; text: string; n: number } | null;
  /**
   * The newest press of each emergency for the banner: what its latest alert carried, or what
   * the cache had after a restart (`emergencyText`).
   */
  emergencyMessages: Record<EmergencyId, LocalMessage>;
  /** A message to scroll to and highlight in its conversation ("Open chat" on the banner). */
  focus: { key: string; messageId: string } | null;
  availability: Availability;
  /** The clinic's settings from the server (its emergency phone number). */
  clinic: ClinicInfo | null;
  /** Whether this device can ring and notify (as far as it has found out). */
  device: DeviceCheck;
  uploads: Record<ClientId, UploadProgress>;
  settings: Settings;
  /** A transient problem to show in a toast. */
  notice: string | null;
  /** The app lock (null when signed out). While locked only the lock screen shows. */
  lock: LockStatus | null;
  /** When the wait after wrong tries ends (ms since the epoch, this computer's clock): the
   * lock's `waitSecs` counted from when it was told, so the lock screen can count down. */
  lockWaitUntil: number | null;
  /** Why the last unlock try failed. */
  lockError: string | null;
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
    serverPairingCode: null,
    lastServer: '',
    loggingIn: false,
    connection: {
      state: 'connecting',
      attempt: null,
      queued: 0,
      failed: 0,
      lastError: null,
      notYourServer: false,
    },
    offlineSince: null,
    conversations: [],
    active: null,
    messages: {},
    typing: {},
    presence: {},
    peerAvailability: {},
    emergencies: [],
    ringing: [],
    resolutions: {},
    changedMessages: {},
    draftsBack: 0,
    refill: null,
    emergencyMessages: {},
    focus: null,
    availability: 'AVAILABLE',
    clinic: null,
    device: {
      sound: 'untested',
      notifications: 'untested',
      notificationsSuppressed: 'unknown',
      trayHost: 'unknown',
    },
    uploads: {},
    settings: DEFAULT_SETTINGS,
    notice: null,
    lock: null,
    lockWaitUntil: null,
    lockError: null,
  };
}
