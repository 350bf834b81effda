import { describe, expect, it } from 'vitest';
import base from '../styles/base.css?raw';
import chat from '../styles/chat.css?raw';
import dark from '../styles/dark.css?raw';
import { contrastRatio, cssColours } from './contrast';

const light = cssColours(base.slice(base.indexOf(':root'), base.indexOf('.theme-doctor')));
const night = { ...light, ...cssColours(dark.slice(dark.indexOf(':root'), dark.indexOf('.theme-doctor'))) };
const WHITE = '#ffffff';

/** The colour variables a rule of chat.css names for `property` (`var(--name)`). */
function ruleVar(selector: string, property: string): string {
  const body = chat.slice(chat.indexOf(`${selector} {`)).split('}')[0];
  const found = new RegExp(`\\n\\s*${property}:\\s*var\\((--[a-z0-9-]+)\\)`).exec(body);
  if (!chat.includes(`${selector} {`) || !found) throw new Error(`no ${property} in ${selector}`);
  return found[1];
}

describe('theme contrast (WCAG AA, 4.5:1 for text)', () => {
  it('computes ratios', () => {
    expect(contrastRatio('#000', '#fff')).toBeCloseTo(21, 0);
    expect(contrastRatio('#777', '#777')).toBe(1);
  });

  for (const [name, theme] of [
    ['light', light],
    ['dark', night],
  ] as const) {
    it(`${name}: emergency fills carry white text, emergency text reads on cards`, () => {
      expect(contrastRatio(WHITE, theme['--alert-from'])).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(WHITE, theme['--alert-to'])).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(theme['--danger'], theme['--card'])).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(theme['--danger-strong'], theme['--card'])).toBeGreaterThanOrEqual(4.5);
    });

    it(`${name}: a change's refusal reads in my own bubble (teal or indigo)`, () => {
      const notice = '.bubble.mine .bubble-change-notice';
      const text = theme[ruleVar(notice, 'color')];
      const surface = theme[ruleVar(notice, 'background')];
      expect(contrastRatio(text, surface)).toBeGreaterThanOrEqual(4.5);
    });

    it(`${name}: body and muted text read on the page and on cards`, () => {
      for (const surface of ['--bg', '--card'] as const) {
        expect(contrastRatio(theme['--text'], theme[surface])).toBeGreaterThanOrEqual(7);
        expect(contrastRatio(theme['--muted'], theme[surface])).toBeGreaterThanOrEqual(4.5);
      }
    });
  }

  it('dark: warnings and their own surfaces', () => {
    expect(contrastRatio(night['--warn-text'], night['--warn-soft'])).toBeGreaterThanOrEqual(4.5);
    expect(contrastRatio(night['--text'], night['--danger-soft'])).toBeGreaterThanOrEqual(7);
    expect(contrastRatio(night['--text'], night['--surface-2'])).toBeGreaterThanOrEqual(7);
    expect(night['--card']).not.toBe(light['--card']);
  });
});
