// Conversation keys. The list itself (order, unread counts) comes whole from the client core;
// the page holds its order only while the pointer is over it (`keepOrder`).

import type { Contact, Conversation, ConversationKey, User } from '../types';

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

/**
 * `next` in the order the rows had when the pointer came over the list (`held`, their keys),
 * so a message arriving does not move a row away from under a click; rows new since go after
 * them. The core's order comes back when the pointer leaves.
 */
export function keepOrder(held: readonly string[], next: readonly Conversation[]): Conversation[] {
  const at = new Map(held.map((k, i) => [k, i]));
  const place = (c: Conversation) => at.get(keyOf(c)) ?? held.length;
  // A stable sort: new rows keep the core's order among themselves.
  return [...next].sort((a, b) => place(a) - place(b));
}

/** Messages to me not read yet, in every conversation (the tray's count too). */
export function totalUnread(list: readonly Conversation[]): number {
  return list.reduce((n, c) => n + c.unreadCount, 0);
}

/** The conversation list's line under a name: the last message, or what became of it. */
export function preview(c: Conversation, me: User): string {
  const m = c.lastMessage;
  if (!m) return me.role === 'PATIENT' ? 'Start a conversation' : 'No messages yet';
  const mine = m.senderId === me.id;
  if (m.retracted) {
    const verb = (mine ? me.role : c.otherParty.role) === 'DOCTOR' ? 'retracted' : 'unsent';
    return mine ? `You ${verb} a message` : `Message ${verb}`;
  }
  const body = m.content || (m.fileName ? `Attachment: ${m.fileName}` : '');
  // A send parked after a refusal waits for Retry or Discard in its conversation: the list says
  // so, or it reads as sent.
  if (mine && m.status === 'FAILED') return `Not sent: ${body}`;
  return mine ? `You: ${body}` : body;
}

/** Letters as a person types them: lower case, without accents ("José" is found by "jose"). */
function folded(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/**
 * Whether the row of `c` is one a person looking for `query` means: every word typed starts a
 * word of the other person's name, or is in their username. A blank query matches every row.
 */
export function matchesFind(c: Conversation, query: string): boolean {
  const words = folded(query).split(/\s+/).filter(Boolean);
  const name = folded(c.otherParty.name).split(/[\s.'-]+/);
  const username = folded(c.otherParty.username);
  return words.every((w) => name.some((n) => n.startsWith(w)) || username.includes(w));
}
