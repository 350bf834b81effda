import { describe, expect, it } from 'vitest';
import { PEER_STATUS_TEXT, peerStatus } from './presence';

describe('peerStatus', () => {
  it('is unknown while this app is not connected, whatever the list said', () => {
    expect(peerStatus(false, true, 'AVAILABLE')).toBe('unknown');
    expect(peerStatus(false, false, null)).toBe('unknown');
    expect(PEER_STATUS_TEXT.unknown).not.toMatch(/offline/i);
  });
  it('shows do not disturb instead of online, and offline wins over it', () => {
    expect(peerStatus(true, true, 'DO_NOT_DISTURB')).toBe('dnd');
    expect(peerStatus(true, true, 'AVAILABLE')).toBe('online');
    expect(peerStatus(true, true, undefined)).toBe('online');
    expect(peerStatus(true, false, 'DO_NOT_DISTURB')).toBe('offline');
  });
});
