// A search snippet as text pieces, marked where the query matched. The highlights are UTF-16
// ranges, which is what JavaScript string indices count, so slicing is exact.

import type { Highlight } from '../types';

export interface Segment {
  text: string;
  mark: boolean;
}

/** `text` cut at the highlights (sorted, overlapping or out-of-range ones ignored). */
export function segments(text: string, highlights: readonly Highlight[]): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  for (const { start, end } of [...highlights].sort((a, b) => a.start - b.start)) {
    const to = Math.min(end, text.length);
    if (start < at || start >= to) continue;
    if (start > at) out.push({ text: text.slice(at, start), mark: false });
    out.push({ text: text.slice(start, to), mark: true });
    at = to;
  }
  if (at < text.length) out.push({ text: text.slice(at), mark: false });
  return out;
}
