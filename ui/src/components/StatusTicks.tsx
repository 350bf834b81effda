// The delivery tick of my message: clock, one tick, two outlined ticks (delivered), two ticks on a
// filled disc (read), or a red mark. Each state differs in shape, not only in colour.

import { statusTicks } from '../logic/status';
import type { MessageStatus } from '../types';

const PATHS = {
  clock: (
    <>
      <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" strokeWidth="1.5" />
      <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
    </>
  ),
  single: (
    <path d="M3 8.5l3 3 7-7" fill="none" stroke="currentColor" strokeWidth="1.7" strokeLinecap="round" />
  ),
  double: (
    <>
      <path d="M1 8.5l3 3 7-7" fill="none" stroke="currentColor" strokeWidth="1.7" strokeLinecap="round" />
      <path d="M7 11.5l7-7" fill="none" stroke="currentColor" strokeWidth="1.7" strokeLinecap="round" />
    </>
  ),
  // Read is a different shape, not only a colour: two ticks on a filled disc.
  read: (
    <>
      <circle cx="9" cy="8" r="7.5" fill="currentColor" />
      <path
        className="ticks-cut"
        d="M3.5 8.3l2.3 2.3 5-5"
        fill="none"
        strokeWidth="1.6"
        strokeLinecap="round"
      />
      <path className="ticks-cut" d="M8.3 10.6l5-5" fill="none" strokeWidth="1.6" strokeLinecap="round" />
    </>
  ),
  failed: (
    <>
      <circle cx="8" cy="8" r="6.5" fill="currentColor" />
      <path d="M8 4.5v4.5M8 11v.5" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" />
    </>
  ),
};

export function StatusTicks({ status }: { status: MessageStatus }) {
  const view = statusTicks(status);
  const icon = view.icon === 'double-read' ? 'read' : view.icon;
  return (
    <svg
      className={`ticks ticks-${view.icon}`}
      data-testid="message-ticks"
      data-icon={view.icon}
      width={view.icon === 'double' || view.icon === 'double-read' ? 18 : 16}
      height="16"
      viewBox={view.icon === 'double-read' ? '0 0 18 16' : '0 0 16 16'}
      role="img"
      aria-label={view.label}
    >
      <title>{view.label}</title>
      {PATHS[icon]}
    </svg>
  );
}
