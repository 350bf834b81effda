// What the patient sees about their latest emergency: sending / received / "Dr. X is on it"
// / resolved; and when the app cannot get help in time (offline, not sent, nobody has
// answered after the repeat interval), how long it has been and the number to call. A doctor
// other than this conversation's who took or resolved it writes in their own conversation with
// her: the line opens that one.

import { useMemo } from 'react';
import { keyOf } from '../logic/conversations';
import { emergencyStatus, latestEmergency, newestPressWritten } from '../logic/emergency';
import { useChat, useStore } from '../store/hooks';
import type { ConversationKey, LocalMessage } from '../types';
import { useNow } from './useNow';

/** The elapsed time is redrawn this often. */
const TICK_MS = 5_000;

export function EmergencyStatus({
  conversation,
  items,
}: {
  conversation: ConversationKey;
  items: LocalMessage[];
}) {
  const store = useStore();
  const emergencies = useChat((s) => s.emergencies);
  // Resolved ones the cache had when the conversation opened (after a restart, an unlock).
  const cached = useChat((s) => s.resolutions[keyOf(conversation)]);
  const clinic = useChat((s) => s.clinic);
  const online = useChat((s) => s.connection.state === 'online');
  const notYourServer = useChat((s) => s.connection.notYourServer);
  const pending = useMemo(
    () =>
      [...items].reverse().find((m) => m.isEmergency && (m.status === 'SENDING' || m.status === 'FAILED')) ??
      null,
    [items],
  );
  const newestPress = useMemo(() => newestPressWritten(items), [items]);
  const latest = useMemo(
    () => latestEmergency([...(cached ?? []), ...emergencies], conversation),
    [cached, emergencies, conversation],
  );
  const now = useNow(TICK_MS, `${latest?.id ?? ''}|${latest?.state ?? ''}|${pending?.clientId ?? ''}`);
  const view = emergencyStatus(latest, pending, { now, clinic, online, notYourServer, newestPress });
  if (!view) return null;
  const taker =
    latest?.state === 'ACKNOWLEDGED'
      ? latest.acknowledgedBy
      : latest?.state === 'RESOLVED'
        ? latest.resolvedBy
        : null;
  const elsewhere = taker && taker !== conversation.doctorId ? { id: taker } : null;
  return (
    <div
      className={`emergency-status tone-${view.tone}`}
      data-testid="emergency-status"
      data-state={view.tone}
      role="status"
      aria-live="assertive"
    >
      <span aria-hidden="true">{view.tone === 'resolved' ? '✓' : '⚠'}</span> {view.text}
      {elsewhere && !/[.…:]$/.test(view.text) && '.'}
      {view.call && (
        <span className="emergency-call">
          {' '}
          If you need help now, call <strong data-testid="emergency-phone">{view.call}</strong>.
        </span>
      )}
      {elsewhere && (
        <>
          {' '}
          <button
            type="button"
            className="link-button"
            data-testid="emergency-open-taker"
            onClick={() => void store.select({ patientId: conversation.patientId, doctorId: elsewhere.id })}
          >
            They write to you in your conversation with them: open it
          </button>
        </>
      )}
    </div>
  );
}
