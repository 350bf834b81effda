// Where the keyboard's focus was when the app locked, given back after the unlock. The whole
// chat is drawn anew then, and its fields that take the focus by themselves (the composer, a
// resolution note coming back) would otherwise take it: a doctor typing on after unlocking, as
// she was in an emergency's note, wrote into the open conversation's draft, another patient's,
// where Enter sends.

import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { useChat, useStore } from '../store/hooks';
import { focusPlace, placeOf } from './focus';

/** Where the focus was as the app locked (`focus.ts`'s `placeOf`), until it is given back. */
export class FocusMemory {
  private kept: { place: string | null } | null = null;

  keep(place: string | null): void {
    this.kept = { place };
  }

  /** What is kept, if anything (null: nothing to give back). */
  get(): { place: string | null } | null {
    return this.kept;
  }

  forget(): void {
    this.kept = null;
  }
}

/** In the root: what the chat, drawn again, reads from (the chat itself goes at the lock). */
export function useFocusMemory(): FocusMemory {
  return useState(() => new FocusMemory())[0];
}

/** In the chat: noted as it goes at a lock, given back once it is drawn after the unlock. */
export function useFocusAcrossLock(memory: FocusMemory): void {
  const store = useStore();
  const draftsBack = useChat((s) => s.draftsBack);
  // A layout effect's cleanup runs before the chat's elements leave the page: the focus is
  // still where the user left it. Gone for another reason (a sign-out), nothing is kept.
  useLayoutEffect(
    () => () => {
      if (store.getState().lock?.locked) memory.keep(placeOf(document.activeElement));
      else memory.forget();
    },
    [memory, store],
  );
  // Drafts come back a moment after the unlock and draw their fields again (which take the
  // focus): the place is looked for after the first drawing and again after that one (after the
  // fields' own focusing), unless the user went on meanwhile.
  const firstDrawing = useRef(true);
  useEffect(() => {
    const wanted = memory.get();
    if (!wanted) return;
    focusPlace(wanted.place);
    if (!firstDrawing.current) memory.forget();
    firstDrawing.current = false;
  }, [draftsBack, memory]);
  useEffect(() => {
    const forget = () => memory.forget();
    window.addEventListener('pointerdown', forget);
    window.addEventListener('keydown', forget);
    return () => {
      window.removeEventListener('pointerdown', forget);
      window.removeEventListener('keydown', forget);
    };
  }, [memory]);
}
