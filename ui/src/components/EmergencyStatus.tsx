// What the patient sees about their latest emergency: sending / received / acknowledged by
// Dr. X / resolved.

import { useMemo } from 'react';
import { emergencyStatus, latestEmergency } from '../logic/emergency';
import { useChat } from '../store/hooks';
import type { ConversationKey, LocalMessage } from '../types';

export function EmergencyStatus({
  conversation,
  items,
}: {
  conversation: ConversationKey;
  items: LocalMessage[];
}) {
  const emergencies = useChat((s) => s.emergencies);
  const view = useMemo(() => {
    const pending =
      [...items].reverse().find((m) => m.isEmergency && (m.status === 'SENDING' || m.status === 'FAILED')) ??
      null;
    return emergencyStatus(latestEmergency(emergencies, conversation), pending);
  }, [emergencies, conversation, items]);
  if (!view) return null;
  return (
    <div
      className={`emergency-status tone-${view.tone}`}
      data-testid="emergency-status"
      data-state={view.tone}
      role="status"
      aria-live="assertive"
    >
      <span aria-hidden="true">{view.tone === 'resolved' ? '✓' : '⚠'}</span> {view.text}
    </div>
  );
}
