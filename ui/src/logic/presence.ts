// What the UI says about the other person's presence. Presence is only known while this app is
// connected: with our own connection down, "Offline" would be a guess (the connection badge
// says why), so the status is unknown. A doctor on do-not-disturb shows that instead of Online.

import type { Availability } from '../types';

export type PeerStatus = 'online' | 'dnd' | 'offline' | 'unknown';

export function peerStatus(
  connected: boolean,
  online: boolean,
  availability: Availability | null | undefined,
): PeerStatus {
  if (!connected) return 'unknown';
  if (!online) return 'offline';
  return availability === 'DO_NOT_DISTURB' ? 'dnd' : 'online';
}

export const PEER_STATUS_TEXT: Record<PeerStatus, string> = {
  online: 'Online',
  dnd: 'Do not disturb',
  offline: 'Offline',
  unknown: 'Status unknown',
};

/** The dot's accessible label. */
export function peerStatusLabel(status: PeerStatus, name?: string): string {
  const who = name ? `${name} is ` : '';
  switch (status) {
    case 'online':
      return `${who}online`;
    case 'dnd':
      return `${who}online, on do not disturb`;
    case 'offline':
      return `${who}offline`;
    case 'unknown':
      return name
        ? `${name}: not known while this app is not connected`
        : 'not known while this app is not connected';
  }
}
