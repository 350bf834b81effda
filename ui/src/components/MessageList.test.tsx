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

/** The patient's conversation, the doctor's messages in it read (so it opens at the newest). */
function conversation(count: number): ConversationMessages {
  const items = Array.from({ length: count }, (_, i) =>
    msg({
      seq: i + 1,
      id: `m${i + 1}`,
      senderId: i % 2 ? DOCTOR.id : PATIENT.id,
      status: 'READ',
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

/** The list moves up to 1200 as a row is measured (its scroll event finds the content grown),
 * then the content grows again: a reader's scroll leaves them there. */
function scrolledUpAsARowIsMeasured(list: HTMLElement) {
  box.scrollTop = 1200;
  box.scrollHeight = 3100;
  fireEvent.scroll(list);
  grownAndStillAt(list, 1200);
}

/** Longer than a wheel or key asking to go up holds the list back when nothing moved. */
const afterTheUpWait = () => act(() => new Promise<void>((done) => setTimeout(done, 300)));

/** One notch of the wheel takes the list `by` px up (still near the bottom), then a message
 * arrives: the list stays where the wheel put it. */
function wheeledUpNearTheBottom(list: HTMLElement, rerender: (n: number) => void, by: number) {
  fireEvent.wheel(list, { deltaY: -by });
  box.scrollTop = maxTop() - by;
  fireEvent.scroll(list);
  const top = box.scrollTop;
  box.scrollHeight = 3100;
  rerender(42);
  expect(box.scrollTop).toBe(top);
}

/** Renders a conversation of `count` messages, opened at its newest; `rerender(n)` shows `n`
 * (an even `n` ends with a message from the doctor: one that arrives, not one the reader sent). */
function openConversation(count: number) {
  const store = setup().store;
  const view = (n: number) => (
    <StoreProvider store={store}>
      <MessageList data={conversation(n)} me={PATIENT.id} onLoadOlder={() => {}} />
    </StoreProvider>
  );
  const { rerender } = render(view(count));
  const list = screen.getByTestId('message-list');
  expect(box.scrollTop).toBe(maxTop());
  fireEvent.scroll(list);
  return { list, rerender: (n: number) => rerender(view(n)) };
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
    scrolledUpAsARowIsMeasured(list);
  });

  it('leaves the bottom for a press on the scrollbar that lands as a row is measured', () => {
    const list = openList();
    // One jump up from a click in the scrollbar's track, in the same frame as a new message's
    // row: the size changed since the last scroll event, and the press says it was the reader.
    fireEvent.pointerDown(list);
    scrolledUpAsARowIsMeasured(list);
  });

  it('leaves the reader where the scrollbar put them when a message arrives before the scroll event', () => {
    const { list, rerender } = openConversation(40);
    // The press moved the view at once; its scroll event is still to come when the new message
    // is rendered.
    fireEvent.pointerDown(list);
    box.scrollTop = 1200;
    box.scrollHeight = 3100;
    rerender(42);
    expect(box.scrollTop).toBe(1200);
    fireEvent.scroll(list);
    grownAndStillAt(list, 1200);
  });

  it('leaves the bottom for one notch of the wheel that ends near it', () => {
    const { list, rerender } = openConversation(40);
    wheeledUpNearTheBottom(list, rerender, 30);
  });

  it('leaves the bottom on a wheel up before its smooth scroll has moved the list', () => {
    const { list, rerender } = openConversation(40);
    fireEvent.wheel(list, { deltaY: -100 });
    // A message arrives before the scroll's first frame.
    box.scrollHeight = 3100;
    rerender(42);
    expect(box.scrollTop).toBe(2400);
  });

  it('leaves the bottom on PageUp before the list has moved', () => {
    const { list, rerender } = openConversation(40);
    fireEvent.keyDown(list, { key: 'PageUp' });
    box.scrollHeight = 3100;
    rerender(42);
    expect(box.scrollTop).toBe(2400);
  });

  it('keeps following when a wheel up finds nothing above (all messages fit)', async () => {
    box.scrollHeight = 500;
    const { list, rerender } = openConversation(3);
    fireEvent.wheel(list, { deltaY: -100 });
    box.scrollHeight = 3100;
    rerender(42);
    await afterTheUpWait();
    expect(box.scrollTop).toBe(maxTop());
  });

  it('follows again when a wheel up never moved the list (a child scrolled, a jitter)', async () => {
    const { list, rerender } = openConversation(40);
    fireEvent.wheel(list, { deltaY: -1 });
    box.scrollHeight = 3100;
    rerender(42);
    expect(box.scrollTop).toBe(2400);
    await afterTheUpWait();
    expect(box.scrollTop).toBe(maxTop());
    // And the next message too.
    box.scrollHeight = 3200;
    rerender(44);
    expect(box.scrollTop).toBe(maxTop());
  });

  it('keeps following when a row shrinks at the bottom right after a key (the edit box closing)', () => {
    const { list, rerender } = openConversation(40);
    fireEvent.keyDown(list.querySelector('[data-message-id]') ?? list, { key: 'Enter' });
    box.scrollHeight = 2900;
    box.scrollTop = Math.min(box.scrollTop, maxTop());
    rerender(40);
    fireEvent.scroll(list);
    box.scrollHeight = 3100;
    rerender(42);
    expect(box.scrollTop).toBe(maxTop());
  });

  it('keeps following when the window is resized right after a press on the list', () => {
    const { list, rerender } = openConversation(40);
    fireEvent.pointerDown(list);
    // Narrowed, then widened again, within the second: the browser clamps, the bubbles re-wrap.
    box.clientHeight = 640;
    box.scrollTop = Math.min(box.scrollTop, maxTop());
    box.scrollHeight = 3400;
    fireEvent.scroll(list);
    listResized(list);
    box.clientHeight = 600;
    box.scrollHeight = 2950;
    box.scrollTop = Math.min(box.scrollTop, maxTop());
    fireEvent.scroll(list);
    listResized(list);
    // A frame later the bubbles re-wrap to the wider box: the content shrinks, the browser
    // clamps again, and this scroll event finds the box as the one before it left it.
    box.scrollHeight = 2800;
    box.scrollTop = Math.min(box.scrollTop, maxTop());
    fireEvent.scroll(list);
    box.scrollHeight = 3100;
    rerender(42);
    expect(box.scrollTop).toBe(maxTop());
  });

  it('leaves the bottom for a touch scroll that comes after the window was resized', () => {
    const { list } = openConversation(40);
    box.clientHeight = 640;
    box.scrollTop = Math.min(box.scrollTop, maxTop());
    fireEvent.scroll(list);
    listResized(list);
    fireEvent.touchMove(list);
    // The reader's scroll lands as a row is measured.
    scrolledUpAsARowIsMeasured(list);
  });

  it('leaves the bottom for a wheel up between a resize and its scroll event', () => {
    const { list, rerender } = openConversation(40);
    // Taller box: the browser clamps and the observer reports it; the scroll event it owes is
    // still to come when the reader turns the wheel.
    box.clientHeight = 640;
    box.scrollTop = Math.min(box.scrollTop, maxTop());
    listResized(list);
    wheeledUpNearTheBottom(list, rerender, 45);
  });

  it('keeps following after an up key in a message (its own focus moves, not the list)', () => {
    const { list, rerender } = openConversation(40);
    fireEvent.keyDown(list.querySelector('[data-message-id]') ?? list, { key: 'ArrowUp' });
    box.scrollHeight = 3100;
    rerender(42);
    expect(box.scrollTop).toBe(maxTop());
  });

  it('follows the newest message after a click on a message (a press there is not a scroll)', () => {
    const { list, rerender } = openConversation(40);
    fireEvent.pointerDown(list.querySelector('[data-message-id]') ?? list.firstElementChild ?? list);
    // The window narrows right after: the browser clamps, the bubbles re-wrap.
    box.clientHeight = 640;
    box.scrollTop = Math.min(box.scrollTop, maxTop());
    box.scrollHeight = 3400;
    fireEvent.scroll(list);
    listResized(list);
    rerender(42);
    expect(box.scrollTop).toBe(maxTop());
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

describe('the new messages button', () => {
  /** `count` messages, the doctor's read by the patient except those after `readUpTo`. */
  function partlyRead(count: number, readUpTo: number): ConversationMessages {
    const data = conversation(count);
    const items = data.items.map((m) =>
      m.senderId === DOCTOR.id && (m.seq ?? 0) > readUpTo ? { ...m, status: 'DELIVERED' as const } : m,
    );
    return { ...data, items };
  }

  function open(readUpTo: number, me: string = PATIENT.id) {
    const store = setup().store;
    const view = (n: number) => (
      <StoreProvider store={store}>
        <MessageList data={partlyRead(n, readUpTo)} me={me} onLoadOlder={() => {}} />
      </StoreProvider>
    );
    const { rerender } = render(view(40));
    const list = screen.getByTestId('message-list');
    fireEvent.scroll(list);
    return { list, rerender: (n: number) => rerender(view(n)) };
  }

  it('is not there while the list follows the newest message, read or not', () => {
    const { rerender } = open(40);
    rerender(42);
    expect(box.scrollTop).toBe(maxTop());
    expect(screen.queryByTestId('jump-to-latest')).toBeNull();
  });

  it('counts what arrived unread below a reader who scrolled up, and takes them down to it', () => {
    const { list, rerender } = open(40);
    fireEvent.wheel(list, { deltaY: -600 });
    box.scrollTop = 1200;
    fireEvent.scroll(list);
    expect(screen.queryByTestId('jump-to-latest')).toBeNull();

    // Two messages from the doctor arrive (41 is the patient's own, sent from another device).
    box.scrollHeight = 3200;
    rerender(42);
    rerender(44);
    expect(box.scrollTop).toBe(1200);
    const button = screen.getByTestId('jump-to-latest');
    expect(button.textContent).toBe('2 new messages ↓');

    fireEvent.click(button);
    expect(box.scrollTop).toBe(maxTop());
    fireEvent.scroll(list);
    expect(screen.queryByTestId('jump-to-latest')).toBeNull();
    box.scrollHeight = 3400;
    rerender(46);
    expect(box.scrollTop).toBe(maxTop());
  });

  it("counts nothing in another doctor's conversation: what arrives there is not to this doctor", () => {
    const { list, rerender } = open(40, 'u-another-doctor');
    fireEvent.wheel(list, { deltaY: -600 });
    box.scrollTop = 1200;
    fireEvent.scroll(list);
    box.scrollHeight = 3200;
    rerender(44);
    expect(box.scrollTop).toBe(1200);
    expect(screen.queryByTestId('jump-to-latest')).toBeNull();
  });
});

describe('the messages as one Tab stop', () => {
  it('is a drawn message wherever the list is scrolled', () => {
    const list = openList();
    const stops = () =>
      [...list.querySelectorAll<HTMLElement>('[data-testid="message"]')].filter((b) => b.tabIndex === 0);
    expect(stops()).toHaveLength(1);
    expect(stops()[0].closest('[data-message-id]')).toHaveAttribute('data-message-id', 'm40');
    // Up at the top: the newest is no longer drawn, and a drawn one takes its place.
    box.scrollTop = 0;
    fireEvent.scroll(list);
    listResized(list);
    const drawn = [...list.querySelectorAll('[data-message-id]')].map((c) =>
      c.getAttribute('data-message-id'),
    );
    expect(drawn).not.toContain('m40');
    expect(stops()).toHaveLength(1);
  });
});

describe('opening a conversation with unread messages', () => {
  /** Rows as tall as the list estimates them, so nothing moves as they are measured (jsdom's
   * scrollTo, which the virtualiser corrects with, does nothing). */
  const ROW = 72;
  beforeEach(() => {
    const offsetHeight = Object.getOwnPropertyDescriptor(HTMLElement.prototype, 'offsetHeight');
    Object.defineProperty(HTMLElement.prototype, 'offsetHeight', {
      configurable: true,
      get(this: HTMLElement) {
        return isList(this) ? box.clientHeight : ROW;
      },
    });
    vi.stubGlobal('IntersectionObserver', GeometryIntersectionObserver);
    box.scrollHeight = 40 * ROW;
    return () => {
      if (offsetHeight) Object.defineProperty(HTMLElement.prototype, 'offsetHeight', offsetHeight);
    };
  });

  /** Tells what share of a message shows, from its row's place and the list's scrollTop, as the
   * browser would (once, when the row is first watched: enough for rows drawn after a scroll). */
  class GeometryIntersectionObserver {
    private readonly callback: IntersectionObserverCallback;
    constructor(callback: IntersectionObserverCallback) {
      this.callback = callback;
    }
    observe(target: HTMLElement) {
      queueMicrotask(() => {
        const row = target.closest<HTMLElement>('.message-row');
        const top = Number(/translateY\((-?[\d.]+)px\)/.exec(row?.style.transform ?? '')?.[1] ?? NaN);
        const shown = Math.max(
          0,
          Math.min(top + ROW, box.scrollTop + box.clientHeight) - Math.max(top, box.scrollTop),
        );
        const entry = {
          target,
          isIntersecting: shown > 0,
          intersectionRect: { height: shown },
          boundingClientRect: { height: ROW },
          rootBounds: { height: box.clientHeight },
        } as unknown as IntersectionObserverEntry;
        this.callback([entry], this as unknown as IntersectionObserver);
      });
    }
    unobserve() {}
    disconnect() {}
    takeRecords() {
      return [];
    }
  }

  /** 40 messages; the patient's last `unread` are not read by the doctor, all else is. */
  function withUnread(unread: number, count = 40): ConversationMessages {
    const items = Array.from({ length: count }, (_, i) => {
      const fresh = i >= 40 - unread;
      return msg({
        seq: i + 1,
        id: `m${i + 1}`,
        senderId: fresh || i % 2 ? PATIENT.id : DOCTOR.id,
        status: fresh ? 'DELIVERED' : 'READ',
      });
    });
    return { items, hasOlder: false, loadingOlder: false, loaded: true };
  }

  /** Opens it as the doctor; `seen()` is what the list last reported on screen. */
  async function open(unread: number) {
    const store = setup().store;
    let onScreen: ReadonlySet<string> = new Set();
    const view = (data: ConversationMessages) => (
      <StoreProvider store={store}>
        <MessageList
          data={data}
          me={DOCTOR.id}
          onLoadOlder={() => {}}
          onScreenChange={(ids) => (onScreen = ids)}
        />
      </StoreProvider>
    );
    const data = withUnread(unread);
    const { rerender } = render(view(data));
    const list = screen.getByTestId('message-list');
    // The browser's scroll event for where the list opened, and the rows drawn there seen.
    fireEvent.scroll(list);
    await act(async () => {});
    return {
      list,
      data,
      seen: () => [...onScreen].sort(),
      rerender: (data: ConversationMessages) => rerender(view(data)),
    };
  }

  const dividerAbove = () =>
    screen
      .getByTestId('unread-divider')
      .closest('.message-row')
      ?.querySelector('[data-message-id]')
      ?.getAttribute('data-message-id');

  it('starts at the first unread message, under a divider, and does not report the later ones as seen', async () => {
    const { list, data, seen, rerender } = await open(15);
    // m26 is the first unread: its row (divider and all) is at the top of the view.
    expect(screen.getByRole('separator', { name: 'New messages' })).toBe(
      screen.getByTestId('unread-divider'),
    );
    expect(dividerAbove()).toBe('m26');
    expect(box.scrollTop).toBe(25 * ROW);
    expect(seen()).toEqual(['m26', 'm27', 'm28', 'm29', 'm30', 'm31', 'm32', 'm33']);
    expect(screen.getByTestId('jump-to-latest')).toBeInTheDocument();

    // What was seen is marked read: the divider stays where the unread began.
    const read = data.items.map((m) => ((m.seq ?? 0) <= 33 ? { ...m, status: 'READ' as const } : m));
    rerender({ ...data, items: read });
    expect(dividerAbove()).toBe('m26');

    // Down at the bottom, the list follows the newest message again.
    box.scrollTop = maxTop();
    fireEvent.scroll(list);
    box.scrollHeight = 42 * ROW;
    rerender({ ...data, items: [...read, msg({ seq: 41 }), msg({ seq: 42 })] });
    expect(box.scrollTop).toBe(maxTop());
    expect(dividerAbove()).toBe('m26');
  });

  it('opens at the bottom, with no divider, when nothing is unread', async () => {
    const { seen } = await open(0);
    expect(box.scrollTop).toBe(maxTop());
    expect(screen.queryByTestId('unread-divider')).toBeNull();
    expect(seen()).toContain('m40');
  });

  it('opens at the bottom when the unread messages all show there, the divider above them', async () => {
    const { seen } = await open(3);
    expect(box.scrollTop).toBe(maxTop());
    expect(dividerAbove()).toBe('m38');
    expect(seen()).toEqual(expect.arrayContaining(['m38', 'm39', 'm40']));
  });
});
