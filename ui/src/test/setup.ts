// Vitest setup: jest-dom matchers, and the layout numbers jsdom lacks so the virtualised list
// renders rows (jsdom has no layout engine: every element would measure 0 x 0).

import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => {
  cleanup();
  // jsdom keeps storage for a whole file: each test starts with none (the remembered server).
  localStorage.clear();
});

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

/**
 * jsdom has no layout, so no IntersectionObserver: this one reports every observed row as fully
 * on screen (as the rendered rows of a short list are). The receipt rule itself is tested
 * without it (logic/receipts.test.ts, store/chatStore.test.ts).
 */
class AllVisibleIntersectionObserver {
  private readonly callback: IntersectionObserverCallback;
  constructor(callback: IntersectionObserverCallback) {
    this.callback = callback;
  }
  observe(target: Element) {
    const rect = { height: ROW_HEIGHT } as DOMRectReadOnly;
    const entry = {
      target,
      isIntersecting: true,
      intersectionRatio: 1,
      intersectionRect: rect,
      boundingClientRect: rect,
      rootBounds: { height: VIEWPORT } as DOMRectReadOnly,
      time: 0,
    } as IntersectionObserverEntry;
    queueMicrotask(() => this.callback([entry], this as unknown as IntersectionObserver));
  }
  unobserve() {}
  disconnect() {}
  takeRecords() {
    return [];
  }
}
globalThis.IntersectionObserver ??= AllVisibleIntersectionObserver as unknown as typeof IntersectionObserver;
