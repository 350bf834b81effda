// A tiny typed event emitter, the fake backend's stand-in for Tauri's event bus.

import type { Unlisten } from '../backend';
import type { BackendEventName, BackendEvents } from '../types';

type AnyHandler = (payload: never) => void;

export class Emitter {
  private readonly handlers = new Map<string, Set<AnyHandler>>();

  on<E extends BackendEventName>(event: E, handler: (p: BackendEvents[E]) => void): Unlisten {
    const set = this.handlers.get(event) ?? new Set<AnyHandler>();
    set.add(handler as AnyHandler);
    this.handlers.set(event, set);
    return () => set.delete(handler as AnyHandler);
  }

  emit<E extends BackendEventName>(event: E, payload: BackendEvents[E]): void {
    for (const h of this.handlers.get(event) ?? []) (h as (p: BackendEvents[E]) => void)(payload);
  }
}
