// Message list logic: ordering, insert-or-update by clientId, status merging, unread ids.

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

function sameMessage(a: LocalMessage, b: LocalMessage): boolean {
  return a.clientId === b.clientId || (a.id !== null && a.id === b.id);
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
    index.set(`c:${m.clientId}`, i);
    if (m.id !== null) index.set(`i:${m.id}`, i);
  };
  next.forEach(remember);
  for (const msg of page) {
    const i = index.get(`c:${msg.clientId}`) ?? (msg.id !== null ? index.get(`i:${msg.id}`) : undefined);
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

/** Ids of messages addressed to `me` that are not read yet. */
export function unreadIds(list: readonly LocalMessage[], me: UserId): string[] {
  const ids: string[] = [];
  for (const m of list) if (m.senderId !== me && m.id !== null && m.status !== 'READ') ids.push(m.id);
  return ids;
}
