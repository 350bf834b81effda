// Logging out asks first when it would stop this device's alarm or leave sends behind: from
// Settings and from the lock screen's "Not you? Log out" (a shared computer's next user).

import { unsentWarning } from '../logic/settings';
import { useStore } from '../store/hooks';
import { useLogoutCost } from './useLogout';

/** What logging out would cost, and "Stay signed in" or "Log out anyway". */
export function LogoutQuestion({ onStay }: { onStay: () => void }) {
  const store = useStore();
  const { alerting, queued, failed, sharedComputer } = useLogoutCost();
  return (
    <div className="logout-confirm" role="alert" data-testid="logout-confirm">
      {alerting && (
        <p>
          This device is alerting for an emergency nobody has acknowledged. Logging out stops the alarm here;
          other doctors are still alerted.
        </p>
      )}
      {queued + failed > 0 && (
        <p data-testid="logout-unsent">{unsentWarning(queued, failed, sharedComputer)}</p>
      )}
      {!alerting && queued + failed === 0 && <p>Nothing is waiting any more.</p>}
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
