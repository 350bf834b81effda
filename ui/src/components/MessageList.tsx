// The virtualised message history: renders only the rows on screen, loads older pages when the
// user scrolls near the top, keeps the view pinned to the bottom when new messages arrive, and
// reports which messages are on screen (the store marks read only what was seen); a day's first
// message has the day above it. Rows inserted above what the reader sees (an older page) leave the
// messages on screen exactly where they were (see logic/scrollAnchor.ts). A conversation opened
// with unread messages opens at the first of them, under a "New messages" divider, not at the
// bottom: opened at the bottom, everything above it would be marked read unseen.

import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type RefObject } from 'react';
import { resolutionRows } from '../logic/emergency';
import { dayLabel, sameDay } from '../logic/format';
import { shouldLoadOlder } from '../logic/paging';
import { isOnScreen } from '../logic/receipts';
import { firstUnread, isUnread } from '../logic/unread';
import {
  anchorShifted,
  estimatedScrollTop,
  heldScrollTop,
  pickAnchor,
  sameScrollTop,
  type Anchor,
  type MeasuredRow,
} from '../logic/scrollAnchor';
import type { ConversationMessages } from '../store/state';
import type { Emergency, LocalMessage, MessageId, UserId } from '../types';
import { MessageBoundary } from './MessageBoundary';
import { MessageBubble } from './MessageBubble';
import { ResolutionNote } from './ResolutionNote';
import { useNow } from './useNow';
import { focusIsNowhere } from './focus';

/** A row's key: a clientId is unique only per sender. */
function identity(m: LocalMessage): string {
  return `${m.senderId}|${m.clientId}`;
}

/** Within this many pixels of the bottom counts as "at the bottom" (so new messages scroll in). */
const STICK_PX = 80;

/** How long a message jumped to stays highlighted. */
const HIGHLIGHT_MS = 4000;

/** How long the messages on screen are held in place after rows were inserted above them, while
 * the new rows are measured and their images load (the reader scrolling ends it at once). */
const HOLD_MS = 1500;

/** The rendered messages in list order, measured against the top of the list's viewport (lazily:
 * the caller stops at the first one it needs). */
function* measuredRows(
  list: HTMLElement,
  canvas: HTMLElement,
  items: readonly LocalMessage[],
): Generator<MeasuredRow> {
  const edge = list.getBoundingClientRect().top + list.clientTop;
  for (const row of canvas.children) {
    const index = Number((row as HTMLElement).dataset.index);
    const message = row.querySelector(':scope > .message-cell');
    if (!message || !items[index]) continue;
    const box = message.getBoundingClientRect();
    yield {
      key: identity(items[index]),
      index,
      rowTop: row.getBoundingClientRect().top - edge,
      top: box.top - edge,
      bottom: box.bottom - edge,
    };
  }
}

/** How long after the reader's last wheel, touch, press or key a scroll still counts as theirs
 * (a smooth or kinetic scroll goes on moving after the input, while rows are measured). */
const READER_MS = 1000;

export interface MessageListProps {
  data: ConversationMessages;
  me: UserId;
  onLoadOlder: () => void;
  /** A message to scroll to and highlight (older pages are loaded until it is found). */
  focusId?: string | null;
  /** The focused message was shown, or cannot be found. */
  onFocused?: () => void;
  /** Which messages (by server id) are on screen now, whenever that changes. */
  onScreenChange?: (ids: ReadonlySet<MessageId>) => void;
  /** The conversation's resolved emergencies: who resolved each shows under its newest message. */
  resolved?: readonly Emergency[];
  /** The conversation's doctor (the record of an emergency they took in another conversation
   * shows here too). */
  doctorId?: string | null;
}

const NONE: readonly Emergency[] = [];

/**
 * Watches the rendered rows with an IntersectionObserver (no layout reads on scroll) and reports
 * the ids of the messages on screen. Returns the function each row's ref calls.
 */
