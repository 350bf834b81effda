// A clock for ages shown on screen ("raised 3 min ago").

import { useEffect, useState } from 'react';

/**
 * The time now, renewed every `every` ms, whenever `key` changes (so something that just
 * appeared is never aged by a stale clock), and whenever the window is shown or focused again: a
 * webview hidden in the tray may hold its timers back, and a doctor who opens the app after
 * midnight must not read "Today" over yesterday's messages until the next tick.
 */
export function useNow(every: number, key: string): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const tick = () => setNow(Date.now());
    const first = setTimeout(tick, 0);
    const t = setInterval(tick, every);
    const onShown = () => {
      if (document.visibilityState === 'visible') tick();
    };
    document.addEventListener('visibilitychange', onShown);
    window.addEventListener('focus', tick);
    return () => {
      clearTimeout(first);
      clearInterval(t);
      document.removeEventListener('visibilitychange', onShown);
      window.removeEventListener('focus', tick);
    };
  }, [every, key]);
  return now;
}
