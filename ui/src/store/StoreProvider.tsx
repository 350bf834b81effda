// Makes a ChatStore available to the component tree.

import type { ReactNode } from 'react';
import type { ChatStore } from './chatStore';
import { StoreContext } from './context';

export function StoreProvider({ store, children }: { store: ChatStore; children: ReactNode }) {
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}
