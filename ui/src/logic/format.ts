// Formatting for people: file sizes, times, file kinds.

const UNITS = ['KB', 'MB', 'GB', 'TB'];

/** 0 B, 999 B, 1.5 KB, 23 MB: one decimal below 10, none above. */
export function formatFileSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = value < 10 ? value.toFixed(1).replace(/\.0$/, '') : Math.round(value).toString();
  return `${shown} ${UNITS[unit]}`;
}

/** "14:05" (or "2:05 PM") in the user's locale and time zone: the locale's own short time, as
 * `formatDateTime` says it, so a 12-hour clock has no leading zero ("01:17 PM"). */
export function formatTime(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { timeStyle: 'short' });
}

/** "14:05" today, "Mon 14:05" this week, "12 Nov" before. */
export function formatShortDate(ts: string, now: Date = new Date()): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  const sameDay = d.toDateString() === now.toDateString();
  if (sameDay) return formatTime(ts);
  const ageDays = (now.getTime() - d.getTime()) / 86_400_000;
  if (ageDays < 6) return `${d.toLocaleDateString([], { weekday: 'short' })} ${formatTime(ts)}`;
  return d.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

/**
 * When a message that waited on its sender's device was written, beside the time it was sent:
 * "14:14" the same day, "Mon 23:50" within the week before, "12 Nov" before that.
 */
export function writtenShort(writtenAt: string, sentAt: string): string {
  return formatShortDate(writtenAt, new Date(sentAt));
}

/** The tooltip of a message written on a device that could not send it at once. */
export function writtenTitle(writtenAt: string, sentAt: string, mine: boolean): string {
  const device = mine ? 'your' : 'their';
  const received = sameDay(writtenAt, sentAt) ? `at ${formatTime(sentAt)}` : formatDateTime(sentAt);
  return `Written ${formatDateTime(writtenAt)} on ${device} device; the clinic received it ${received}.`;
}

/** The same calendar day here (in this computer's time zone). */
export function sameDay(a: string, b: string): boolean {
  return new Date(a).toDateString() === new Date(b).toDateString();
}

/**
 * The divider above a day's first message: "Today", "Yesterday", "Monday" this week,
 * "Mon 12 Oct" this year, "12 Oct 2025" before.
 */
export function dayLabel(ts: string, now: Date = new Date()): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  const midnight = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  // Rounded: a day with a daylight-saving change is 23 or 25 hours long.
  const days = Math.round((midnight(now) - midnight(d)) / 86_400_000);
  // A time a little ahead (the server's clock, or a label renewed once a minute past midnight)
  // is today too; one further ahead says its date.
  const ahead = d.getTime() - now.getTime();
  if (days === 0 || (days === -1 && ahead < 6 * 3_600_000)) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return d.toLocaleDateString([], { weekday: 'long' });
  if (d.getFullYear() === now.getFullYear())
    return d.toLocaleDateString([], { weekday: 'short', day: 'numeric', month: 'short' });
  return formatDay(ts);
}

/** "Monday, 12 October 2026 at 14:05": a message's time in full, for its tooltip. */
export function formatDateTime(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString([], { dateStyle: 'full', timeStyle: 'short' });
}

/** "12 Nov 2026": a day with its year (for events that may be long past). */
export function formatDay(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleDateString([], { day: 'numeric', month: 'short', year: 'numeric' });
}

export type FileKind = 'image' | 'pdf' | 'document' | 'other';

const DOC_EXT = /\.(docx?|odt|rtf|txt|xlsx?|ods|csv|pptx?)$/i;
const IMAGE_EXT = /\.(png|jpe?g|gif|webp|bmp)$/i;

export function fileKind(name: string, mimeType?: string | null): FileKind {
  const mime = mimeType ?? '';
  if (mime.startsWith('image/') || IMAGE_EXT.test(name)) return 'image';
  if (mime === 'application/pdf' || /\.pdf$/i.test(name)) return 'pdf';
  if (mime.startsWith('text/') || DOC_EXT.test(name)) return 'document';
  return 'other';
}

/**
 * The name I attached a file under, when the clinic sent it under another (the server names a
 * file for what it holds: `notes.sh` goes as `notes.txt`); null when they are the same.
 */
export function attachedAs(localFilePath: string | null, sentName: string | null): string | null {
  if (!localFilePath || !sentName) return null;
  const attached = localFilePath.split(/[\\/]/).pop() ?? '';
  return attached && attached !== sentName ? attached : null;
}

/** Initials for an avatar: "Dr. Ana Silva" -> "AS". */
export function initials(name: string): string {
  const words = name
    .replace(/^(dr|mr|mrs|ms)\.?\s+/i, '')
    .split(/\s+/)
    .filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((w) => w[0]?.toUpperCase() ?? '').join('') || '?';
}

/**
 * What people type as the server address -> a base URL: "192.168.1.10:8470/" ->
 * "https://192.168.1.10:8470" (servers speak HTTPS unless IT put them behind a local proxy).
 */
export function normalizeServerUrl(input: string): string {
  const trimmed = input.trim().replace(/\/+$/, '');
  if (!trimmed) return '';
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
}

/** How many bytes `s` takes in UTF-8 (what the Rust side's bounds count). */
export function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}
