// Window-wide input for the app lock: every key, click, scroll or move of the mouse restarts the
// idle time (the store tells the shell at most every few seconds), and Ctrl+L locks at once.

import { useEffect } from 'react';
import { useStore } from '../store/hooks';

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
    // Only a move that moves: the browser sends moves of its own, of no distance, when the
    // content shifts under a pointer at rest (a new message), and those are nobody's.
    const onMove = (e: MouseEvent) => {
      if (e.movementX !== 0 || e.movementY !== 0) store.userActive();
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
