// Logging out asks first when it would stop this device's alarm or leave sends behind: from
// Settings and from the lock screen's "Not you? Log out" (a shared computer's next user).

import { useEffect, useRef } from 'react';
import { emergencyNumber } from '../logic/emergency';
import { unsentWarning } from '../logic/settings';
import { useChat, useStore } from '../store/hooks';
import { useLogoutCost } from './useLogout';

/** What logging out would cost, and "Stay signed in" or "Log out anyway". */
export function LogoutQuestion({ onStay }: { onStay: () => void }) {
  const store = useStore();
  const { alerting, queued, failed, sharedComputer, emergencyWaiting } = useLogoutCost();
  const clinic = useChat((s) => s.clinic);
  // Her emergency not sent yet has its own line above: the counts below are of the others.
  const otherQueued = queued - (emergencyWaiting === 'waiting' ? 1 : 0);
  const otherFailed = failed - (emergencyWaiting === 'parked' ? 1 : 0);
  const ref = useRef<HTMLDivElement>(null);
  // Asked under the button that asked (the lock screen's, at the foot of a page that may be
  // taller than the window): brought into view, its safe answer focused.
  useEffect(() => {
    ref.current?.scrollIntoView?.({ block: 'nearest' });
    ref.current?.querySelector<HTMLButtonElement>('[data-testid="logout-cancel"]')?.focus();
  }, []);
  return (
    <div className="logout-confirm" role="alert" data-testid="logout-confirm" ref={ref}>
      {emergencyWaiting && (
        <p className="logout-emergency" data-testid="logout-emergency">
          Your emergency has not reached the clinic yet:{' '}
          {sharedComputer
            ? 'logging out deletes it, and it is never sent.'
            : emergencyWaiting === 'parked'
              ? 'it was refused; after signing in again, open it and press Retry.'
              : 'after logging out it goes only once you sign in again.'}{' '}
          If you need help now, call <strong>{emergencyNumber(clinic)}</strong>.
        </p>
      )}
      {alerting && (
        <p>
          This device is alerting for an emergency nobody has acknowledged. Logging out stops the alarm here;
          other doctors are still alerted.
        </p>
      )}
      {otherQueued + otherFailed > 0 && (
        <p data-testid="logout-unsent">
          {unsentWarning(otherQueued, otherFailed, sharedComputer, emergencyWaiting !== null)}
        </p>
      )}
      {!alerting && emergencyWaiting === null && queued + failed === 0 && <p>Nothing is waiting any more.</p>}
      <div className="modal-actions">
        <button type="button" className="secondary-button" data-testid="logout-cancel" onClick={onStay}>
          Stay signed in
        </button>
        <button
          type="button"
          className="danger-button"
          data-testid="logout-confirm-button"
          onClick={() => void store.logout()}
        >
          Log out anyway
        </button>
      </div>
    </div>
  );
}
