import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  TYPING_IDLE_MS,
  TYPING_TIMEOUT_MS,
  TypingSender,
  applyTyping,
  expireTyping,
  nextExpiry,
  typingUsers,
} from './typing';

describe('TypingSender', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends one start for many keystrokes and one stop after the pause', () => {
    const sent: boolean[] = [];
    const t = new TypingSender((v) => sent.push(v));
    t.input();
    vi.advanceTimersByTime(1000);
    t.input();
    t.input();
    expect(sent).toEqual([true]);
    vi.advanceTimersByTime(TYPING_IDLE_MS - 1);
    expect(sent).toEqual([true]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([true, false]);
  });

  it('stops at once on send, and does not stop twice', () => {
    const sent: boolean[] = [];
    const t = new TypingSender((v) => sent.push(v));
    t.input();
    t.stop();
    t.stop();
    vi.advanceTimersByTime(TYPING_IDLE_MS * 2);
    expect(sent).toEqual([true, false]);
  });
});

describe('remote typing', () => {
  const key = { patientId: 'p', doctorId: 'd' };

  it('shows others typing until stop or timeout, never me', () => {
    let map = applyTyping({}, { ...key, userId: 'd', typing: true }, 1000);
    map = applyTyping(map, { ...key, userId: 'p', typing: true }, 1000);
    expect(typingUsers(map, key, 'p', 1500)).toEqual(['d']);
    expect(nextExpiry(map)).toBe(1000 + TYPING_TIMEOUT_MS);
    expect(typingUsers(map, key, 'p', 1000 + TYPING_TIMEOUT_MS)).toEqual([]);
    const stopped = applyTyping(map, { ...key, userId: 'd', typing: false }, 2000);
    expect(typingUsers(stopped, key, 'p', 2000)).toEqual([]);
  });

  it('expiry drops stale entries and keeps the same map when nothing expired', () => {
    const map = applyTyping({}, { ...key, userId: 'd', typing: true }, 0);
    expect(expireTyping(map, 10)).toBe(map);
    const expired = expireTyping(map, TYPING_TIMEOUT_MS + 1);
    expect(nextExpiry(expired)).toBeNull();
  });
});
