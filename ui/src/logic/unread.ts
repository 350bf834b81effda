// Which messages wait to be read. A message's status is the source of truth: the store marks read
// what the user saw (logic/receipts.ts), and the conversation list's unread counts come from the
// same status in the client core.

import type { LocalMessage, UserId } from '../types';

/**
 * Whether `m` waits for `me` to read it: the other person wrote it to `me` (in another doctor's
 * conversation, opened from an emergency, nothing is to this user), it is not read yet, and it
 * was not taken back. My own messages are never unread.
 */
export function isUnread(m: LocalMessage, me: UserId): boolean {
  return (
    m.senderId !== me && (m.patientId === me || m.doctorId === me) && m.status !== 'READ' && !m.retracted
  );
}

/** The oldest message waiting for `me` to read it, if any. */
export function firstUnread(items: readonly LocalMessage[], me: UserId): LocalMessage | null {
  return items.find((m) => isUnread(m, me)) ?? null;
}
