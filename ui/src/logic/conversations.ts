// The conversation list: keys, ordering (emergency first, then most recent), live updates.

import type { Contact, Conversation, ConversationKey, Emergency, LocalMessage, User } from '../types';

/** A stable string for a (patient, doctor) pair, for maps and test ids. */
export function keyOf(k: ConversationKey): string {
  return `${k.patientId}|${k.doctorId}`;
}

export function sameKey(a: ConversationKey | null | undefined, b: ConversationKey): boolean {
  return !!a && a.patientId === b.patientId && a.doctorId === b.doctorId;
}

/** The conversation between `me` and `other`, whichever of us is the patient. */
export function keyWith(me: User, other: Contact): ConversationKey {
  return me.role === 'PATIENT'
    ? { patientId: me.id, doctorId: other.id }
    : { patientId: other.id, doctorId: me.id };
}

function lastActivity(c: Conversation): string {
  return c.lastMessage?.createdAt ?? '';
}

/** Open emergencies first, then most recent activity, then name. */
export function compareConversations(a: Conversation, b: Conversation): number {
  if (a.hasEmergency !== b.hasEmergency) return a.hasEmergency ? -1 : 1;
  const la = lastActivity(a);
  const lb = lastActivity(b);
  if (la !== lb) return la > lb ? -1 : 1;
  return a.otherParty.name.localeCompare(b.otherParty.name);
}

export function sortConversations(list: readonly Conversation[]): Conversation[] {
  return list.slice().sort(compareConversations);
}

/**
 * The list a user sees: their conversations plus every contact they have not talked to yet
 * (a patient sees all the clinic's doctors), sorted.
 */
export function withContacts(
  conversations: readonly Conversation[],
  contacts: readonly Contact[],
  me: User,
): Conversation[] {
  const seen = new Set(conversations.map((c) => c.otherParty.id));
  const extra: Conversation[] = contacts
    .filter((c) => !seen.has(c.id) && c.id !== me.id)
    .map((c) => ({ ...keyWith(me, c), otherParty: c, unreadCount: 0, hasEmergency: false }));
  return sortConversations([...conversations, ...extra]);
}

/**
 * Applies a live message to the list: new last message, and one more unread when it is a new
 * message to me in a conversation I am not looking at.
 */
export function applyMessage(
  list: readonly Conversation[],
  msg: LocalMessage,
  me: User,
  active: ConversationKey | null,
): Conversation[] {
  const idx = list.findIndex((c) => sameKey(c, msg));
  if (idx < 0) return list.slice();
  const conv = list[idx];
  const last = conv.lastMessage;
  const isUpdate = !!last && last.clientId === msg.clientId;
  const isNewer =
    !last ||
    isUpdate ||
    (msg.seq !== null && (last.seq === null || msg.seq > last.seq)) ||
    (msg.seq === null && msg.createdAt >= last.createdAt);
  if (!isNewer) return list.slice();
  const unread = !isUpdate && msg.senderId !== me.id && msg.status !== 'READ' && !sameKey(active, msg);
  const next = list.slice();
  next[idx] = {
    ...conv,
    lastMessage: msg,
    unreadCount: conv.unreadCount + (unread ? 1 : 0),
  };
  return sortConversations(next);
}

/** Marks a conversation as read (locally, after mark_read). */
export function clearUnread(list: readonly Conversation[], key: ConversationKey): Conversation[] {
  return list.map((c) => (sameKey(c, key) && c.unreadCount > 0 ? { ...c, unreadCount: 0 } : c));
}

/** Reflects an emergency's state in its conversation's badge and ordering. */
export function applyEmergency(list: readonly Conversation[], e: Emergency): Conversation[] {
  const open = e.state !== 'RESOLVED';
  const next = list.map((c) => {
    if (!sameKey(c, e)) return c;
    if (!open && c.emergency && c.emergency.id !== e.id) return c;
    return { ...c, hasEmergency: open, emergency: open ? e : null };
  });
  return sortConversations(next);
}

export function totalUnread(list: readonly Conversation[]): number {
  return list.reduce((n, c) => n + c.unreadCount, 0);
}
