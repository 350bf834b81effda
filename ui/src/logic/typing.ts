// Typing indicators: debounced start/stop for my typing; who else is typing (as the client core
// reports it, timeouts included).

import type { ConversationKey, UiEventOf, UserId } from '../types';
import { keyOf } from './conversations';

/** I stop "typing" this long after my last keystroke. */
export const TYPING_IDLE_MS = 3000;
/**
 * While I keep typing, "typing" is said again this often: peers end an indicator that is not
 * refreshed (the client core's typing timeout, 6 s), so it must not vanish mid-sentence.
 */
export const TYPING_REFRESH_MS = 2500;
type TypingChange = Omit<UiEventOf<'typing'>, 'type'>;

/**
 * Turns keystrokes into one `typing: true` (repeated every few seconds while typing goes on)
 * and, after a pause (or on send/blur), one `typing: false`, instead of a frame per key.
 */
export class TypingSender {
  private typing = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When `typing: true` was last said. */
  private saidAt = 0;

  private readonly send: (typing: boolean) => void;
  private readonly idleMs: number;
  private readonly refreshMs: number;

  constructor(send: (typing: boolean) => void, idleMs = TYPING_IDLE_MS, refreshMs = TYPING_REFRESH_MS) {
    this.send = send;
    this.idleMs = idleMs;
    this.refreshMs = refreshMs;
  }

  /** Call on every edit of the input. */
  input(): void {
    const now = Date.now();
    if (!this.typing || now - this.saidAt >= this.refreshMs) {
      this.typing = true;
      this.saidAt = now;
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
