// Keeping the reader's place in the message list when rows are inserted above what they read (an
// older page prepended). The first message on screen is the anchor: its own top (below its day
// divider, if it has one) is put back exactly where it was on screen, whatever changed above it:
// the new rows, and the day divider that moves from the old first message to the new first
// message when the older page ends on the same day (that row gets shorter by the divider's height,
// so keeping the total height or the row's top in place would still move the messages).
//
// All lengths are CSS pixels; a "top" is measured from the top edge of the list's viewport,
// downwards (negative for a message partly scrolled past).

/** A rendered message, measured on screen. */
export interface MeasuredRow {
  key: string;
  index: number;
  /** Top of the row (the day divider, if any, is the top of the row). */
  rowTop: number;
  /** Top and bottom of the message itself, below its divider. */
  top: number;
  bottom: number;
}

/** The message the reader's place is kept by. */
export interface Anchor {
  key: string;
  /** Its index in the list when it was taken. */
  index: number;
  /** Its message's top on screen. */
  top: number;
  /** From its row's top to its message's top: the height of the divider above it, if any. */
  inRow: number;
}

/**
 * The anchor among the rendered rows (in list order): the first message that reaches below the
 * viewport's top edge, i.e. the topmost message the reader can see (even partly). Null when none
 * does (nothing rendered, or no layout).
 */
export function pickAnchor(rows: Iterable<MeasuredRow>): Anchor | null {
  for (const r of rows) {
    if (r.bottom > 0 && r.bottom > r.top)
      return { key: r.key, index: r.index, top: r.top, inRow: r.top - r.rowTop };
  }
  return null;
}

/**
 * Whether the anchor must be held: it is still in the list (`indexNow` >= 0) at another index, so
 * rows were inserted (or removed) above it. A message added below, or a change to the message
 * itself, leaves its index alone and the list as it is.
 */
export function anchorShifted(anchor: Anchor, indexNow: number): boolean {
  return indexNow >= 0 && indexNow !== anchor.index;
}

/**
 * Where to scroll before the anchor's row is drawn at its new index: from its start in the list's
 * layout (`rowStart`, the virtualiser's figure, estimates for rows not measured yet) and where the
 * rows begin in the scrolled content (`contentTop`, the list's padding), with the divider it had.
 * A first guess: once the row is drawn, `heldScrollTop` puts the message exactly back.
 */
export function estimatedScrollTop(anchor: Anchor, rowStart: number, contentTop: number): number {
  return Math.max(0, contentTop + rowStart + anchor.inRow - anchor.top);
}

/**
 * The scroll position that puts the anchor's message back at `anchor.top`, now that it is drawn
 * at `topNow` with the list at `scrollTop`: the difference is how far the content above it moved.
 * Kept within what the list can scroll to (0..`maxScrollTop`).
 */
export function heldScrollTop(
  scrollTop: number,
  anchor: Anchor,
  topNow: number,
  maxScrollTop: number,
): number {
  const target = scrollTop + (topNow - anchor.top);
  return Math.min(Math.max(0, target), Math.max(0, maxScrollTop));
}

/**
 * Whether a scroll position is the one last left by the list itself (its own write or a commit's
 * layout), not a new one from the reader: browsers round scroll positions, so within a pixel.
 */
export function sameScrollTop(a: number, b: number): boolean {
  return Math.abs(a - b) < 1;
}
