// Window-wide keys for the text size, as in a browser: Ctrl + (or Ctrl =) larger, Ctrl -
// smaller, Ctrl 0 back to normal. The shell draws the window at the size and keeps it.

import { useEffect } from 'react';
import { textSizeStep } from '../logic/settings';
import { useStore } from '../store/hooks';

export function useTextSizeKeys(): void {
  const store = useStore();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!e.ctrlKey || e.altKey || e.metaKey) return;
      const now = store.getState().settings.textSize;
      const next =
        e.key === '+' || e.key === '='
          ? textSizeStep(now, 1)
          : e.key === '-'
            ? textSizeStep(now, -1)
            : e.key === '0'
              ? 'normal'
              : null;
      if (next === null) return;
      e.preventDefault();
      if (next !== now) void store.updateSettings({ textSize: next });
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store]);
}
