import { act, render } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useNow } from './useNow';

function Clock() {
  return <span data-testid="now">{useNow(60_000, '')}</span>;
}

describe('useNow', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-07T23:59:30'));
  });
  afterEach(() => vi.useRealTimers());

  it('renews the time when the window comes back, before the next tick', () => {
    const { getByTestId } = render(<Clock />);
    act(() => void vi.advanceTimersByTime(1));
    const before = Number(getByTestId('now').textContent);
    // Midnight passes while the timers are held back (a hidden webview): no tick has run.
    vi.setSystemTime(new Date('2026-12-08T00:00:40'));
    expect(Number(getByTestId('now').textContent)).toBe(before);
    act(() => void window.dispatchEvent(new Event('focus')));
    expect(Number(getByTestId('now').textContent)).toBe(new Date('2026-12-08T00:00:40').getTime());
  });

  it('renews it when the page becomes visible again', () => {
    const { getByTestId } = render(<Clock />);
    act(() => void vi.advanceTimersByTime(1));
    vi.setSystemTime(new Date('2026-12-08T00:00:40'));
    act(() => void document.dispatchEvent(new Event('visibilitychange')));
    expect(Number(getByTestId('now').textContent)).toBe(new Date('2026-12-08T00:00:40').getTime());
  });
});
