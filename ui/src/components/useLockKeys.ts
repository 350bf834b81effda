// Window-wide input for the app lock: every key, click, scroll or move of the mouse restarts the
// idle time (the store tells the shell at most every few seconds), and Ctrl+L locks at once.

import { useEffect } from 'react';
import { useStore } from '../store/hooks';

/**
 * A hand on the mouse moves it at least this far (px, over several moves) within
 * `MOVE_WITHIN_MS`; less is a jittery sensor or a stylus lying in range, nobody's input.
 */
const MOVE_PX = 8;
const MOVE_WITHIN_MS = 1000;

export function useLockKeys(): void {
  const store = useStore();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 'l') {
        e.preventDefault();
        void store.lockNow();
        return;
      }
      store.userActive();
    };
    const onInput = () => store.userActive();
    // Only moves that go somewhere: the browser sends moves of its own, of no distance, when
    // the content shifts under a pointer at rest (a new message), and those are nobody's.
    let moved = 0;
    let since = 0;
    const onMove = (e: MouseEvent) => {
      const distance = Math.abs(e.movementX) + Math.abs(e.movementY);
      if (distance === 0) return;
      const now = Date.now();
      if (now - since > MOVE_WITHIN_MS) {
        moved = 0;
        since = now;
      }
      moved += distance;
      if (moved >= MOVE_PX) {
        moved = 0;
        since = now;
        store.userActive();
      }
    };
    window.addEventListener('keydown', onKey);
    window.addEventListener('pointerdown', onInput);
    window.addEventListener('wheel', onInput, { passive: true });
    window.addEventListener('mousemove', onMove, { passive: true });
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('pointerdown', onInput);
      window.removeEventListener('wheel', onInput);
      window.removeEventListener('mousemove', onMove);
    };
  }, [store]);
}
