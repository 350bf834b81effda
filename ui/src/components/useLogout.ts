// Whether logging out costs something here now (the alarm, sends waiting or parked), and the
// log-out action that asks first when it does (LogoutQuestion asks).

import { useState } from 'react';
import { useChat, useStore } from '../store/hooks';

/** What logging out would cost here now: the alarm, and sends waiting or parked. */
export function useLogoutCost() {
  const alerting = useChat((s) => s.ringing.length > 0);
  const queued = useChat((s) => s.connection.queued);
  const failed = useChat((s) => s.connection.failed);
  const sharedComputer = useChat((s) => s.lock?.device === 'shared');
  // Her own emergency not sent yet, and whether it was refused (parked until Retry): the lock
  // tells it while locked, the messages otherwise.
  const emergencyWaiting = useChat((s): 'waiting' | 'parked' | null => {
    const status =
      s.lock?.unsentEmergency?.status ??
      Object.values(s.messages)
        .flatMap((m) => m.items)
        .find((x) => x.isEmergency && x.id === null && x.senderId === s.session?.user.id)?.status;
    return status === 'FAILED' ? 'parked' : status ? 'waiting' : null;
  });
  return {
    alerting,
    queued,
    failed,
    sharedComputer,
    emergencyWaiting,
    any: alerting || queued + failed > 0 || emergencyWaiting !== null,
  };
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
