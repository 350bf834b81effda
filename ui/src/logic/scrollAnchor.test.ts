import { describe, expect, it } from 'vitest';
import {
  anchorShifted,
  estimatedScrollTop,
  heldScrollTop,
  pickAnchor,
  sameScrollTop,
  type Anchor,
  type MeasuredRow,
} from './scrollAnchor';

/** Rows as a list 600 px tall lays them out: a 30 px day divider above `withDivider`. */
function rows(firstTop: number, sizes: number[], withDivider: number[] = []): MeasuredRow[] {
  let top = firstTop;
  return sizes.map((size, index) => {
    const divider = withDivider.includes(index) ? 30 : 0;
    const row = { key: `k${index}`, index, rowTop: top, top: top + divider, bottom: top + size };
    top += size;
    return row;
  });
}

describe('pickAnchor', () => {
  it('takes the first message the reader can see, even partly', () => {
    // Rows from -200: the third (index 2) spans the top edge (-40 to 40).
    const a = pickAnchor(rows(-200, [80, 80, 80, 80]));
    expect(a).toEqual({ key: 'k2', index: 2, top: -40, inRow: 0 });
  });

  it('measures the message below its day divider, and says how tall the divider is', () => {
    const a = pickAnchor(rows(0, [110, 80], [0]));
    expect(a).toEqual({ key: 'k0', index: 0, top: 30, inRow: 30 });
  });

  it('skips a row whose message is above the edge though its row is not (only the divider shows)', () => {
    // A message that ends exactly at the edge is not seen.
    const a = pickAnchor([
      { key: 'a', index: 0, rowTop: -80, top: -80, bottom: 0 },
      { key: 'b', index: 1, rowTop: 0, top: 30, bottom: 110 },
    ]);
    expect(a?.key).toBe('b');
  });

  it('finds nothing without layout (every box zero, as in jsdom) or without rows', () => {
    expect(pickAnchor(rows(0, [0, 0, 0]))).toBeNull();
    expect(pickAnchor([])).toBeNull();
  });

  it('stops at the anchor: the rows after it are not measured', () => {
    let measured = 0;
    function* lazy(): Generator<MeasuredRow> {
      for (const r of rows(-100, [80, 80, 80, 80, 80])) {
        measured += 1;
        yield r;
      }
    }
    expect(pickAnchor(lazy())?.index).toBe(1);
    expect(measured).toBe(2);
  });
});

describe('anchorShifted', () => {
  const anchor: Anchor = { key: 'k', index: 3, top: 10, inRow: 0 };
  it('holds the anchor when rows came (or went) above it', () => {
    expect(anchorShifted(anchor, 53)).toBe(true);
    expect(anchorShifted(anchor, 1)).toBe(true);
  });
  it('leaves the list alone when only rows below it changed, or when it is gone', () => {
    expect(anchorShifted(anchor, 3)).toBe(false);
    expect(anchorShifted(anchor, -1)).toBe(false);
  });
});

describe('keeping the first message on screen in place when an older page of the same day comes', () => {
  // Before: the list's content starts 8 px down (its padding), the first message of the day
  // (index 0) is the first row, 110 px tall with its 30 px divider, and the row's top is 40 px
  // above the viewport's top edge: the divider is out of sight, the message starts 10 px above.
  const contentTop = 8;
  const before = pickAnchor(rows(-40, [110, 80, 80], [0]))!;

  it('takes the message, not its row, as the place to keep', () => {
    expect(before).toEqual({ key: 'k0', index: 0, top: -10, inRow: 30 });
  });

  it('first scrolls to where the row now starts, estimated, with the divider it had', () => {
    // 50 older rows came, estimated at 72 px each: the row now starts at 3600.
    const guess = estimatedScrollTop({ ...before, index: 50 }, 3600, contentTop);
    // Its message would be at 8 + 3600 + 30 - guess = -10 on screen, as before.
    expect(guess).toBe(3648);
    expect(contentTop + 3600 + before.inRow - guess).toBe(before.top);
  });

  it('then puts the message exactly back, though the divider left its row', () => {
    // Drawn at the guess, the row has no divider any more (the new first row of the day has it):
    // its message is at the row's top, 30 px higher than the guess assumed.
    const scrollTop = 3648;
    const topNow = contentTop + 3600 - scrollTop; // -40
    const held = heldScrollTop(scrollTop, before, topNow, 10_000);
    expect(held).toBe(3618);
    // At the held position the message is where it was, to the pixel.
    expect(contentTop + 3600 - held).toBe(before.top);
  });

  it('moves with the rows measured above it (their estimates were off)', () => {
    // The 50 new rows measured 20 px taller in all: the message went down by 20.
    expect(heldScrollTop(3618, before, before.top + 20, 10_000)).toBe(3638);
  });

  it('does nothing once the message is in place', () => {
    expect(heldScrollTop(3618, before, before.top, 10_000)).toBe(3618);
  });

  it('stays within what the list can scroll to', () => {
    expect(heldScrollTop(10, before, before.top - 50, 10_000)).toBe(0);
    expect(heldScrollTop(900, before, before.top + 200, 1000)).toBe(1000);
    expect(estimatedScrollTop({ ...before, top: 500 }, 0, contentTop)).toBe(0);
  });
});

describe('sameScrollTop', () => {
  it('takes a rounded position for the one written, and a pixel further for a new one', () => {
    expect(sameScrollTop(3618, 3618.4)).toBe(true);
    expect(sameScrollTop(3618, 3619)).toBe(false);
    expect(sameScrollTop(3618, 3500)).toBe(false);
  });
});
