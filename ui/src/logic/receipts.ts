// True read receipts: a message is read only when it was on screen while the window had focus.
// The store keeps what the message list reports as on screen, whether the window has focus, and
// which messages were seen so; this decides which message a "read up to" mark names (the client
// core marks it and everything before it, so the mark never goes past a message not seen).

import type { LocalMessage, MessageId, UserId } from '../types';

/** What the user can see right now, and has seen. */
export interface Sight {
  /** The app's window has the keyboard focus (and so is in front of the user). */
  focused: boolean;
  /** Ids of the messages shown in the open conversation's viewport now. */
  onScreen: ReadonlySet<MessageId>;
  /** Ids of this conversation's messages seen before (on screen while the window had focus). */
  seen?: ReadonlySet<MessageId>;
}

/**
 * The message to mark "read up to": the newest message addressed to `me`, not read yet, such that
 * it and every unread one before it were seen (on screen while the window had focus, now or
 * before). A mark "up to" reads everything before it, so it stops short of the first unread
 * message not seen: one skipped (a jump to the bottom as a reply is sent, to a search result, or
 * an opening below it) stays unread, with everything after it, until it is scrolled to. Taken-back
 * messages are nothing to read and do not hold it back. `null` when there is nothing to mark.
 */
export function readMark(items: readonly LocalMessage[], me: UserId, sight: Sight): MessageId | null {
  const seen = (id: MessageId) => (sight.focused && sight.onScreen.has(id)) || !!sight.seen?.has(id);
  let mark: MessageId | null = null;
  for (const m of items) {
    if (m.senderId === me || m.id === null || m.status === 'READ') continue;
    if (seen(m.id)) mark = m.id;
    else if (!m.retracted) break;
  }
  return mark;
}

/** Share of a message (or of the viewport, for one taller than it) that must show to count as seen. */
export const SEEN_SHARE = 0.5;

/**
 * Whether a message counts as on screen: at least half of it shows, or, for a message taller than
 * the viewport, it fills at least half of the viewport.
 */
export function isOnScreen(visibleHeight: number, height: number, viewportHeight: number): boolean {
  if (height <= 0 || viewportHeight <= 0) return false;
  return visibleHeight >= Math.min(height, viewportHeight) * SEEN_SHARE;
}
