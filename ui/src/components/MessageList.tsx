// The virtualised message history: renders only the rows on screen, loads older pages when the
// user scrolls near the top, keeps the view pinned to the bottom when new messages arrive.

import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { shouldLoadOlder } from '../logic/paging';
import type { ConversationMessages } from '../store/state';
import type { LocalMessage, UserId } from '../types';
import { MessageBubble } from './MessageBubble';

/** A row's key: a clientId is unique only per sender. */
function identity(m: LocalMessage): string {
  return `${m.senderId}|${m.clientId}`;
}

/** Within this many pixels of the bottom counts as "at the bottom" (so new messages scroll in). */
const STICK_PX = 80;

/** How long a message jumped to stays highlighted. */
const HIGHLIGHT_MS = 4000;

export interface MessageListProps {
  data: ConversationMessages;
  me: UserId;
  onLoadOlder: () => void;
  /** A message to scroll to and highlight (older pages are loaded until it is found). */
  focusId?: string | null;
  /** The focused message was shown, or cannot be found. */
  onFocused?: () => void;
}

export function MessageList({ data, me, onLoadOlder, focusId, onFocused }: MessageListProps) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const items = data.items;
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
  const firstIndex = virtualItems[0]?.index ?? -1;

  // Older pages: ask when the first rendered row is near the top. Armed by the first scroll
  // event, because the very first render sits at offset 0 before it is pinned to the bottom.
  const [armed, setArmed] = useState(false);
  useEffect(() => {
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
  useLayoutEffect(() => {
    const before = prev.current;
    const first = items[0] && identity(items[0]);
    const last = items[items.length - 1] && identity(items[items.length - 1]);
    prev.current = { first, last, count: items.length };
    if (items.length === 0) return;
    if (before.count > 0 && first !== before.first && last === before.last) {
      const added = items.findIndex((m) => identity(m) === before.first);
      if (added > 0) virtualizer.scrollToIndex(added, { align: 'start' });
      return;
    }
    // Sending a message always brings the view down to it.
    if (last !== before.last && items[items.length - 1]?.senderId === me) atBottom.current = true;
  }, [items, me, virtualizer]);

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
    atBottom.current = false;
    virtualizer.scrollToIndex(index, { align: 'center' });
    setHighlighted(focusId);
    onFocused?.();
  }, [focusId, items, data.loaded, data.hasOlder, data.loadingOlder, onLoadOlder, onFocused, virtualizer]);
  useEffect(() => {
    if (!highlighted) return;
    const t = setTimeout(() => setHighlighted(null), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [highlighted]);

  // While pinned to the bottom, stay there as rows are measured and added.
  const totalSize = virtualizer.getTotalSize();
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [totalSize, items]);

  // The list gets shorter when the composer grows (an attachment, more lines): stay pinned.
  useEffect(() => {
    const el = scrollRef.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // Only the reader scrolling up leaves the bottom: a row growing under a pinned view (an image
  // that finished loading) also fires scroll events, and must not stop the view following.
  const lastTop = useRef(0);
  const onScroll = () => {
    const el = scrollRef.current;
    if (el) {
      const near = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
      if (near) atBottom.current = true;
      else if (el.scrollTop < lastTop.current) atBottom.current = false;
      lastTop.current = el.scrollTop;
    }
    if (!armed) setArmed(true);
  };

  return (
    <div
      className="message-scroll"
      ref={scrollRef}
      onScroll={onScroll}
      data-testid="message-list"
      tabIndex={0}
      aria-label="Messages"
      role="log"
    >
      {data.loadingOlder && (
        <div className="loading-older" data-testid="loading-older">
          Loading older messages…
        </div>
      )}
      {data.loaded && items.length === 0 && <p className="empty-hint">No messages yet. Say hello!</p>}
      <div className="message-canvas" style={{ height: virtualizer.getTotalSize() }}>
        {virtualItems.map((row) => {
          const msg = items[row.index];
          const isFocus = highlighted !== null && msg.id === highlighted;
          return (
            <div
              key={row.key}
              data-index={row.index}
              ref={virtualizer.measureElement}
              className={`message-row${isFocus ? ' is-highlighted' : ''}`}
              data-highlighted={isFocus || undefined}
              style={{ transform: `translateY(${row.start}px)` }}
            >
              <MessageBubble message={msg} mine={msg.senderId === me} />
            </div>
          );
        })}
      </div>
    </div>
  );
}
