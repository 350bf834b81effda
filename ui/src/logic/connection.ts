// The connection badge: what to say about the link to the server and the outbox.

import type { ConnectionStatus } from '../types';

export type ConnectionTone = 'online' | 'connecting' | 'offline';

export interface ConnectionView {
  text: string;
  tone: ConnectionTone;
  /** "2 messages waiting to send", "1 message not sent" (parked after a refusal), both, or null
   * when the outbox is empty. */
  queuedText: string | null;
  /** The same counts in a narrow window: "2 waiting, 1 not sent". */
  queuedShort: string | null;
}

/** The badge when the server at the address is not the paired clinic's. */
export const NOT_YOUR_SERVER = "Not your clinic's server";

const messages = (n: number) => `${n} ${n === 1 ? 'message' : 'messages'}`;

export function connectionView(status: ConnectionStatus): ConnectionView {
  const said = [
    status.queued > 0 ? `${messages(status.queued)} waiting to send` : null,
    status.failed > 0 ? `${messages(status.failed)} not sent` : null,
  ].filter((s) => s !== null);
  const queuedText = said.length > 0 ? said.join(', ') : null;
  const short = [
    status.queued > 0 ? `${status.queued} waiting` : null,
    status.failed > 0 ? `${status.failed} not sent` : null,
  ].filter((s) => s !== null);
  const queuedShort = short.length > 0 ? short.join(', ') : null;
  // Not a network that comes back by itself: someone may be in between, or the clinic changed
  // its server's identity. Said on the badge, not only in its tooltip.
  if (status.notYourServer && status.state !== 'online')
    return { text: NOT_YOUR_SERVER, tone: 'offline', queuedText, queuedShort };
  switch (status.state) {
    case 'online':
      // "Connected", not "Online": beside a doctor's "Do not disturb" that read as a contradiction.
      return { text: 'Connected', tone: 'online', queuedText, queuedShort };
    case 'connecting':
      // A try after a failed one is still offline: the badge says so steadily (and a screen
      // reader hears it once), not "Offline" and "Reconnecting" in turn every few seconds; why
      // the last try failed is its tooltip. How many tries it took says nothing to a patient.
      if (status.attempt && status.lastError)
        return { text: 'Offline', tone: 'offline', queuedText, queuedShort };
      return {
        text: status.attempt ? 'Reconnecting…' : 'Connecting…',
        tone: 'connecting',
        queuedText,
        queuedShort,
      };
    case 'offline':
      return { text: 'Offline', tone: 'offline', queuedText, queuedShort };
  }
}
