// A dot for the other person's presence: green online, amber on do not disturb, grey offline,
// hollow when this app is not connected (then nobody's presence is known).

import { peerStatusLabel, type PeerStatus } from '../logic/presence';

export function OnlineStatus({ status, label }: { status: PeerStatus; label?: string }) {
  const text = peerStatusLabel(status, label);
  return (
    <span
      className={`online-dot is-${status}`}
      data-testid="online-status"
      data-online={status === 'online' || status === 'dnd'}
      data-status={status}
      role="img"
      aria-label={text}
      title={text}
    />
  );
}
