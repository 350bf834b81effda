// The React context that carries the ChatStore (split out so component files export components only).

import { createContext } from 'react';
import type { ChatStore } from './chatStore';

export const StoreContext = createContext<ChatStore | null>(null);
