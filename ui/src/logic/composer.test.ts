import { describe, expect, it } from 'vitest';
import { MAX_COMPOSER_LINES, composerHeight } from './composer';

const box = { lineHeight: 22, padding: 18, border: 2 };

describe('composerHeight', () => {
  it('is one line when empty or short', () => {
    expect(composerHeight(0, box)).toBe(42);
    expect(composerHeight(40, box)).toBe(42);
  });

  it('grows with the text, then stops and scrolls', () => {
    expect(composerHeight(22 * 3 + 18, box)).toBe(22 * 3 + 18 + 2);
    expect(composerHeight(22 * 40 + 18, box)).toBe(22 * MAX_COMPOSER_LINES + 18 + 2);
  });
});
