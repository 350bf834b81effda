// Logging out asks first when it would stop this device's alarm or leave sends behind: from
// Settings and from the lock screen's "Not you? Log out" (a shared computer's next user).

import { useState } from 'react';
import { unsentWarning } from '../logic/settings';
import { useChat, useStore } from '../store/hooks';

/** What logging out would cost here now: the alarm, and sends waiting or parked. */
function useLogoutCost() {
  const alerting = useChat((s) => s.ringing.length > 0);
  const queued = useChat((s) => s.connection.queued);
  const failed = useChat((s) => s.connection.failed);
  const sharedComputer = useChat((s) => s.lock?.device === 'shared');
  return { alerting, queued, failed, sharedComputer, any: alerting || queued + failed > 0 };
}

/** Logging out: at once when it costs nothing, else `asking` until the user answers. */
export function useLogout() {
  const store = useStore();
  const { any } = useLogoutCost();
  const [asking, setAsking] = useState(false);
  return {
    asking,
    logOut: () => (any ? setAsking(true) : void store.logout()),
    stay: () => setAsking(false),
  };
}

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
