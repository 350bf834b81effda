// A modal dialog's keyboard: Tab and Shift+Tab go round inside it, Escape closes it wherever the
// focus is, and once it closes the focus goes back to what had it when it opened (the button that
// opened it) unless it was put elsewhere, so a keyboard user neither wanders behind it nor is
// left nowhere after it.

import { type RefObject, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { composing } from '../logic/keys';
import { focusIsNowhere } from './focus';

const FOCUSABLE = [
  'a[href]',
  'button:not([disabled])',
  'input:not([disabled]):not([type="hidden"])',
  'select:not([disabled])',
  'textarea:not([disabled])',
  'summary',
  '[tabindex]:not([tabindex="-1"])',
].join(',');

/** What Tab can reach inside `root`, in order (not what a closed `<details>` or `hidden` holds). */
export function tabStops(root: HTMLElement): HTMLElement[] {
  const all = [...root.querySelectorAll<HTMLElement>(FOCUSABLE)];
  return all.filter((el) => {
    if (el.closest('[hidden], [inert]')) return false;
    const folded = el.closest('details:not([open])');
    if (folded && !(el.tagName === 'SUMMARY' && el.parentElement === folded)) return false;
    // A group of radio buttons is one stop (the arrow keys move within it): its checked one,
    // or its first when none is.
    if (el instanceof HTMLInputElement && el.type === 'radio' && el.name) {
      const group = all.filter(
        (o): o is HTMLInputElement =>
          o instanceof HTMLInputElement && o.type === 'radio' && o.name === el.name,
      );
      return el === (group.find((o) => o.checked) ?? group[0]);
    }
    return true;
  });
}

export function useDialog(ref: RefObject<HTMLElement | null>, onClose: () => void): void {
  const close = useRef(onClose);
  useLayoutEffect(() => {
    close.current = onClose;
  });
  // Read as it is first drawn, before any effect of the dialog moves the focus into it (and
  // once only, also where effects run twice).
  const [opener] = useState(() =>
    document.activeElement instanceof HTMLElement ? document.activeElement : null,
  );
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const dialog = ref.current;
      if (!dialog || composing(e)) return;
      if (e.key === 'Escape') {
        // A control inside that uses Escape itself (a menu) says so with preventDefault.
        if (!e.defaultPrevented) {
          e.preventDefault();
          close.current();
        }
        return;
      }
      // Shift+Tab may come as another key (X's ISO_Left_Tab) with Tab's code.
      if (e.key !== 'Tab' && e.keyCode !== 9) return;
      // Tab is taken over: the next stop in the dialog, round from the last to the first (from
      // wherever the focus is, also outside it or on its text after a click).
      e.preventDefault();
      // And what the page shows above every dialog (a notice's ×).
      const stops = [...tabStops(dialog), ...document.querySelectorAll<HTMLElement>('[data-above-dialogs]')];
      if (stops.length === 0) return;
      const here = document.activeElement;
      const at = here ? stops.indexOf(here as HTMLElement) : -1;
      let next: number;
      if (at >= 0) next = at + (e.shiftKey ? -1 : 1);
      else if (here && dialog.contains(here)) {
        // Not a stop itself: the first stop after it in the page's order (or before it).
        const after = stops.findIndex(
          (el) => here.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING,
        );
        next = e.shiftKey ? (after < 0 ? stops.length : after) - 1 : after < 0 ? 0 : after;
      } else next = e.shiftKey ? stops.length - 1 : 0;
      stops[(next + stops.length) % stops.length].focus();
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      // Unless whoever closed it put the focus somewhere on purpose (the lock screen's field).
      if (focusIsNowhere() && opener?.isConnected) opener.focus({ preventScroll: true });
    };
  }, [ref, opener]);
}
