// Following the newest message across resizes. jsdom has no layout, so the list's geometry is
// set by hand (a scrollTop the browser clamps to the content, as a browser does), and the
// browser's part is played in the order it happens in a window being narrowed: the layout
// changes, the browser fires the scroll event it owes, the ResizeObservers report.

import { act, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConversationMessages } from '../store/state';
import { StoreProvider } from '../store/StoreProvider';
import { DOCTOR, PATIENT, msg, setup } from '../test/fixtures';
import { MessageList } from './MessageList';

/** The message list's geometry, as the browser would report it. */
const box = { scrollHeight: 3000, clientHeight: 600, scrollTop: 0 };
const maxTop = () => Math.max(0, box.scrollHeight - box.clientHeight);
const isList = (el: HTMLElement) => el.dataset.testid === 'message-list';

/** Every ResizeObserver made while rendering (ours and the virtualiser's), with what it watches. */
const observers: { callback: ResizeObserverCallback; targets: Set<Element> }[] = [];
class RecordingResizeObserver {
  private readonly entry: { callback: ResizeObserverCallback; targets: Set<Element> };
  constructor(callback: ResizeObserverCallback) {
    this.entry = { callback, targets: new Set() };
    observers.push(this.entry);
  }
  observe(target: Element) {
    this.entry.targets.add(target);
  }
  unobserve(target: Element) {
    this.entry.targets.delete(target);
  }
  disconnect() {
    this.entry.targets.clear();
  }
}

/** The list's box changed size: every observer watching it is told, as the browser does after layout. */
function listResized(list: HTMLElement) {
  act(() => {
    for (const o of observers)
      if (o.targets.has(list)) {
        const size = [{ inlineSize: 600, blockSize: box.clientHeight }];
        const entry: ResizeObserverEntry = {
          target: list,
          contentRect: list.getBoundingClientRect(),
          borderBoxSize: size,
          contentBoxSize: size,
          devicePixelContentBoxSize: size,
        };
        o.callback([entry], o as unknown as ResizeObserver);
      }
  });
}

const saved = new Map<string, PropertyDescriptor | undefined>();
beforeEach(() => {
  Object.assign(box, { scrollHeight: 3000, clientHeight: 600, scrollTop: 0 });
  observers.length = 0;
  vi.stubGlobal('ResizeObserver', RecordingResizeObserver);
  for (const prop of ['scrollHeight', 'clientHeight', 'scrollTop'] as const) {
    const proto = HTMLElement.prototype;
    const inherited =
      Object.getOwnPropertyDescriptor(proto, prop) ??
      Object.getOwnPropertyDescriptor(Element.prototype, prop);
    saved.set(prop, Object.getOwnPropertyDescriptor(proto, prop));
    Object.defineProperty(proto, prop, {
      configurable: true,
      get(this: HTMLElement) {
        return isList(this) ? box[prop] : (inherited?.get?.call(this) ?? 0);
      },
      set(this: HTMLElement, v: number) {
        // Only scrollTop is writable; the browser keeps it within the content.
        if (isList(this) && prop === 'scrollTop') box.scrollTop = Math.min(Math.max(0, v), maxTop());
        else inherited?.set?.call(this, v);
      },
    });
  }
});
afterEach(() => {
  vi.unstubAllGlobals();
  for (const [prop, d] of saved) {
    if (d) Object.defineProperty(HTMLElement.prototype, prop, d);
    else delete (HTMLElement.prototype as unknown as Record<string, unknown>)[prop];
  }
  saved.clear();
});

function conversation(count: number): ConversationMessages {
  const items = Array.from({ length: count }, (_, i) =>
    msg({
      seq: i + 1,
      id: `m${i + 1}`,
      senderId: i % 2 ? DOCTOR.id : PATIENT.id,
      content: `A message long enough to wrap onto another line in a narrow window (${i + 1}).`,
    }),
  );
  return { items, hasOlder: false, loadingOlder: false, loaded: true };
}

/** Renders a conversation, opened at its newest message. */
function openList() {
  render(
    <StoreProvider store={setup().store}>
      <MessageList data={conversation(40)} me={PATIENT.id} onLoadOlder={() => {}} />
    </StoreProvider>,
  );
  const list = screen.getByTestId('message-list');
  expect(box.scrollTop).toBe(maxTop());
  fireEvent.scroll(list);
  return list;
}

/** The content grows (a message arrives, a row is measured): a reader who left the bottom stays. */
function grownAndStillAt(list: HTMLElement, top: number) {
  box.scrollHeight = 3400;
  listResized(list);
  expect(box.scrollTop).toBe(top);
}

describe('the message list across a resize', () => {
  it('stays at the newest message when the window narrows (text re-wraps, the box changes)', () => {
    const list = openList();
    // Narrowed: the list's box gets a little taller, so the browser clamps scrollTop and owes a
    // scroll event; by the time that event is handled the bubbles re-wrapped and the content
    // grew by 400 px. Nobody touched the list.
    box.clientHeight = 640;
    box.scrollTop = Math.min(box.scrollTop, maxTop());
    box.scrollHeight = 3400;
    fireEvent.scroll(list);
    listResized(list);
    expect(box.scrollTop).toBe(maxTop());

    // Narrowed again: the box keeps its height, the content grows.
    box.scrollHeight = 3700;
    listResized(list);
    expect(box.scrollTop).toBe(maxTop());
  });

  it('leaves a reader who scrolled up to read history where they were', () => {
    const list = openList();
    // The reader wheels up into the history.
    fireEvent.wheel(list, { deltaY: -600 });
    box.scrollTop = 1200;
    fireEvent.scroll(list);

    box.clientHeight = 640;
    box.scrollHeight = 3400;
    fireEvent.scroll(list);
    listResized(list);
    expect(box.scrollTop).toBe(1200);
  });

  it('leaves the bottom for a scroll without a wheel (the scrollbar, a screen reader)', () => {
    const list = openList();
    // Nothing changed size since the last scroll event: this scroll is the reader's.
    box.scrollTop = 1200;
    fireEvent.scroll(list);

    grownAndStillAt(list, 1200);
  });

  it('leaves the bottom for a key in the list even while a row is measured', () => {
    const list = openList();
    fireEvent.keyDown(list, { key: 'PageUp' });
    box.scrollTop = 1200;
    box.scrollHeight = 3100;
    fireEvent.scroll(list);

    grownAndStillAt(list, 1200);
  });

  it('follows the newest message again once the reader scrolls back down to it', () => {
    const list = openList();
    fireEvent.wheel(list, { deltaY: -600 });
    box.scrollTop = 1200;
    fireEvent.scroll(list);
    fireEvent.wheel(list, { deltaY: 2000 });
    box.scrollTop = maxTop();
    fireEvent.scroll(list);

    box.scrollHeight = 3400;
    listResized(list);
    expect(box.scrollTop).toBe(maxTop());
  });
});
