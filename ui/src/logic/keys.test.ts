import { describe, expect, it } from 'vitest';
import { composing } from './keys';

describe('composing', () => {
  it('is told by isComposing or by keyCode 229, on a DOM event or a React one', () => {
    const plain = new KeyboardEvent('keydown', { key: 'Escape' });
    expect(composing(plain)).toBe(false);
    expect(composing({ nativeEvent: plain })).toBe(false);
    expect(composing(new KeyboardEvent('keydown', { key: 'Escape', isComposing: true }))).toBe(true);
    expect(composing(new KeyboardEvent('keydown', { key: 'Escape', keyCode: 229 }))).toBe(true);
  });
});
