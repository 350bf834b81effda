// React access to the ChatStore: the store itself and a selector hook.

import { useContext, useSyncExternalStore } from 'react';
import type { PeerStatus } from '../logic/presence';
import type { ChatStore } from './chatStore';
import { StoreContext } from './context';
import type { ChatState } from './state';

export function useStore(): ChatStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useStore outside StoreProvider');
  return store;
}

/**
 * Re-renders when the selected slice changes. The selector must return something already in the
 * state (not a new array or object each call), or React would loop; derive with useMemo instead.
 */
export function useChat<T>(selector: (s: ChatState) => T): T {
  const store = useStore();
  return useSyncExternalStore(store.subscribe, () => selector(store.getState()));
}

/** What to show for a user's presence: online, do not disturb, offline, or unknown (we are offline). */
export function usePeerStatus(userId: string | undefined): PeerStatus {
  const store = useStore();
  return useChat(() => (userId ? store.peerStatus(userId) : 'unknown'));
}

/** The app has no connection to the clinic now: what waits to be sent says so. */
export function useOffline(): boolean {
  return useChat((s) => s.connection.state !== 'online');
}
