// Unsend (patients) / retract (doctors) and edit: which of one's own messages the menu offers
// them for (never emergencies, only inside the clinic's windows, which the server announces),
// and the words a tombstone or an edited message shows. The server decides in the end: a change
// made offline may still be refused, and the bubble then says so (`changeNotice`).

import { formatShortDate } from './format';
import type { Edited, LocalMessage, MessageWindows, Role } from '../types';

export interface ChangeContext {
  message: LocalMessage;
  /** The signed-in user sent it. */
  mine: boolean;
  /** The signed-in user's role (patients unsend, doctors retract). */
  role: Role;
  /** The clinic's windows (null: the server allows no changes, or has not said yet). */
  windows: MessageWindows | null | undefined;
  /** Milliseconds since the epoch. */
  now: number;
}

/** "Unsend" for patients, "Retract" for doctors. */
export function unsendLabel(role: Role): 'Unsend' | 'Retract' {
  return role === 'DOCTOR' ? 'Retract' : 'Unsend';
}

/** The clinic's windows when `message` is one's own and may change at all. */
function changeable({ message, mine, windows }: ChangeContext): MessageWindows | null {
  const ok = mine && !!message.id && !message.isEmergency && !message.retracted && !message.pendingChange;
  return ok && windows ? windows : null;
}

function within(message: LocalMessage, secs: number, now: number): boolean {
  return now < new Date(message.createdAt).getTime() + secs * 1000;
}

/** Whether the menu offers to unsend (retract) this message. */
export function canUnsend(ctx: ChangeContext): boolean {
  const windows = changeable(ctx);
  if (!windows) return false;
  const secs = ctx.role === 'DOCTOR' ? windows.retractSecs : windows.unsendSecs;
  return within(ctx.message, secs, ctx.now);
}

/** Whether the menu offers to take this message back as sent to the wrong person: one's own,
 * at any age once its window to unsend (retract) has passed, with a reason (the server keeps
 * the original sealed, as for any unsend). */
export function canTakeBackMisdirected(ctx: ChangeContext): boolean {
  return !!changeable(ctx) && !canUnsend(ctx);
}

/** Which version a copy's text is: 1 until the first edit. */
export function versionOf(m: { edited?: Edited | null }): number {
  return m.edited?.version ?? 1;
}

/** Whether the menu offers to edit this message. */
export function canEdit(ctx: ChangeContext): boolean {
  const windows = changeable(ctx);
  if (!windows) return false;
  const version = versionOf(ctx.message);
  return within(ctx.message, windows.editSecs, ctx.now) && version <= windows.maxEdits;
}

/** "Message unsent by Alice Martin at 14:05" ("retracted" when a doctor sent it). */
export function tombstoneText(senderName: string, senderRole: Role, at: string, now?: Date): string {
  const verb = senderRole === 'DOCTOR' ? 'retracted' : 'unsent';
  return `Message ${verb} by ${senderName} at ${formatShortDate(at, now)}`;
}

/** Who answered a message before its latest edit: `me` (the signed-in user), `other`, or none. */
export type ReplyBeforeEdit = 'me' | 'other' | null;

/**
 * Whether the other side wrote in the conversation after a message and before its latest edit:
 * that reply may answer words that are no longer there, so the edit is said louder.
 */
export function replyBeforeEdit(
  message: LocalMessage,
  list: readonly LocalMessage[],
  me: string | null | undefined,
): ReplyBeforeEdit {
  const { edited, retracted, seq } = message;
  if (!edited || retracted || seq == null) return null;
  const editedAt = new Date(edited.at).getTime();
  const replies = list.filter(
    (n) =>
      n.senderId !== message.senderId &&
      n.seq != null &&
      n.seq > seq &&
      new Date(n.createdAt).getTime() < editedAt,
  );
  if (replies.length === 0) return null;
  return replies.some((n) => n.senderId === me) ? 'me' : 'other';
}

/** "edited 14:05", or "edited after your reply, 14:05". */
export function editedText(at: string, now?: Date, reply: ReplyBeforeEdit = null): string {
  const when = formatShortDate(at, now);
  if (reply === 'me') return `edited after your reply, ${when}`;
  if (reply === 'other') return `edited after a reply, ${when}`;
  return `edited ${when}`;
}
