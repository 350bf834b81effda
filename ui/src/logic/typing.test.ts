import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TYPING_IDLE_MS, TYPING_REFRESH_MS, TypingSender, applyTyping, typingUsers } from './typing';

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

  it('says "typing" again while typing goes on, so peers do not time it out', () => {
    const sent: boolean[] = [];
    const t = new TypingSender((v) => sent.push(v));
    // Ten seconds of steady typing, a key every 200 ms.
    for (let ms = 0; ms < 10_000; ms += 200) {
      t.input();
      vi.advanceTimersByTime(200);
    }
    const starts = sent.filter((v) => v).length;
    expect(sent).not.toContain(false);
    // Refreshed at least once within every peer timeout (6 s), never once per key.
    expect(starts).toBeGreaterThanOrEqual(Math.ceil(10_000 / 6000) + 1);
    expect(starts).toBeLessThanOrEqual(Math.ceil(10_000 / TYPING_REFRESH_MS) + 1);
    expect(TYPING_REFRESH_MS).toBeLessThan(6000);
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

  it('shows others typing until the core says they stopped, never me', () => {
    let map = applyTyping({}, { ...key, userId: 'd', typing: true });
    map = applyTyping(map, { ...key, userId: 'p', typing: true });
    map = applyTyping(map, { ...key, userId: 'd', typing: true });
    expect(typingUsers(map, key, 'p')).toEqual(['d']);
    const stopped = applyTyping(map, { ...key, userId: 'd', typing: false });
    expect(typingUsers(stopped, key, 'p')).toEqual([]);
  });
});
