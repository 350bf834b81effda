// Message list logic: ordering, insert-or-update by id or (sender, clientId), status merging.

import type { LocalMessage, MessageStatus, UserId } from '../types';

/** Server statuses only move forward; events may arrive out of order (READ before DELIVERED). */
const SERVER_RANK: Partial<Record<MessageStatus, number>> = { SENT: 1, DELIVERED: 2, READ: 3 };

/** Acked messages in server order; pending ones (no seq yet) after them, oldest first. */
export function compareMessages(a: LocalMessage, b: LocalMessage): number {
  if (a.seq !== null && b.seq !== null) return a.seq - b.seq;
  if (a.seq !== null) return -1;
  if (b.seq !== null) return 1;
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0;
}

/**
 * The same message: the server's id when both have one, else the sender's clientId (a clientId
 * is unique only per sender, so a peer reusing mine is another message).
 */
export function sameMessage(a: LocalMessage, b: LocalMessage): boolean {
  if (a.id !== null && b.id !== null) return a.id === b.id;
  return a.senderId === b.senderId && a.clientId === b.clientId;
}

/** The status to keep when `incoming` updates `current`. */
export function mergeStatus(current: MessageStatus, incoming: MessageStatus): MessageStatus {
  const c = SERVER_RANK[current];
  const i = SERVER_RANK[incoming];
  if (c !== undefined && i !== undefined) return i >= c ? incoming : current;
  // Once the server has the message, a late local SENDING/FAILED must not hide that.
  if (c !== undefined && (incoming === 'SENDING' || incoming === 'FAILED')) return current;
  return incoming;
}

function merge(current: LocalMessage, incoming: LocalMessage): LocalMessage {
  const status = mergeStatus(current.status, incoming.status);
  return {
    ...current,
    ...incoming,
    id: incoming.id ?? current.id,
    seq: incoming.seq ?? current.seq,
    localFilePath: incoming.localFilePath ?? current.localFilePath,
    status,
    error: status === 'FAILED' ? (incoming.error ?? current.error) : null,
    errorCode: status === 'FAILED' ? (incoming.errorCode ?? current.errorCode) : null,
  };
}

/**
 * Inserts `msg` or updates the message with the same clientId (or id), keeping the list sorted.
 * Returns the same array when nothing changed, so React can skip a render.
 */
export function upsertMessage(list: readonly LocalMessage[], msg: LocalMessage): LocalMessage[] {
  const idx = list.findIndex((m) => sameMessage(m, msg));
  let next: LocalMessage[];
  if (idx >= 0) {
    const merged = merge(list[idx], msg);
    next = list.slice();
    next[idx] = merged;
    // An ack gives a seq, which can move the message; re-sort only then.
    if (list[idx].seq === merged.seq) return next;
  } else {
    next = [...list, msg];
  }
  return next.sort(compareMessages);
}

/** Upserts a page (e.g. older history) into a list: one pass and one sort, whatever the sizes. */
export function mergeMessages(list: readonly LocalMessage[], page: readonly LocalMessage[]): LocalMessage[] {
  const next = list.slice();
  const index = new Map<string, number>();
  const remember = (m: LocalMessage, i: number) => {
    index.set(`c:${m.senderId}|${m.clientId}`, i);
    if (m.id !== null) index.set(`i:${m.id}`, i);
  };
  next.forEach(remember);
  for (const msg of page) {
    const i =
      (msg.id !== null ? index.get(`i:${msg.id}`) : undefined) ??
      index.get(`c:${msg.senderId}|${msg.clientId}`);
    if (i === undefined) {
      remember(msg, next.length);
      next.push(msg);
    } else {
      next[i] = merge(next[i], msg);
      remember(next[i], i);
    }
  }
  return next.sort(compareMessages);
}

/** The smallest seq in the list, the cursor for loading the page before it. */
export function oldestSeq(list: readonly LocalMessage[]): number | undefined {
  let min: number | undefined;
  for (const m of list) if (m.seq !== null && (min === undefined || m.seq < min)) min = m.seq;
  return min;
}

/** Whether any message addressed to `me` is not read yet. */
export function hasUnread(list: readonly LocalMessage[], me: UserId): boolean {
  return list.some((m) => m.senderId !== me && m.id !== null && m.status !== 'READ');
}

/** Removes one of `sender`'s messages by its clientId (a discarded send). */
export function removeMessage(
  list: readonly LocalMessage[],
  sender: UserId,
  clientId: string,
): LocalMessage[] {
  return list.filter((m) => !(m.senderId === sender && m.clientId === clientId));
}

/** Refusals the same send gets again whatever the time: what it holds is not accepted. */
const FOR_GOOD = new Set(['unsupported_media_type', 'too_large', 'bad_request']);

/**
 * Whether Retry can help a send parked after a refusal: not when the server refused what it
 * holds (a file's type or size, a malformed text); always for an emergency, which never loses a
 * way to be sent again.
 */
export function retryCanHelp(m: LocalMessage): boolean {
  return m.isEmergency || !FOR_GOOD.has(m.errorCode ?? '');
}
