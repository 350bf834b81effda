// The doctor's quick patient info: age, blood group, date of birth, open emergency.

import { sameKey } from '../logic/conversations';
import { formatShortDate, initials } from '../logic/format';
import { useChat } from '../store/hooks';
import type { ConversationKey, Emergency } from '../types';
import { EmergencyBadge } from './EmergencyBadge';

/**
 * When the emergency came to stand as it does: raised (again, once a press reopened it), taken,
 * or resolved. "Since" the first raise read wrong for one taken again after a later press.
 */
function emergencyWhen(e: Emergency): string {
  if (e.state === 'ACKNOWLEDGED' && e.acknowledgedAt) return `taken ${formatShortDate(e.acknowledgedAt)}`;
  if (e.state === 'RESOLVED' && e.resolvedAt) return `resolved ${formatShortDate(e.resolvedAt)}`;
  if (e.reopenedAt) return `raised again ${formatShortDate(e.reopenedAt)}`;
  return `raised ${formatShortDate(e.raisedAt)}`;
}

export function PatientInfoPanel({ active }: { active: ConversationKey }) {
  const conversations = useChat((s) => s.conversations);
  const conv = conversations.find((c) => sameKey(active, c));
  if (!conv) return null;
  const p = conv.otherParty;
  return (
    <aside className="patient-info card" data-testid="patient-info" aria-label="Patient information">
      <span className="avatar avatar-large" aria-hidden="true">
        {initials(p.name)}
      </span>
      <h2>{p.name}</h2>
      <dl>
        <dt>Age</dt>
        <dd data-testid="patient-age">{p.age ?? 'unknown'}</dd>
        <dt>Blood group</dt>
        <dd data-testid="patient-blood-group">{p.bloodGroup ?? 'unknown'}</dd>
        <dt>Date of birth</dt>
        <dd>{p.dateOfBirth ?? 'unknown'}</dd>
        <dt>Username</dt>
        <dd>{p.username}</dd>
      </dl>
      {conv.emergency && (
        <div className="patient-emergency">
          <EmergencyBadge state={conv.emergency.state} />
          <span data-testid="patient-emergency-when">{emergencyWhen(conv.emergency)}</span>
        </div>
      )}
    </aside>
  );
}
