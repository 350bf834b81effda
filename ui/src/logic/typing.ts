// Typing indicators: debounced start/stop for my typing; who else is typing (as the client core
// reports it, timeouts included).

import type { ConversationKey, UiEventOf, UserId } from '../types';
import { keyOf } from './conversations';

/** I stop "typing" this long after my last keystroke. */
export const TYPING_IDLE_MS = 3000;
type TypingChange = Omit<UiEventOf<'typing'>, 'type'>;

/**
 * Turns keystrokes into one `typing: true` and, after a pause (or on send/blur), one
 * `typing: false`, instead of a frame per key.
 */
export class TypingSender {
  private typing = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  private readonly send: (typing: boolean) => void;
  private readonly idleMs: number;

  constructor(send: (typing: boolean) => void, idleMs = TYPING_IDLE_MS) {
    this.send = send;
    this.idleMs = idleMs;
  }

  /** Call on every edit of the input. */
  input(): void {
    if (!this.typing) {
      this.typing = true;
      this.send(true);
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.stop(), this.idleMs);
  }

  /** Call on send, blur and when leaving the conversation. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.typing) {
      this.typing = false;
      this.send(false);
    }
  }
}

/** conversation key -> the users typing there now (the client core ends stale indicators). */
export type TypingMap = Readonly<Record<string, readonly UserId[]>>;

export function applyTyping(map: TypingMap, e: TypingChange): TypingMap {
  const key = keyOf(e);
  const users = (map[key] ?? []).filter((u) => u !== e.userId);
  if (e.typing) users.push(e.userId);
  return { ...map, [key]: users };
}

/** Who (other than me) is typing in a conversation right now. */
export function typingUsers(map: TypingMap, key: ConversationKey, me: UserId): UserId[] {
  return (map[keyOf(key)] ?? []).filter((u) => u !== me);
}
