// A clock for ages shown on screen ("raised 3 min ago").

import { useEffect, useState } from 'react';

/**
 * The time now, renewed every `every` ms and whenever `key` changes (so something that just
 * appeared is never aged by a stale clock).
 */
export function useNow(every: number, key: string): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const tick = () => setNow(Date.now());
    const first = setTimeout(tick, 0);
    const t = setInterval(tick, every);
    return () => {
      clearTimeout(first);
      clearInterval(t);
    };
  }, [every, key]);
  return now;
}
