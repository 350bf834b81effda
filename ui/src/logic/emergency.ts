// Emergencies: the open list doctors see, and the status line a patient sees.

import { LOCKED_PRESS_NOTE, WRITTEN_APART_MS } from '../generated/bindings';
import type { ClinicInfo, ConversationKey, Emergency, LocalMessage, UnsentEmergency, User } from '../types';
import { sameKey } from './conversations';

/**
 * An emergency message not yet sent, without its text: when it was written, whether parked (the
 * shell's lock carries one; a `LocalMessage` is one too).
 */
export type PendingPress = UnsentEmergency;

/** ISO times compared as times (the server's may differ in their digits of a second). */
const at = (iso: string) => Date.parse(iso);

/**
 * What a locked app may hold of `e` (as the shell's `emergency_while_locked`): a patient's own,
 * without a resolution's note; nothing for a doctor.
 */
export function shownWhileLocked(e: Emergency, me: User | null | undefined): Emergency | null {
  if (me?.role !== 'PATIENT' || e.patientId !== me.id) return null;
  return { ...e, resolutionNote: null };
}

/** Since when `e` has waited for a doctor: its reopening, else its raise (as the server counts). */
export function waitingSince(e: Emergency): string {
  return e.reopenedAt ?? e.raisedAt;
}

/**
 * Whether `e` escalated while it waited this time: one reopened after a doctor took it keeps an
 * earlier escalation (its alerts still reach every doctor), but nobody failed to answer it since.
 */
export function escalatedWhileWaiting(e: Emergency): boolean {
  return !!e.escalatedAt && at(e.escalatedAt) >= at(waitingSince(e));
}

/** Inserts or replaces by id. */
export function upsertEmergency(list: readonly Emergency[], e: Emergency): Emergency[] {
  const idx = list.findIndex((x) => x.id === e.id);
  if (idx < 0) return [...list, e];
  const next = list.slice();
  next[idx] = e;
  return next;
}

/**
 * Not yet resolved, oldest first (the longest wait on top). The order depends only on when each
 * was raised, never on its state: acknowledging a row must not move the rows under the pointer
 * (the next row's Acknowledge would land where the doctor just clicked).
 */
export function openEmergencies(list: readonly Emergency[]): Emergency[] {
  return list
    .filter((e) => e.state !== 'RESOLVED')
    .sort((a, b) => at(a.raisedAt) - at(b.raisedAt) || (a.id < b.id ? -1 : 1));
}

/** The banner's title: how many are open and, when some are taken, how many still need a
 * doctor (a short window scrolls the banner, and its rows keep their places). */
export function bannerTitle(open: readonly Emergency[]): string {
  if (open.length === 1) return 'Emergency';
  const waiting = open.filter((e) => e.state === 'RAISED').length;
  const need = waiting === 1 ? '1 needs a doctor' : `${waiting} need a doctor`;
  return waiting > 0 && waiting < open.length
    ? `${open.length} emergencies · ${need}`
    : `${open.length} emergencies`;
}

/** "just now", "40 s ago", "3 min ago", "2 h 5 min ago": how long ago `ts` was, for people. */
export function formatAge(ts: string, now: number): string {
  const then = new Date(ts).getTime();
  if (Number.isNaN(then)) return '';
  const ms = Math.max(0, now - then);
  return ms < 10_000 ? 'just now' : `${formatSpan(ms)} ago`;
}

