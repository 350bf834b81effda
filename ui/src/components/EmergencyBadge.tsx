// The red/orange marker of a conversation with an open emergency.

import type { EmergencyState } from '../types';

export function EmergencyBadge({ state }: { state?: EmergencyState | null }) {
  const acknowledged = state === 'ACKNOWLEDGED';
  return (
    <span
      className={`emergency-badge ${acknowledged ? 'is-acknowledged' : 'is-raised'}`}
      data-testid="emergency-badge"
      data-state={state ?? 'RAISED'}
    >
      <span aria-hidden="true">⚠</span> {acknowledged ? 'Acknowledged' : 'Emergency'}
    </span>
  );
}
