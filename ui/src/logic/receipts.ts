// True read receipts: a message is read only when the window has focus and the message is on
// screen. The store keeps what the message list reports as on screen and whether the window has
// focus; this decides which message a "read up to" mark names (the client core marks it and
// everything before it).

import type { LocalMessage, MessageId, UserId } from '../types';

/** What the user can see right now. */
export interface Sight {
  /** The app's window has the keyboard focus (and so is in front of the user). */
  focused: boolean;
  /** Ids of the messages shown in the open conversation's viewport now. */
  onScreen: ReadonlySet<MessageId>;
}

/**
 * The message to mark "read up to": the newest message addressed to `me`, not read yet, that is
 * on screen while the window has focus. `null` when there is nothing to mark: the window is in
 * the background, or every unread message is scrolled out of view.
 */
export function readMark(items: readonly LocalMessage[], me: UserId, sight: Sight): MessageId | null {
  if (!sight.focused || sight.onScreen.size === 0) return null;
  for (let i = items.length - 1; i >= 0; i--) {
    const m = items[i];
    if (m.senderId !== me && m.id !== null && m.status !== 'READ' && sight.onScreen.has(m.id)) return m.id;
  }
  return null;
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
