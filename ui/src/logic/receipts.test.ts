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
    expect(readMark(items, ME, { focused: true, onScreen: new Set(['d', 'e']) })).toBe('e');
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
