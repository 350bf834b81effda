// Typing indicators: debounced start/stop for my typing, expiry for other people's.

import type { ConversationKey, TypingEvent, UserId } from '../types';
import { keyOf } from './conversations';

/** I stop "typing" this long after my last keystroke. */
export const TYPING_IDLE_MS = 3000;
/** Someone else's "typing" disappears this long after we last heard it, if no stop arrives. */
export const TYPING_TIMEOUT_MS = 6000;

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

/** conversation key -> user id -> time (ms) when the indicator expires. */
export type TypingMap = Readonly<Record<string, Readonly<Record<UserId, number>>>>;

export function applyTyping(map: TypingMap, e: TypingEvent, now: number): TypingMap {
  const key = keyOf(e);
  const users = { ...(map[key] ?? {}) };
  if (e.typing) users[e.userId] = now + TYPING_TIMEOUT_MS;
  else delete users[e.userId];
  return { ...map, [key]: users };
}

/** Drops expired entries; returns the same map when nothing expired. */
export function expireTyping(map: TypingMap, now: number): TypingMap {
  let changed = false;
  const next: Record<string, Record<UserId, number>> = {};
  for (const [key, users] of Object.entries(map)) {
    const kept: Record<UserId, number> = {};
    for (const [user, until] of Object.entries(users)) {
      if (until > now) kept[user] = until;
      else changed = true;
    }
    next[key] = kept;
  }
  return changed ? next : map;
}

/** Who (other than me) is typing in a conversation right now. */
export function typingUsers(map: TypingMap, key: ConversationKey, me: UserId, now: number): UserId[] {
  const users = map[keyOf(key)] ?? {};
  return Object.entries(users)
    .filter(([user, until]) => user !== me && until > now)
    .map(([user]) => user);
}

/** The earliest expiry in the map, to schedule the next expireTyping. */
export function nextExpiry(map: TypingMap): number | null {
  let min: number | null = null;
  for (const users of Object.values(map))
    for (const until of Object.values(users)) if (min === null || until < min) min = until;
  return min;
}