/** "40 s", "3 min", "2 h 5 min", "2 h", "2 d 3 h": a length of time, for people (rounded down). */
export function formatSpan(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1) return `${seconds} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours >= 48) return hours % 24 ? `${Math.floor(hours / 24)} d ${hours % 24} h` : `${hours / 24} d`;
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

/** The line versions before 2026-12-07 added to a press from the lock screen. */
const EARLIER_LOCKED_PRESS_NOTE = "(Sent from the lock screen of the patient's app, without their password.)";

/**
 * A press's text as its patient wrote it, and apart from it the line the app added to a press
 * from its lock screen (`aside`), which is not hers: a doctor must not read it as her words.
 * Told by its words alone (a message carries no mark of it): a patient who types them herself,
 * unlocked, at the end after a blank line, gets them shown as the app's.
 */
export function patientWords(text: string): { said: string; aside: string | null } {
  const trimmed = text.trimEnd();
  for (const note of [LOCKED_PRESS_NOTE, EARLIER_LOCKED_PRESS_NOTE]) {
    const end = `\n\n${note}`;
    if (trimmed.endsWith(end)) return { said: trimmed.slice(0, -end.length), aside: note };
  }
  return { said: text, aside: null };
}

/** A message's text cut to about `max` characters on a word boundary, and whether it was cut. */
export function previewText(text: string, max = 140): { text: string; cut: boolean } {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return { text: flat, cut: false };
  const head = flat.slice(0, max);
  const space = head.lastIndexOf(' ');
  return { text: `${(space > max / 2 ? head.slice(0, space) : head).trimEnd()}…`, cut: true };
}

/**
 * The resolved emergencies of a conversation's patient (presses in two conversations join one):
 * those the cache had when it was opened and those resolved since (heard live), one per id, the
 * live copy first.
 */
export function resolvedIn(
  emergencies: readonly Emergency[],
  cached: readonly Emergency[] | undefined,
  key: ConversationKey,
): Emergency[] {
  const live = emergencies.filter((e) => e.state === 'RESOLVED' && e.patientId === key.patientId);
  const seen = new Set(live.map((e) => e.id));
  return [...live, ...(cached ?? []).filter((e) => !seen.has(e.id))];
}

/** Where a conversation shows who resolved its emergencies and their notes. */
export interface ResolutionPlaces {
  /** Under the message at each index, oldest resolution first (several resolutions taken in
   * another doctor's conversation may fall under one message). */
  rows: Map<number, Emergency[]>;
  /** Before the first message (or in an empty conversation). */
  first: Emergency[];
}

/**
 * Where the conversation says who resolved an emergency and their note: under the newest of its
 * presses in `items`, by index. Every stored press of the patient from its raise to its
 * resolution joined it (a patient has one open emergency at a time); the presses' own
 * `resolvedAt` is not waited for, as the server stamps them without telling the sockets. A
 * resolution none of whose presses is loaded is not placed, except in the conversation of the
 * doctor who took or resolved an emergency raised in another (`doctorId`, this conversation's
 * doctor): there it goes under the newest message written by its resolution, or first when
 * none is and the conversation's start is loaded (`hasOlder` false), so that the doctor who
 * helped, and the patient in that conversation, keep its record.
 */
export function resolutionRows(
  items: readonly LocalMessage[],
  resolved: readonly Emergency[],
  doctorId: string | null = null,
  hasOlder = true,
): ResolutionPlaces {
  const rows = new Map<number, Emergency[]>();
  const first: Emergency[] = [];
  for (const e of resolved) {
    if (!e.resolvedAt) continue;
    const from = at(e.raisedAt);
    const to = at(e.resolvedAt);
    const elsewhere =
      doctorId !== null &&
      e.doctorId !== doctorId &&
      (e.acknowledgedBy === doctorId || e.resolvedBy === doctorId);
    let placed = false;
    for (let i = items.length - 1; i >= 0 && !placed; i -= 1) {
      const m = items[i];
      const t = at(m.createdAt);
      const press = m.isEmergency && m.patientId === e.patientId && t >= from;
      if (m.seq != null && t <= to && (elsewhere || press)) {
        rows.set(i, [...(rows.get(i) ?? []), e]);
        placed = true;
      }
    }
    if (!placed && elsewhere && !hasOlder) first.push(e);
  }
  const byResolution = (a: Emergency, b: Emergency) => at(a.resolvedAt ?? '') - at(b.resolvedAt ?? '');
  for (const list of rows.values()) list.sort(byResolution);
  first.sort(byResolution);
  return { rows, first };
}

/** How long the patient's status line still says who resolved her last emergency and their note
 * (the conversation keeps both under the emergency's message). */
export const RESOLVED_STATUS_MS = 24 * 3600 * 1000;

/**
 * The emergency a patient's status line tells of in a conversation: her open one, wherever it
 * was raised (a press in any conversation joins it), else the most recent of this conversation.
 * A resolved one of this conversation must not read "Resolved" above a press that joined an
 * emergency still open elsewhere.
 */
export function latestEmergency(list: readonly Emergency[], key: ConversationKey): Emergency | null {
  const newest = (found: Emergency | null, e: Emergency) =>
    !found || at(e.raisedAt) > at(found.raisedAt) ? e : found;
  const open = list
    .filter((e) => e.state !== 'RESOLVED' && e.patientId === key.patientId)
    .reduce<Emergency | null>(newest, null);
  return open ?? list.filter((e) => sameKey(e, key)).reduce<Emergency | null>(newest, null);
}

export type EmergencyTone = 'sending' | 'failed' | 'raised' | 'unanswered' | 'acknowledged' | 'resolved';

export interface EmergencyStatusView {
  tone: EmergencyTone;
  text: string;
  /** The text after a heading that already says the emergency is open (the lock screen's), where
   * `text` would repeat it ("Your emergency is open. Emergency received - ..."). */
  afterOpen?: string;
  /** Shown after the text as "If you need help now, call …": the clinic's number, or words. */
  call?: string;
}

/** A patient's app told that the server at the clinic's address is not the paired clinic's. */
export const NOT_YOUR_SERVER_PATIENT =
  "This app cannot reach your clinic's server: another server answers at its address (tell the clinic).";

/** What the patient's status line knows besides the emergency itself. */
export interface EmergencyContext {
  now: number;
  /** The clinic's settings from the server (its emergency number, the repeat interval). */
  clinic: ClinicInfo | null;
  /** The app is connected and caught up. */
  online: boolean;
  /** The server at the clinic's address is not the paired clinic's: waiting will not send it. */
  notYourServer?: boolean;
  /**
   * When the newest emergency message of the conversation on this device was written, when
   * known: a press written after the emergency reached the clinic (it joined or reopened it)
   * is not described by the emergency's own times; presses written together offline are.
   */
  newestPress?: string | null;
}

/**
 * When the newest emergency message the server has (of `items`, oldest first) was written, at
 * the earliest: one without `writtenAt` may have waited on the device up to WRITTEN_APART_MS.
 */
export function newestPressWritten(items: readonly LocalMessage[]): string | null {
  const newest = [...items].reverse().find((m) => m.isEmergency && m.id !== null);
  if (!newest) return null;
  return newest.writtenAt ?? new Date(at(newest.createdAt) - WRITTEN_APART_MS).toISOString();
}

/** The newest press of emergency `e` among `messages` (the one that raised it, or a later one). */
export function newestPress(messages: readonly LocalMessage[], e: Emergency): LocalMessage | null {
  const raised = at(e.raisedAt);
  let newest: LocalMessage | null = null;
  for (const m of messages) {
    if (!m.isEmergency || m.seq === null) continue;
    if (m.id !== e.messageId && at(m.createdAt) < raised) continue;
    if (!newest || m.seq > (newest.seq ?? 0)) newest = m;
  }
  return newest;
}

/**
 * Of the press shown for an emergency and one heard now, the one to show: the same message as it
 * is now, else the later (by seq).
 */
export function newerPress(shown: LocalMessage | undefined, heard: LocalMessage): LocalMessage {
  if (!shown || shown.id === heard.id) return heard;
  return (heard.seq ?? -1) >= (shown.seq ?? -1) ? heard : shown;
}

/** The number to tell a patient to call: the clinic's, else a plain "emergency services". */
export function emergencyNumber(clinic: ClinicInfo | null): string {
  return clinic?.emergencyPhone ?? 'your local emergency number';
}

/**
 * "raised 40 s ago"; for one whose message waited on the patient's device, when they wrote it
 * too: "you wrote it 12 min ago; it reached the clinic 40 s ago" (the clinic's alerts count
 * from then). Not after a press written later: the emergency's times are its first message's.
 * One pressed again after a doctor took it: "raised again 40 s ago" (the alerts count from then).
 */
function raisedWords(e: Emergency, ctx: EmergencyContext): string {
  if (e.reopenedAt) return `raised again ${formatAge(e.reopenedAt, ctx.now)}`;
  const raised = formatAge(e.raisedAt, ctx.now);
  const samePress = !ctx.newestPress || at(ctx.newestPress) <= at(e.raisedAt);
  return e.writtenAt && samePress
    ? `you wrote it ${formatAge(e.writtenAt, ctx.now)}; it reached the clinic ${raised}`
    : `raised ${raised}`;
}

/**
 * What the patient sees about their latest emergency: the pending message until the server has
 * it, then the emergency's state. When the app cannot get help (offline, not sent) or nobody has
 * acknowledged after one repeat interval, it says so, with the time, and the number to call.
 */
export function emergencyStatus(
  emergency: Emergency | null,
  pending: PendingPress | null,
  ctx: EmergencyContext = { now: Date.now(), clinic: null, online: true },
): EmergencyStatusView | null {
  const call = emergencyNumber(ctx.clinic);
  // A press not sent tells only when it is newer than what the open emergency waits since.
  const unsent = pending && (!emergency || at(waitingSince(emergency)) < at(pending.createdAt));
  if (unsent && pending.status === 'FAILED')
    return { tone: 'failed', text: 'Emergency not sent - press Retry.', call };
  if (unsent && pending.status === 'SENDING')
    return ctx.online
      ? { tone: 'sending', text: 'Sending emergency…' }
      : {
          tone: 'failed',
          text: ctx.notYourServer
            ? `${NOT_YOUR_SERVER_PATIENT} Your emergency goes out once the clinic has put that right (written ${formatAge(pending.createdAt, ctx.now)}).`
            : `You are offline: your emergency goes out as soon as we are connected (written ${formatAge(pending.createdAt, ctx.now)}).`,
          call,
        };
  if (!emergency) return null;
  switch (emergency.state) {
    case 'RAISED': {
      const waited = ctx.now - at(waitingSince(emergency));
      const repeatMs = (ctx.clinic?.emergencyRepeatSecs ?? 30) * 1000;
      if (waited >= repeatMs || escalatedWhileWaiting(emergency))
        return {
          tone: 'unanswered',
          text: `No doctor has answered yet (${raisedWords(emergency, ctx)}); the clinic keeps alerting them.`,
          call,
        };
      const words = raisedWords(emergency, ctx);
      return {
        tone: 'raised',
        text: `Emergency received - alerting the doctors (${words})`,
        afterOpen: `The clinic is alerting the doctors (${words})`,
      };
    }
    case 'ACKNOWLEDGED':
      return {
        tone: 'acknowledged',
        text: `${emergency.acknowledgedByName ?? 'A doctor'} is on it`,
      };
    case 'RESOLVED': {
      if (emergency.resolvedAt && ctx.now - at(emergency.resolvedAt) > RESOLVED_STATUS_MS) return null;
      const by = emergency.resolvedByName ? `Resolved by ${emergency.resolvedByName}` : 'Resolved';
      return {
        tone: 'resolved',
        text: emergency.resolutionNote ? `${by}: ${emergency.resolutionNote}` : by,
      };
    }
  }
}
