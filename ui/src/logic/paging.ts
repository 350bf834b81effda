// When the virtualised message list should fetch the page before the oldest loaded message.

/** Messages per page asked of load_messages. */
export const PAGE_SIZE = 50;

/** Pages a conversation may load as it opens to reach its first unread message (500 messages). */
export const UNREAD_PAGES = 10;

/** How close (in rows) to the top the first visible row must be to trigger loading. */
export const LOAD_OLDER_THRESHOLD = 5;

export interface PagingState {
  /** Index of the first row rendered by the virtualiser (or -1 when nothing is rendered). */
  firstVisibleIndex: number;
  /** Older messages may exist (the last page was full). */
  hasOlder: boolean;
  loading: boolean;
}

export function shouldLoadOlder(s: PagingState, threshold = LOAD_OLDER_THRESHOLD): boolean {
  return s.hasOlder && !s.loading && s.firstVisibleIndex >= 0 && s.firstVisibleIndex < threshold;
}

/** A page shorter than asked for means the start of the history was reached. */
export function pageHasMore(received: number, asked: number): boolean {
  return received >= asked;
}
