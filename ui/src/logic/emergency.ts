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

/** Not yet resolved; unacknowledged ones first, then oldest first (the longest wait on top). */
export function openEmergencies(list: readonly Emergency[]): Emergency[] {
  return list
    .filter((e) => e.state !== 'RESOLVED')
    .sort((a, b) => {
      if (a.state !== b.state) return a.state === 'RAISED' ? -1 : 1;
      return a.raisedAt < b.raisedAt ? -1 : a.raisedAt > b.raisedAt ? 1 : 0;
    });
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
