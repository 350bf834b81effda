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
      // Before the first snapshot the page holds the defaults, not this computer's settings:
      // saving them now would overwrite the others.
      if (store.getState().phase === 'starting') return;
      const now = store.getState().settings.textSize;
      // By the character, or by the key's place (other keyboard layouts, the number pad).
      const is = (keys: string[], codes: string[]) => keys.includes(e.key) || codes.includes(e.code);
      const next = is(['+', '='], ['Equal', 'NumpadAdd'])
        ? textSizeStep(now, 1)
        : is(['-'], ['Minus', 'NumpadSubtract'])
          ? textSizeStep(now, -1)
          : is(['0'], ['Digit0', 'Numpad0'])
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
