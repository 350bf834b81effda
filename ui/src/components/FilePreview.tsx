// An attachment: image thumbnail or a document card (icon, name, size), an upload progress bar,
// and open/remove actions.

import { fileKind, formatFileSize } from '../logic/format';
import type { UploadProgress } from '../store/state';

export interface FilePreviewProps {
  name: string;
  size?: number | null;
  mimeType?: string | null;
  /** A data: URL of the image, when known. */
  imageUrl?: string | null;
  progress?: UploadProgress | null;
  onOpen?: () => void;
  onRemove?: () => void;
}

const ICONS = { pdf: 'PDF', document: 'DOC', image: 'IMG', other: 'FILE' } as const;

export function FilePreview({
  name,
  size,
  mimeType,
  imageUrl,
  progress,
  onOpen,
  onRemove,
}: FilePreviewProps) {
  const kind = fileKind(name, mimeType);
  const pct =
    progress && progress.total > 0 ? Math.min(100, Math.round((progress.sent / progress.total) * 100)) : null;
  const body = (
    <>
      {kind === 'image' && imageUrl ? (
        <img className="file-thumb" src={imageUrl} alt={name} />
      ) : (
        <span className={`file-icon file-icon-${kind}`} aria-hidden="true">
          {ICONS[kind]}
        </span>
      )}
      <span className="file-meta">
        <span className="file-name" title={name}>
          {name}
        </span>
        {size !== null && size !== undefined && <span className="file-size">{formatFileSize(size)}</span>}
      </span>
    </>
  );
  return (
    <div className={`file-preview file-${kind}`} data-testid="file-preview" data-kind={kind}>
      {onOpen ? (
        <button type="button" className="file-open" onClick={onOpen} aria-label={`Open ${name}`}>
          {body}
        </button>
      ) : (
        <div className="file-open">{body}</div>
      )}
      {onRemove && (
        <button
          type="button"
          className="icon-button file-remove"
          data-testid="attachment-remove"
          onClick={onRemove}
          aria-label={`Remove ${name}`}
        >
          ×
        </button>
      )}
      {pct !== null && (
        <div
          className="upload-progress"
          data-testid="upload-progress"
          role="progressbar"
          aria-label="Upload progress"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={pct}
        >
          <div className="upload-progress-bar" style={{ width: `${pct}%` }} />
        </div>
      )}
    </div>
  );
}
