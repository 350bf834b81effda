// The patient's emergency button: a confirm dialog, then an emergency message to the doctor.

import { useEffect, useRef, useState } from 'react';
import { emergencyNumber, openEmergencies } from '../logic/emergency';
import { useChat, useStore } from '../store/hooks';

export const DEFAULT_EMERGENCY_TEXT = 'EMERGENCY: I need urgent help.';

export function EmergencyButton() {
  const store = useStore();
  const clinic = useChat((s) => s.clinic);
  const online = useChat((s) => s.connection.state === 'online');
  // A patient's app holds only her own emergencies.
  const pending = useChat((s) => openEmergencies(s.emergencies).at(-1) ?? null);
  const [open, setOpen] = useState(false);
  const [text, setText] = useState('');
  const dialogRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (open) dialogRef.current?.querySelector('textarea')?.focus();
  }, [open]);

  const confirm = () => {
    void store.send(text.trim() || DEFAULT_EMERGENCY_TEXT, null, true);
    setOpen(false);
    setText('');
  };

  return (
    <>
      <button
        type="button"
        className="emergency-button"
        data-testid="emergency-button"
        onClick={() => setOpen(true)}
      >
        ⚠ Emergency
      </button>
      {open && (
        <div className="modal-backdrop" onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}>
          <div
            className="modal card emergency-confirm"
            role="alertdialog"
            aria-modal="true"
            aria-labelledby="emergency-title"
            data-testid="emergency-confirm"
            ref={dialogRef}
          >
            <h2 id="emergency-title">Send an emergency alert?</h2>
            <p>
              Your doctors will be alerted at once with a repeating alarm. If your life is in danger, also
              call <strong data-testid="emergency-dialog-phone">{emergencyNumber(clinic)}</strong>.
            </p>
            {pending && (
              <p data-testid="emergency-dialog-open">
                {pending.state === 'ACKNOWLEDGED'
                  ? `${pending.acknowledgedByName ?? 'A doctor'} is already on your emergency: sending this alerts your doctors again.`
                  : 'Your emergency is already open: this adds to it and alerts your doctors again.'}
              </p>
            )}
            {!online && (
              <p className="emergency-offline" data-testid="emergency-dialog-offline">
                You are offline: the alert goes out as soon as we are connected. Call{' '}
                {emergencyNumber(clinic)} now if you need help.
              </p>
            )}
            <label className="field">
              <span>What is happening? (optional)</span>
              <textarea
                data-testid="emergency-text"
                value={text}
                onChange={(e) => setText(e.target.value)}
                rows={3}
                placeholder={DEFAULT_EMERGENCY_TEXT}
              />
            </label>
            <div className="modal-actions">
              <button
                type="button"
                className="secondary-button"
                data-testid="emergency-cancel"
                onClick={() => setOpen(false)}
              >
                Cancel
              </button>
              <button
                type="button"
                className="danger-button"
                data-testid="emergency-confirm-send"
                onClick={confirm}
              >
                Send emergency
              </button>
            </div>
          </div>
        </div>
      )}
    </>
  );
}
