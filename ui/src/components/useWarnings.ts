// What a doctor is warned of above the emergencies (and on the lock screen): this app has been
// without its server for a while, so emergencies cannot reach this computer (a reconnect of a
// few seconds says nothing), and what this device cannot do to get attention.

import { useEffect, useMemo, useState } from 'react';
import { deviceProblems } from '../logic/device';
import { useChat } from '../store/hooks';

/** How long the connection may be down before a doctor is warned. */
export const OFFLINE_WARNING_MS = 15_000;

export const OFFLINE_WARNING =
  "Not connected to the clinic's server: new emergencies cannot reach this computer until it reconnects.";

/** Said at once (it does not pass by itself): the server at the address is not the clinic's. */
export const NOT_YOUR_SERVER_WARNING =
  "The server at the clinic's address could not prove it is your clinic's server (its pairing code changed, or something sits in between): nothing is sent to it or taken from it, so new emergencies cannot reach this computer. Tell the clinic's IT at once.";

/** Whether the connection has been down for `OFFLINE_WARNING_MS` (told by a timer, once). */
function useLongOffline(): boolean {
  const since = useChat((s) => s.offlineSince);
  const [long, setLong] = useState<number | null>(null);
  useEffect(() => {
    if (since === null) return;
    const t = setTimeout(() => setLong(since), Math.max(0, since + OFFLINE_WARNING_MS - Date.now()));
    return () => clearTimeout(t);
  }, [since]);
  return since !== null && long === since;
}

/** The warnings, one sentence each (empty: nothing known to be wrong). */
export function useWarnings(): string[] {
  const device = useChat((s) => s.device);
  const offline = useLongOffline();
  const notYours = useChat((s) => s.connection.notYourServer && s.connection.state !== 'online');
  return useMemo(
    () => [
      ...(notYours ? [NOT_YOUR_SERVER_WARNING] : offline ? [OFFLINE_WARNING] : []),
      ...deviceProblems(device),
    ],
    [device, offline, notYours],
  );
}