function useOnScreen(
  scrollRef: RefObject<HTMLDivElement | null>,
  onChange: ((ids: ReadonlySet<MessageId>) => void) | undefined,
) {
  const observer = useRef<IntersectionObserver | null>(null);
  const shown = useRef(new Set<MessageId>());
  const rows = useRef(new Set<HTMLElement>());
  const onChangeRef = useRef(onChange);
  useEffect(() => {
    onChangeRef.current = onChange;
  }, [onChange]);
  useEffect(() => {
    const root = scrollRef.current;
    if (!root || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver(
      (entries) => {
        let changed = false;
        for (const e of entries) {
          const id = (e.target as HTMLElement).dataset.messageId;
          if (!id) continue;
          const viewport = e.rootBounds?.height ?? root.clientHeight;
          const seen =
            e.isIntersecting && isOnScreen(e.intersectionRect.height, e.boundingClientRect.height, viewport);
          if (seen !== shown.current.has(id)) {
            if (seen) shown.current.add(id);
            else shown.current.delete(id);
            changed = true;
          }
        }
        if (changed) onChangeRef.current?.(new Set(shown.current));
      },
      { root, threshold: [0, 0.25, 0.5, 0.75, 1] },
    );
    observer.current = io;
    for (const el of rows.current) io.observe(el);
    return () => {
      io.disconnect();
      observer.current = null;
    };
  }, [scrollRef]);
  // A row's ref: watch it while it is mounted (virtualised rows come and go as one scrolls).
  return useCallback((el: HTMLElement) => {
    rows.current.add(el);
    observer.current?.observe(el);
    return () => {
      rows.current.delete(el);
      observer.current?.unobserve(el);
      const gone = el.dataset.messageId;
      if (gone && shown.current.delete(gone)) onChangeRef.current?.(new Set(shown.current));
    };
  }, []);
}

/** Keys that scroll a focused list up. */
const UP_KEYS = new Set(['PageUp', 'ArrowUp', 'Home']);

/** How long a wheel or key asking to go up holds the list back from the newest message while
 * the scroll it starts has not moved yet (a smooth scroll's first frame came 5-130 ms after the
 * input in WebKitGTK). If nothing moved by then, the list follows again. */
const UP_WAIT_MS = 250;

/**
 * Whether the reader just used a wheel, a touch, a key or the scrollbar in the list: a scroll
 * right after that is theirs, even while the list's size changes under it. A press on the
 * scrollbar (its track or thumb) reaches the list itself; a press on a message is a click, not a
 * scroll. Only when each input happened counts, never whether a press was let go, so a release
 * the list never hears changes nothing. A wheel, or a key to the list itself, that asks to go
 * up calls `upward` at once: the scroll it starts may only move a frame or more later (a smooth
 * scroll), and a message arriving before that must not take the reader back down. A key in a
 * message (its menu, the edit box) is the message's, not a scroll of the list.
 */
function useReaderInput(
  scrollRef: RefObject<HTMLDivElement | null>,
  upward: () => void,
): (after: number) => boolean {
  const lastInput = useRef(-Infinity);
  const up = useRef(upward);
  useEffect(() => {
    up.current = upward;
  }, [upward]);
  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const input = () => {
      lastInput.current = performance.now();
    };
    const wheel = (e: WheelEvent) => {
      input();
      if (e.deltaY < 0) up.current();
    };
    const key = (e: KeyboardEvent) => {
      input();
      if (e.target === el && UP_KEYS.has(e.key)) up.current();
    };
    const press = (e: PointerEvent) => {
      if (e.target === el) input();
    };
    const passive = { passive: true };
    el.addEventListener('wheel', wheel, passive);
    el.addEventListener('touchmove', input, passive);
    el.addEventListener('pointerdown', press, passive);
    el.addEventListener('keydown', key);
    return () => {
      el.removeEventListener('wheel', wheel);
      el.removeEventListener('touchmove', input);
      el.removeEventListener('pointerdown', press);
      el.removeEventListener('keydown', key);
    };
  }, [scrollRef]);
  // Input from before `after` (a moment given by `performance.now()`) does not count.
  return useCallback(
    (after: number) => lastInput.current > after && performance.now() - lastInput.current < READER_MS,
    [],
  );
}

