// The doctor's full-width red banner while any emergency is open: open the chat, Acknowledge,
// Resolve with a note, and silence this device's alarm.

import { useMemo, useState } from 'react';
import { openEmergencies } from '../logic/emergency';
import { formatTime } from '../logic/format';
import { useChat, useStore } from '../store/hooks';
import type { Emergency } from '../types';
import { Icon } from './Icon';

function EmergencyItem({ e }: { e: Emergency }) {
  const store = useStore();
  const [resolving, setResolving] = useState(false);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const run = async (fn: () => Promise<boolean>) => {
    setBusy(true);
    const ok = await fn();
    setBusy(false);
    return ok;
  };
  return (
    <li
      className={`banner-item state-${e.state.toLowerCase()}`}
      data-testid="emergency-item"
      data-state={e.state}
      data-emergency-id={e.id}
    >
      <span className="banner-text">
        <strong>{e.patientName}</strong>{' '}
        {e.state === 'RAISED'
          ? `needs help · raised ${formatTime(e.raisedAt)}${e.escalatedAt ? ' · escalated' : ''}`
          : `· acknowledged by ${e.acknowledgedByName ?? 'a doctor'}`}
      </span>
      <span className="banner-actions">
        <button
          type="button"
          className="banner-button"
          onClick={() => void store.select({ patientId: e.patientId, doctorId: e.doctorId })}
        >
          Open chat
        </button>
        {e.state === 'RAISED' && (
          <button
            type="button"
            className="banner-button strong"
            data-testid="emergency-acknowledge"
            disabled={busy}
            onClick={() => void run(() => store.acknowledge(e.id))}
          >
            Acknowledge
          </button>
        )}
        {!resolving && (
          <button
            type="button"
            className="banner-button"
            data-testid="emergency-resolve"
            onClick={() => setResolving(true)}
          >
            Resolve…
          </button>
        )}
      </span>
      {resolving && (
        <form
          className="banner-resolve"
          onSubmit={(ev) => {
            ev.preventDefault();
            void run(() => store.resolve(e.id, note.trim())).then((ok) => ok && setResolving(false));
          }}
        >
          <label className="sr-only" htmlFor={`note-${e.id}`}>
            Resolution note
          </label>
          <input
            id={`note-${e.id}`}
            data-testid="emergency-resolve-note"
            value={note}
            maxLength={2048}
            placeholder="What was done (e.g. called the patient, ambulance sent)"
            onChange={(ev) => setNote(ev.target.value)}
            autoFocus
          />
          <button
            type="submit"
            className="banner-button strong"
            data-testid="emergency-resolve-submit"
            disabled={busy}
          >
            Resolve
          </button>
          <button type="button" className="banner-button" onClick={() => setResolving(false)}>
            Cancel
          </button>
        </form>
      )}
    </li>
  );
}

export function EmergencyBanner() {
  const store = useStore();
  const emergencies = useChat((s) => s.emergencies);
  const alerting = useChat((s) => s.ringing.length > 0);
  const open = useMemo(() => openEmergencies(emergencies), [emergencies]);
  if (open.length === 0) return null;
  return (
    <section
      className={`emergency-banner ${alerting ? 'is-alerting' : ''}`}
      data-testid="emergency-banner"
      role="alert"
      aria-label="Open emergencies"
    >
      <div className="banner-head">
        <span className="banner-title">
          <span aria-hidden="true">⚠</span> {open.length === 1 ? 'Emergency' : `${open.length} emergencies`}
        </span>
        {alerting && (
          <button
            type="button"
            className="banner-button"
            data-testid="silence-alarm"
            onClick={() => void store.silence()}
          >
            <Icon name="bellOff" size={16} /> Silence this device
          </button>
        )}
      </div>
      <ul className="banner-list">
        {open.map((e) => (
          <EmergencyItem key={e.id} e={e} />
        ))}
      </ul>
    </section>
  );
}
