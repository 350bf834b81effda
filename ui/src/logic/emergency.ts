// Emergencies: the open list doctors see, and the status line a patient sees.

import type { ConversationKey, Emergency, LocalMessage } from '../types';
import { sameKey } from './conversations';

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
    .sort((a, b) => (a.raisedAt < b.raisedAt ? -1 : a.raisedAt > b.raisedAt ? 1 : a.id < b.id ? -1 : 1));
}

/** "just now", "raised 1 min ago", "2 h 5 min": how long ago `ts` was, for people. */
export function formatAge(ts: string, now: number): string {
  const then = new Date(ts).getTime();
  if (Number.isNaN(then)) return '';
  const minutes = Math.floor(Math.max(0, now - then) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min ago` : `${hours} h ago`;
}

/** A message's text cut to about `max` characters on a word boundary, and whether it was cut. */
export function previewText(text: string, max = 140): { text: string; cut: boolean } {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return { text: flat, cut: false };
  const head = flat.slice(0, max);
  const space = head.lastIndexOf(' ');
  return { text: `${(space > max / 2 ? head.slice(0, space) : head).trimEnd()}…`, cut: true };
}

/** The most recent emergency of a conversation (open or resolved), for the patient's status. */
export function latestEmergency(list: readonly Emergency[], key: ConversationKey): Emergency | null {
  let best: Emergency | null = null;
  for (const e of list) if (sameKey(e, key) && (!best || e.raisedAt > best.raisedAt)) best = e;
  return best;
}

export type EmergencyTone = 'sending' | 'failed' | 'raised' | 'acknowledged' | 'resolved';

export interface EmergencyStatusView {
  tone: EmergencyTone;
  text: string;
}

/**
 * What the patient sees about their latest emergency: the pending message until the server has
 * it, then the emergency's state.
 */
export function emergencyStatus(
  emergency: Emergency | null,
  pending: LocalMessage | null,
): EmergencyStatusView | null {
  if (pending && pending.status === 'FAILED')
    return { tone: 'failed', text: 'Emergency not sent - press Retry or call the clinic' };
  if (pending && pending.status === 'SENDING' && (!emergency || emergency.raisedAt < pending.createdAt))
    return { tone: 'sending', text: 'Sending emergency… (it will go out as soon as we are connected)' };
  if (!emergency) return null;
  switch (emergency.state) {
    case 'RAISED':
      return { tone: 'raised', text: 'Emergency received - alerting the doctors' };
    case 'ACKNOWLEDGED':
      return {
        tone: 'acknowledged',
        text: `Acknowledged by ${emergency.acknowledgedByName ?? 'a doctor'}`,
      };
    case 'RESOLVED':
      return {
        tone: 'resolved',
        text: emergency.resolutionNote ? `Resolved: ${emergency.resolutionNote}` : 'Resolved',
      };
  }
}