export function MessageList({
  data,
  me,
  onLoadOlder,
  focusId,
  onFocused,
  onScreenChange,
  resolved = NONE,
  doctorId = null,
}: MessageListProps) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const watchRow = useOnScreen(scrollRef, onScreenChange);
  const items = data.items;
  const resolutions = useMemo(
    () => resolutionRows(items, resolved, doctorId, data.hasOlder),
    [items, resolved, doctorId, data.hasOlder],
  );
  // The reader's place when rows are inserted above it (the layout effect further down).
  const canvasRef = useRef<HTMLDivElement>(null);
  const anchor = useRef<Anchor | null>(null);
  const hold = useRef<{ anchor: Anchor; since: number } | null>(null);
  // Where the list stood after the last commit or scroll event (see onScroll).
  const knownTop = useRef(0);
  const anchoredItems = useRef(items);
  const dropHold = useCallback(() => {
    hold.current = null;
    anchor.current = null;
  }, []);
  // The virtualiser returns new measurements from a stable object, which the React Compiler cannot
  // memoise; we do not use the compiler, and re-render through `items` anyway.
  // oxlint-disable-next-line react/incompatible-library
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 72,
    overscan: 8,
    getItemKey: (i) => (items[i] ? identity(items[i]) : i),
    initialRect: { width: 600, height: 600 },
  });
  const virtualItems = virtualizer.getVirtualItems();
  // "Today" becomes "Yesterday" at midnight without a new message.
  const today = new Date(useNow(60_000, ''));
  // One stable ref for every row (a new function each render would re-attach every row). The row
  // is measured with its day divider; only the message in it is watched for being on screen, so
  // a divider never counts toward a message being seen.
  const rowRef = useCallback((el: HTMLDivElement | null) => virtualizer.measureElement(el), [virtualizer]);
  const messageRef = useCallback((el: HTMLDivElement | null) => (el ? watchRow(el) : undefined), [watchRow]);
  const firstIndex = virtualItems[0]?.index ?? -1;

  // Older pages: ask when the first rendered row is near the top. Armed by the first scroll
  // event, because the very first render sits at offset 0 before it is pinned to the bottom.
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    // Not while a page just prepended is held in place: the render that brought it still shows
    // the rows at the old scroll position (now the new page's first rows), not the reader's.
    if (hold.current) return;
    if (
      armed &&
      shouldLoadOlder({ firstVisibleIndex: firstIndex, hasOlder: data.hasOlder, loading: data.loadingOlder })
    )
      onLoadOlder();
  }, [armed, firstIndex, data.hasOlder, data.loadingOlder, onLoadOlder]);

  // Keep the reader where they were when a page is prepended; follow the bottom otherwise.
  const prev = useRef<{ first: string | undefined; last: string | undefined; count: number }>({
    first: undefined,
    last: undefined,
    count: 0,
  });
  const atBottom = useRef(true);
  // Whether the view has left the bottom, for the "new messages" button (the ref is what the
  // scroll rules read; the state only renders the button).
  const [behind, setBehind] = useState(false);
  const follow = useCallback((on: boolean) => {
    atBottom.current = on;
    setBehind(!on);
  }, []);
  useLayoutEffect(() => {
    const before = prev.current;
    const first = items[0] && identity(items[0]);
    const last = items[items.length - 1] && identity(items[items.length - 1]);
    prev.current = { first, last, count: items.length };
    if (items.length === 0) return;
    // A page prepended keeps the reader where they were (the anchor, below).
    if (before.count > 0 && first !== before.first && last === before.last) return;
    // Sending a message always brings the view down to it.
    if (last !== before.last && items[items.length - 1]?.senderId === me) follow(true);
  }, [items, me, follow]);

  // Where the unread messages began when the conversation was opened: decided once, when its
  // messages are loaded, so the divider stays put as they are read (the list is drawn anew for
  // each conversation opened). `undefined` until then, `null` for nothing unread.
  const [unreadFrom, setUnreadFrom] = useState<string | null | undefined>(undefined);
  if (unreadFrom === undefined && data.loaded) {
    const first = firstUnread(items, me);
    setUnreadFrom(first && identity(first));
  }
  // Opened with unread messages: the first one goes to the top of the view, and the list stops
  // following the bottom, so only what shows is marked read and the reader scrolls down through
  // the rest. When they all fit above the bottom, the browser stops the list at the bottom and it
  // follows as usual. A message jumped to (focusId) is where the view opens instead.
  const openedAtUnread = useRef(false);
  useLayoutEffect(() => {
    const el = scrollRef.current;
    const canvas = canvasRef.current;
    if (openedAtUnread.current || unreadFrom === undefined || !el || !canvas) return;
    openedAtUnread.current = true;
    const index = items.findIndex((m) => identity(m) === unreadFrom);
    if (focusId || index < 0) return;
    // Asked now, not read from the last render: the rows drawn in this commit were just measured.
    const start = virtualizer.getOffsetForIndex(index, 'start')?.[0];
    if (start === undefined) return;
    el.scrollTop = canvas.offsetTop + start;
    follow(el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX);
  }, [unreadFrom, items, focusId, virtualizer, follow]);

  // One Tab stop for the messages, not one each: the one last focused while it is here, else the
  // newest; the arrow keys go from it to the others.
  const [current, setCurrent] = useState<string | null>(null);
  // Only a drawn row can be a stop: scrolled away from it, the stop is the lowest row drawn
  // (else Tab would find no message at all).
  const drawnFrom = virtualItems[0]?.index ?? 0;
  const drawnTo = virtualItems[virtualItems.length - 1]?.index ?? -1;
  const tabbable = useMemo(() => {
    const at = (key: string | null) => (key ? items.findIndex((m) => identity(m) === key) : -1);
    const drawn = (i: number) => i >= drawnFrom && i <= drawnTo;
    const chosen = at(current);
    if (chosen >= 0 && drawn(chosen)) return current;
    const newest = items.length - 1;
    if (drawn(newest)) return identity(items[newest]);
    return drawnTo >= 0 && items[drawnTo] ? identity(items[drawnTo]) : null;
  }, [current, items, drawnFrom, drawnTo]);

  // Jump to a message ("Open chat" on an emergency): load older pages until it is there, then
  // scroll it to the middle and highlight it; the view stops following the bottom.
  const [highlighted, setHighlighted] = useState<string | null>(null);
  useEffect(() => {
    if (!focusId || !data.loaded) return;
    const index = items.findIndex((m) => m.id === focusId);
    if (index < 0) {
      if (data.hasOlder) {
        if (!data.loadingOlder) onLoadOlder();
      } else onFocused?.();
      return;
    }
    follow(false);
    dropHold();
    virtualizer.scrollToIndex(index, { align: 'center' });
    setHighlighted(focusId);
    onFocused?.();
  }, [
    focusId,
    items,
    data.loaded,
    data.hasOlder,
    data.loadingOlder,
    onLoadOlder,
    onFocused,
    virtualizer,
    follow,
    dropHold,
  ]);
  useEffect(() => {
    if (!highlighted) return;
    const t = setTimeout(() => setHighlighted(null), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [highlighted]);
  // Jumped to from what went away (a search result): the message takes the focus, so the keys
  // go on from it. Where the focus already is somewhere (the composer, after "Open chat"), it
  // stays.
  useEffect(() => {
    if (!highlighted) return;
    const take = () => {
      if (!focusIsNowhere()) return true;
      const bubble = scrollRef.current?.querySelector<HTMLElement>(
        `[data-message-id="${CSS.escape(highlighted)}"] [data-testid="message"]`,
      );
      bubble?.focus({ preventScroll: true });
      return !!bubble;
    };
    if (take()) return;
    // Drawn once the list has scrolled to it.
    const t = setTimeout(take, 100);
    return () => clearTimeout(t);
  }, [highlighted]);

  // Asked to go up: until the scroll moves (or UP_WAIT_MS passes) a new message does not pin.
  const upAskedAt = useRef(-Infinity);
  const askedUp = useCallback(() => {
    upAskedAt.current = performance.now();
  }, []);
  // What the reader did last, and where the list stood at the last scroll event (see onScroll).
  const readerInput = useReaderInput(scrollRef, askedUp);
  const lastTop = useRef(0);
  const lastSize = useRef({ content: 0, box: 0 });
  // The reader's input counts only if it came after the list's box last changed size: a box
  // that changed (the window resized, the composer grew) moves the list itself, over a frame or
  // two of scroll events (the height first, then the bubbles re-wrapping), whoever touched it a
  // moment before. A height that neither the previous scroll event nor the ResizeObserver has
  // seen yet is a change too: the browser may fire a scroll event for a new size before the
  // observer reports it (and the observer may report it well before the next scroll event).
  const boxChangedAt = useRef(-Infinity);
  const observedBox = useRef(-1);
  const readerMoved = useCallback(
    (el: HTMLElement) =>
      (el.clientHeight === lastSize.current.box || el.clientHeight === observedBox.current) &&
      readerInput(boxChangedAt.current),
    [readerInput],
  );

  // While pinned to the bottom, stay there as rows are measured and added; unless the reader has
  // just scrolled up and the scroll event is still to come (a row landing in the same frame as a
  // jump from the scrollbar, or in the middle of a smooth scroll): pinning now would undo it. A
  // list exactly at its bottom was not moved up by anyone (a row that shrank clamps it there).
  // Asked to go up and not moved yet: pin once the wait is over, if the scroll never came.
  const totalSize = virtualizer.getTotalSize();
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el || !atBottom.current) return;
    const gap = el.scrollHeight - el.scrollTop - el.clientHeight;
    if (gap > 1 && el.scrollTop < lastTop.current && readerMoved(el)) {
      follow(false);
      return;
    }
    const wait = UP_WAIT_MS - (performance.now() - upAskedAt.current);
    if (wait <= 0) {
      el.scrollTop = el.scrollHeight;
      return;
    }
    const t = setTimeout(() => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    }, wait);
    return () => clearTimeout(t);
  }, [totalSize, items, readerMoved, follow]);

  // The list's box changes size when the composer grows (an attachment, more lines) and when the
  // window is resized: stay pinned.
  useEffect(() => {
    const el = scrollRef.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      boxChangedAt.current = performance.now();
      observedBox.current = el.clientHeight;
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // The reader's place when rows are inserted above it (an older page): the first message on
  // screen is taken after every commit and scroll, and when a commit finds it at another index,
  // its message is put back where it was on screen, and held there over the next commits (the
  // new rows measured, the day divider gone from its row, images loading) until HOLD_MS passes,
  // the reader scrolls, or the list follows the bottom. Its own message, not its row, is what
  // stays: the row also holds the day divider, which moves to the new first row when the older
  // page ends on the same day. Nothing is taken without layout (jsdom), so nothing is held.
  useLayoutEffect(() => {
    const el = scrollRef.current;
    const canvas = canvasRef.current;
    if (!el || !canvas) return;
    let held = hold.current;
    if (held && (atBottom.current || performance.now() - held.since > HOLD_MS || readerInput(held.since)))
      held = hold.current = null;
    if (items !== anchoredItems.current) {
      anchoredItems.current = items;
      const was = held?.anchor ?? anchor.current;
      const index = was ? items.findIndex((m) => identity(m) === was.key) : -1;
      // A held message that left the list (discarded, say) holds nothing any more.
      if (held && index < 0) held = hold.current = null;
      else if (was && !atBottom.current && anchorShifted(was, index))
        held = hold.current = { anchor: { ...was, index }, since: held?.since ?? performance.now() };
      // Rows drawn already may have changed height with the list (a day divider moves to the
      // new first row of the day): measured now, not at the resize observer's next turn, the
      // rows below never stand a divider's height apart for a few frames.
      if (held) for (const row of canvas.children) virtualizer.measureElement(row as HTMLElement);
    }
    if (held) {
      const { anchor: a } = held;
      const drawn = canvas.querySelector(`:scope > [data-index="${a.index}"]`);
      let target: number | null = null;
      if (drawn) {
        for (const r of measuredRows(el, canvas, items)) {
          if (r.index !== a.index) continue;
          target = heldScrollTop(el.scrollTop, a, r.top, el.scrollHeight - el.clientHeight);
          break;
        }
      } else {
        const start = virtualizer.measurementsCache[a.index]?.start;
        if (start !== undefined) target = estimatedScrollTop(a, start, canvas.offsetTop);
      }
      if (target !== null && !sameScrollTop(target, el.scrollTop)) virtualizer.scrollToOffset(target);
    } else {
      anchor.current = pickAnchor(measuredRows(el, canvas, items));
    }
    knownTop.current = el.scrollTop;
  });

  // Only the reader scrolling up leaves the bottom. Layout fires scroll events too (an image
  // that finished loading, a resize), and by the time one is handled the geometry it reads may
  // have moved on: narrowing the window makes the browser clamp scrollTop (the box got taller)
  // while the bubbles re-wrap (the content got taller), which looked like the reader scrolling
  // up far from the bottom and unpinned the view for good. Such a scroll comes with the list's
  // size changed since the previous scroll event; a reader's (the scrollbar, keys, a screen
  // reader moving its reading point) leaves it as it was, or follows a wheel, touch, key or a
  // press on the scrollbar. A scroll up right after the reader asked to go up (a wheel up, an
  // up key) leaves the bottom even when it ends near it (one notch of the wheel, the first
  // frames of a smooth scroll); other input does not (a row that shrank after a key in the edit
  // box clamps the list up a little, and it stays pinned).
  const onScroll = () => {
    const el = scrollRef.current;
    const canvas = canvasRef.current;
    if (el && canvas) {
      // A scroll that finds the list elsewhere than it was left was not the list's own doing (the
      // virtualiser's corrections commit before their event comes): the reader (a drag of the
      // scrollbar, say) took over, and a hold ends. React hears the event before the virtualiser
      // (its listener is on the element from the start), whose re-render would otherwise be held
      // back to the anchor against the reader's scroll. The reader's place moves with them.
      if (hold.current && !sameScrollTop(el.scrollTop, knownTop.current)) hold.current = null;
      if (!hold.current) anchor.current = pickAnchor(measuredRows(el, canvas, items));
      knownTop.current = el.scrollTop;
    }
    if (el) {
      const near = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
      const resized =
        el.scrollHeight !== lastSize.current.content || el.clientHeight !== lastSize.current.box;
      const up = el.scrollTop < lastTop.current;
      const theirs = readerMoved(el);
      const askedUp =
        theirs &&
        upAskedAt.current > boxChangedAt.current &&
        performance.now() - upAskedAt.current < READER_MS;
      if (near && !(up && askedUp)) follow(true);
      else if (up && (!resized || theirs)) follow(false);
      lastTop.current = el.scrollTop;
      lastSize.current = { content: el.scrollHeight, box: el.clientHeight };
    }
    if (!armed) setArmed(true);
  };

  // Messages to this user not read yet, while the view is elsewhere: they arrived below (what
  // was on screen is marked read up to its newest), and the list no longer follows them. In
  // another doctor's conversation (opened from an emergency) none is to this user: what the
  // patient wrote to that doctor is not news waiting for this one.
  const unseen = behind ? items.filter((m) => isUnread(m, me)).length : 0;
  const toLatest = () => {
    const el = scrollRef.current;
    // Asked to go down: an earlier wheel up no longer holds the list back.
    upAskedAt.current = -Infinity;
    dropHold();
    follow(true);
    if (el) el.scrollTop = el.scrollHeight;
  };

  return (
    <div className="message-pane">
      <div
        className="message-scroll"
        ref={scrollRef}
        onScroll={onScroll}
        onFocus={(e) => {
          const bubble = (e.target as HTMLElement).closest<HTMLElement>('[data-testid="message"]');
          if (bubble?.dataset.senderId && bubble.dataset.clientId)
            setCurrent(`${bubble.dataset.senderId}|${bubble.dataset.clientId}`);
        }}
        data-testid="message-list"
        tabIndex={0}
        aria-label="Messages"
        role="log"
      >
        {resolutions.first.map((e) => (
          <ResolutionNote key={e.id} emergency={e} elsewhere />
        ))}
        {data.loaded && items.length === 0 && <p className="empty-hint">No messages yet. Say hello!</p>}
        <div className="message-canvas" ref={canvasRef} style={{ height: virtualizer.getTotalSize() }}>
          {virtualItems.map((row) => {
            const msg = items[row.index];
            const isFocus = highlighted !== null && msg.id === highlighted;
            const previous = items[row.index - 1];
            const newDay = !previous || !sameDay(previous.createdAt, msg.createdAt);
            return (
              <div
                key={row.key}
                data-index={row.index}
                ref={rowRef}
                className={`message-row${isFocus ? ' is-highlighted' : ''}`}
                data-highlighted={isFocus || undefined}
                style={{ transform: `translateY(${row.start}px)` }}
              >
                {newDay && (
                  <div className="day-divider" role="separator" data-testid="day-divider">
                    <span>{dayLabel(msg.createdAt, today)}</span>
                  </div>
                )}
                {unreadFrom === identity(msg) && (
                  <div
                    className="day-divider unread-divider"
                    role="separator"
                    aria-label="New messages"
                    data-testid="unread-divider"
                  >
                    <span>New messages</span>
                  </div>
                )}
                <div className="message-cell" data-message-id={msg.id ?? undefined} ref={messageRef}>
                  <MessageBoundary
                    resetKey={`${msg.content}|${msg.edited?.version ?? 0}|${msg.retracted ? 1 : 0}`}
                    text={msg.content}
                  >
                    <MessageBubble
                      message={msg}
                      mine={msg.senderId === me}
                      tabbable={identity(msg) === tabbable}
                    />
                  </MessageBoundary>
                </div>
                {resolutions.rows.get(row.index)?.map((e) => (
                  <ResolutionNote key={e.id} emergency={e} elsewhere={e.doctorId !== msg.doctorId} />
                ))}
              </div>
            );
          })}
        </div>
      </div>
      {/* Over the list, not in it: a line in the list would push the messages down while a page
          loads, and pull them up again when it came. */}
      {data.loadingOlder && (
        <div className="loading-older" data-testid="loading-older">
          Loading older messages…
        </div>
      )}
      {unseen > 0 && (
        <button type="button" className="jump-latest" data-testid="jump-to-latest" onClick={toLatest}>
          {unseen === 1 ? '1 new message' : `${unseen} new messages`} ↓
        </button>
      )}
    </div>
  );
}
