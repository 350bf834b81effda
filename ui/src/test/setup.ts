// Vitest setup: jest-dom matchers, and the layout numbers jsdom lacks so the virtualised list
// renders rows (jsdom has no layout engine: every element would measure 0 x 0).

import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => cleanup());

class NoopResizeObserver {
  observe() {}
  unobserve() {}
  disconnect() {}
}
globalThis.ResizeObserver ??= NoopResizeObserver as unknown as typeof ResizeObserver;

const ROW_HEIGHT = 60;
const VIEWPORT = 600;

Object.defineProperty(HTMLElement.prototype, 'getBoundingClientRect', {
  configurable: true,
  value(this: HTMLElement) {
    const h = this.dataset.testid === 'message-list' ? VIEWPORT : ROW_HEIGHT;
    return { x: 0, y: 0, top: 0, left: 0, right: 600, bottom: h, width: 600, height: h, toJSON() {} };
  },
});
for (const prop of ['offsetHeight', 'clientHeight'] as const) {
  Object.defineProperty(HTMLElement.prototype, prop, {
    configurable: true,
    get(this: HTMLElement) {
      return this.dataset.testid === 'message-list' ? VIEWPORT : ROW_HEIGHT;
    },
  });
}
Object.defineProperty(HTMLElement.prototype, 'offsetWidth', { configurable: true, get: () => 600 });
HTMLElement.prototype.scrollTo = function scrollTo() {};
