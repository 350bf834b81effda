// Window-wide input for the app lock: every key or click restarts the idle time (the store
// tells the shell at most every few seconds), and Ctrl+L locks at once.

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
    window.addEventListener('keydown', onKey);
    window.addEventListener('pointerdown', onInput);
    window.addEventListener('wheel', onInput, { passive: true });
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('pointerdown', onInput);
      window.removeEventListener('wheel', onInput);
    };
  }, [store]);
}
