// Who resolved an emergency and the note they left, under the newest message it closed: part of
// the conversation on both sides, there after a restart or an unlock too (the patient's status
// line says it only for a day).

import { formatDateTime, formatTime } from '../logic/format';
import type { Emergency } from '../types';

export function ResolutionNote({ emergency }: { emergency: Emergency }) {
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
    </div>
  );
}
