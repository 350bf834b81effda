// Always-visible connection state (online / connecting / reconnecting / offline, and why in its
// tooltip) and the
// number of messages waiting in the outbox or parked after a refusal.

import { connectionView } from '../logic/connection';
import { useChat } from '../store/hooks';

export function ConnectionBadge() {
  const status = useChat((s) => s.connection);
  const view = connectionView(status);
  return (
    <div
      className={`connection connection-${view.tone}`}
      role="status"
      aria-live="polite"
      data-testid="connection"
      title={status.lastError ?? undefined}
    >
      <span className="connection-dot" aria-hidden="true" />
      <span
        className="connection-text"
        data-testid="connection-state"
        data-state={status.state}
        title={status.lastError ?? view.text}
      >
        {view.text}
      </span>
      {view.queuedText && (
        <span
          className="queued"
          data-testid="queued-count"
          data-count={status.queued}
          data-failed={status.failed}
          title={view.queuedText}
        >
          · {view.queuedText}
        </span>
      )}
      {view.queuedShort && (
        <span className="queued-short" aria-hidden="true" title={view.queuedText ?? undefined}>
          · {view.queuedShort}
        </span>
      )}
    </div>
  );
}
