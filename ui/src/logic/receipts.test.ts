import { describe, expect, it } from 'vitest';
import type { LocalMessage } from '../types';
import { isOnScreen, readMark } from './receipts';

const ME = 'doc';
function m(id: string, senderId: string, status: LocalMessage['status'] = 'DELIVERED'): LocalMessage {
  return { id, senderId, status } as LocalMessage;
}

describe('readMark (the receipt rule)', () => {
  const items = [m('a', 'pat', 'READ'), m('b', 'pat'), m('c', ME, 'SENT'), m('d', 'pat'), m('e', 'pat')];

  it('marks nothing while the window does not have focus, whatever is on screen', () => {
    expect(readMark(items, ME, { focused: false, onScreen: new Set(['b', 'd', 'e']) })).toBeNull();
  });

  it('marks up to the newest unread message on screen, never one below the fold', () => {
    // The emergency "e" is below the fold: the mark names "d", so "e" stays unread.
    expect(readMark(items, ME, { focused: true, onScreen: new Set(['b', 'c', 'd']) })).toBe('d');
    expect(readMark(items, ME, { focused: true, onScreen: new Set(['d', 'e']), seen: new Set(['b']) })).toBe(
      'e',
    );
  });

  it('never goes past an unread message not seen: one skipped stays unread, with what follows it', () => {
    // A jump to the bottom (a reply sent, a search result) shows "d" and "e"; "b" was never seen.
    expect(readMark(items, ME, { focused: true, onScreen: new Set(['d', 'e']) })).toBeNull();
    // Seen earlier in this conversation, it no longer holds the mark back.
    expect(readMark(items, ME, { focused: true, onScreen: new Set(['e']), seen: new Set(['b', 'd']) })).toBe(
      'e',
    );
    // Seen "b" but not "d": the mark stops at "b", and "d" and "e" stay unread.
    expect(readMark(items, ME, { focused: true, onScreen: new Set(['e']), seen: new Set(['b']) })).toBe('b');
  });

  it('a message taken back, nothing to read, does not hold the mark back', () => {
    const gone = { ...m('b', 'pat'), retracted: { at: 'x' } } as unknown as LocalMessage;
    const list = [m('a', 'pat', 'READ'), gone, m('d', 'pat')];
    expect(readMark(list, ME, { focused: true, onScreen: new Set(['d']) })).toBe('d');
  });

  it('marks nothing when the unread messages are off screen or already read', () => {
    expect(readMark(items, ME, { focused: true, onScreen: new Set() })).toBeNull();
    expect(readMark(items, ME, { focused: true, onScreen: new Set(['a', 'c']) })).toBeNull();
  });

  it('never marks my own messages or ones the server has not stored', () => {
    const pending = { ...m('x', 'pat'), id: null } as LocalMessage;
    expect(
      readMark([m('c', ME, 'SENT'), pending], ME, { focused: true, onScreen: new Set(['c']) }),
    ).toBeNull();
  });
});

describe('isOnScreen', () => {
  it('needs half of a message to show', () => {
    expect(isOnScreen(30, 60, 500)).toBe(true);
    expect(isOnScreen(29, 60, 500)).toBe(false);
    expect(isOnScreen(0, 60, 500)).toBe(false);
  });

  it('counts a message taller than the viewport once it fills half of it', () => {
    expect(isOnScreen(250, 2000, 500)).toBe(true);
    expect(isOnScreen(200, 2000, 500)).toBe(false);
  });

  it('never counts an empty viewport or message', () => {
    expect(isOnScreen(0, 0, 500)).toBe(false);
    expect(isOnScreen(10, 10, 0)).toBe(false);
  });
});
