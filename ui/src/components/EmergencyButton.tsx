// The patient's emergency button: a confirm dialog, then an emergency message to the doctor of
// the open conversation, or (`onSend`: on the lock screen, with no conversation open) to the one
// the shell chooses.

import { type RefObject, useEffect, useRef, useState } from 'react';
import { MAX_CONTENT_BYTES } from '../generated/bindings';
import { emergencyNumber, NOT_YOUR_SERVER_PATIENT, openEmergencies } from '../logic/emergency';
import { byteLength } from '../logic/format';
import { useChat, useStore } from '../store/hooks';
import { useDialog } from './useDialog';

export const DEFAULT_EMERGENCY_TEXT = 'EMERGENCY: I need urgent help.';
/** What a press from the lock screen may hold, in characters (the core keeps 1,000 bytes, at
 * most 4 a character). */
const LOCKED_PRESS_CHARS = 250;

export function EmergencyButton({
  onSend,
  onClose,
  locked = false,
}: {
  /** Sends it elsewhere than the open conversation (the lock screen, no conversation open):
   * `null` once queued, else why not (the dialog stays open with the words written). */
  onSend?: (text: string) => Promise<string | null>;
  /** The dialog closed (sent or cancelled). */
  onClose?: () => void;
  /** On the lock screen: a few sentences, one press waiting offline at a time, and nothing
   * written kept once the dialog closes. */
  locked?: boolean;
}) {
  const store = useStore();
  const clinic = useChat((s) => s.clinic);
  const online = useChat((s) => s.connection.state === 'online');
  const notYourServer = useChat((s) => s.connection.notYourServer);
  // A patient's app holds only her own emergencies.
  const pending = useChat((s) => openEmergencies(s.emergencies).at(-1) ?? null);
  // From the lock screen, offline, with a press already waiting to be sent: the core refuses
  // another (it would only queue behind it), so the dialog says so before anything is written.
  const waiting = useChat(
    (s) => locked && s.connection.state !== 'online' && s.lock?.unsentEmergency?.status === 'SENDING',
  );
  const [open, setOpenNow] = useState(false);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const setOpen = (value: boolean) => {
    setOpenNow(value);
    setError(null);
    if (!value) {
      // On the lock screen what was written and not sent goes with the dialog: the next person
      // at this computer must not read it.
      if (locked) setText('');
      onClose?.();
    }
  };
  const dialogRef = useRef<HTMLDivElement>(null);
  // The server refuses a longer one for good: it could only be parked, never sent.
  const tooLong = byteLength(text.trim()) > MAX_CONTENT_BYTES;

  // A press waiting offline found while the dialog is open removes the text field: the focus
  // goes to Close, not to the page behind the dialog.
  useEffect(() => {
    if (open && waiting) {
      dialogRef.current?.querySelector<HTMLButtonElement>('[data-testid="emergency-cancel"]')?.focus();
    }
  }, [open, waiting]);

  useEffect(() => {
    if (!open) return;
    const field = dialogRef.current?.querySelector('textarea');
    if (!field) {
      dialogRef.current?.querySelector<HTMLButtonElement>('[data-testid="emergency-cancel"]')?.focus();
      return;
    }
    field.focus();
    // What is typed next goes after the words kept from before, not in front of them.
    field.setSelectionRange(field.value.length, field.value.length);
  }, [open]);

  const confirm = async () => {
    const content = text.trim() || DEFAULT_EMERGENCY_TEXT;
    if (onSend) {
      setBusy(true);
      const refused = await onSend(content);
      setBusy(false);
      if (refused) {
        setError(refused);
        return;
      }
    } else void store.send(content, null, true);
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
      {open && <EmergencyDialogKeys dialog={dialogRef} onClose={() => setOpen(false)} />}
      {open && (
        <div className="modal-backdrop">
          <div
            className="modal card emergency-confirm"
            role="alertdialog"
            aria-modal="true"
            aria-labelledby="emergency-title"
            data-testid="emergency-confirm"
            ref={dialogRef}
          >
            <h2 id="emergency-title">
              {waiting ? 'Your emergency alert is waiting to be sent' : 'Send an emergency alert?'}
            </h2>
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
            {waiting && (
              <p className="emergency-offline" data-testid="emergency-dialog-waiting">
                Your alert is already waiting to be sent: it goes out as soon as this app is connected, and
                another cannot be added until then.
              </p>
            )}
            {!waiting && (
              <label className="field">
                <span>What is happening? (optional)</span>
                <textarea
                  data-testid="emergency-text"
                  value={text}
                  onChange={(e) => setText(e.target.value)}
                  rows={3}
                  placeholder={DEFAULT_EMERGENCY_TEXT}
                  // From the lock screen a few sentences: the core cuts longer text.
                  maxLength={locked ? LOCKED_PRESS_CHARS : undefined}
                  aria-describedby={locked ? 'emergency-text-count' : undefined}
                />
                {locked && (
                  <small className="field-hint" id="emergency-text-count" data-testid="emergency-text-count">
                    {text.length} of {LOCKED_PRESS_CHARS} characters
                  </small>
                )}
                {tooLong && (
                  <small
                    className="field-hint login-error"
                    data-testid="emergency-text-too-long"
                    role="alert"
                  >
                    Too long for the clinic&apos;s server (at most 16 KB): shorten it, or call{' '}
                    {emergencyNumber(clinic)}.
                  </small>
                )}
              </label>
            )}
            {error && (
              <p className="login-error" role="alert" data-testid="emergency-dialog-error">
                {error}
              </p>
            )}
            <div className="modal-actions">
              <button
                type="button"
                className="secondary-button"
                data-testid="emergency-cancel"
                onClick={() => setOpen(false)}
              >
                {waiting ? 'Close' : 'Cancel'}
              </button>
              {!waiting && (
                <button
                  type="button"
                  className="danger-button"
                  data-testid="emergency-confirm-send"
                  disabled={busy || tooLong}
                  onClick={() => void confirm()}
                >
                  Send emergency
                </button>
              )}
            </div>
            {/* Below the buttons, and the dialog held from its top: the connection dropping
                while it is open must not move Send from under the pointer (a click meant for it
                landed in the text box). */}
            {!online && (
              <p className="emergency-offline" role="status" data-testid="emergency-dialog-offline">
                {notYourServer
                  ? `${NOT_YOUR_SERVER_PATIENT} The alert goes out once the clinic has put that right.`
                  : 'You are offline: the alert goes out as soon as we are connected.'}{' '}
                Call {emergencyNumber(clinic)} now if you need help.
              </p>
            )}
          </div>
        </div>
      )}
    </>
  );
}

/** The dialog's keyboard, only while it is open (see `useDialog`). */
function EmergencyDialogKeys({
  dialog,
  onClose,
}: {
  dialog: RefObject<HTMLElement | null>;
  onClose: () => void;
}) {
  useDialog(dialog, onClose);
  return null;
}
