import { describe, expect, it } from 'vitest';
import { segments } from './highlight';

describe('segments', () => {
  it('marks the highlighted ranges and keeps the rest as text', () => {
    expect(segments('the rash is worse', [{ start: 4, end: 8 }])).toEqual([
      { text: 'the ', mark: false },
      { text: 'rash', mark: true },
      { text: ' is worse', mark: false },
    ]);
  });

  it('counts UTF-16 units like the server (an astral char is two)', () => {
    expect(segments('𝄞 rash', [{ start: 3, end: 7 }])).toEqual([
      { text: '𝄞 ', mark: false },
      { text: 'rash', mark: true },
    ]);
  });

  it('ignores overlapping, empty and out-of-range highlights', () => {
    expect(
      segments('abcdef', [
        { start: 4, end: 99 },
        { start: 0, end: 2 },
        { start: 1, end: 3 },
        { start: 3, end: 3 },
      ]),
    ).toEqual([
      { text: 'ab', mark: true },
      { text: 'cd', mark: false },
      { text: 'ef', mark: true },
    ]);
  });

  it('markup in a message stays text', () => {
    const parts = segments('<b>rash</b>', [{ start: 3, end: 7 }]);
    expect(parts.map((p) => p.text).join('')).toBe('<b>rash</b>');
  });
});
