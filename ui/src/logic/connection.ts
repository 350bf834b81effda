// The connection badge: what to say about the link to the server and the outbox.

import type { ConnectionStatus } from '../types';

export type ConnectionTone = 'online' | 'connecting' | 'offline';

export interface ConnectionView {
  text: string;
  tone: ConnectionTone;
  /** "2 messages waiting to send", or null when the outbox is empty. */
  queuedText: string | null;
}

export function connectionView(status: ConnectionStatus): ConnectionView {
  const queuedText =
    status.queued > 0
      ? `${status.queued} ${status.queued === 1 ? 'message' : 'messages'} waiting to send`
      : null;
  switch (status.state) {
    case 'online':
      return { text: 'Online', tone: 'online', queuedText };
    case 'connecting':
      return {
        text: status.attempt ? `Reconnecting (attempt ${status.attempt})` : 'Connecting…',
        tone: 'connecting',
        queuedText,
      };
    case 'offline':
      return { text: 'Offline', tone: 'offline', queuedText };
  }
}
