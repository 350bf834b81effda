// React access to the ChatStore: a context provider and a selector hook.

import { createContext, useContext, useSyncExternalStore, type ReactNode } from 'react';
import type { ChatStore } from './chatStore';
import type { ChatState } from './state';

const StoreContext = createContext<ChatStore | null>(null);

export function StoreProvider({ store, children }: { store: ChatStore; children: ReactNode }) {
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}

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
