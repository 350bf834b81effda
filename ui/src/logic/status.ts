// What a message's delivery status looks like: the tick icon and its accessible label.

import type { MessageStatus } from '../types';

export type TickIcon = 'clock' | 'single' | 'double' | 'double-read' | 'failed';

export interface TickView {
  icon: TickIcon;
  label: string;
}

const TICKS: Record<MessageStatus, TickView> = {
  SENDING: { icon: 'clock', label: 'Sending' },
  SENT: { icon: 'single', label: 'Sent' },
  DELIVERED: { icon: 'double', label: 'Delivered' },
  READ: { icon: 'double-read', label: 'Read' },
  FAILED: { icon: 'failed', label: 'Not sent' },
};

export function statusTicks(status: MessageStatus): TickView {
  return TICKS[status];
}
