// Who resolved an emergency and the note they left, under the newest message it closed: part of
// the conversation on both sides, there after a restart or an unlock too (the patient's status
// line says it only for a day). In the conversation of a doctor who took one raised with another
// doctor, it says so.

import { formatDateTime, formatTime } from '../logic/format';
import type { Emergency } from '../types';

export function ResolutionNote({
  emergency,
  elsewhere = false,
}: {
  emergency: Emergency;
  elsewhere?: boolean;
}) {
  const at = emergency.resolvedAt;
  const by = emergency.resolvedByName ? ` by ${emergency.resolvedByName}` : '';
  return (
    <div className="resolution-note" data-testid="resolution-note" role="note">
      <span aria-hidden="true">✓ </span>
      Emergency resolved{by}
      {at && (
        <>
          {' at '}
          <time dateTime={at} title={formatDateTime(at)}>
            {formatTime(at)}
          </time>
        </>
      )}
      {emergency.resolutionNote ? (
        <>
          {': '}
          <span className="resolution-text" data-testid="resolution-text">
            {emergency.resolutionNote}
          </span>
        </>
      ) : (
        '.'
      )}
      {elsewhere && (
        <span className="resolution-elsewhere" data-testid="resolution-elsewhere">
          {' '}
          (It was raised in the conversation with another doctor.)
        </span>
      )}
    </div>
  );
}
