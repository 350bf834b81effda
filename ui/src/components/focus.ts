// Where the keyboard's focus is handed on to when what held it goes away: shared by the
// components that take a control away with what it did (see ARCHITECTURE.md, the UI's
// invariants).

/** The focus is on nothing (the page itself, or an element no longer in it). */
export function focusIsNowhere(): boolean {
  const now = document.activeElement;
  return !now || now === document.body || !now.isConnected;
}

/** The open conversation's composer, where what is typed next is meant to go (none open: null). */
export function composer(): HTMLElement | null {
  return document.querySelector<HTMLElement>('[data-testid="message-input"]');
}

/** The fields that take the focus by themselves when they are drawn (`autoFocus`). */
const TAKES_FOCUS = '[data-testid="message-input"], [data-testid="emergency-resolve-note"]';

/**
 * How to find `el` again once the page is drawn anew (after an unlock, every element is a new
 * one): its id, else its test id within the emergency it belongs to. null: the focus was on
 * nothing in particular.
 */
export function placeOf(el: Element | null): string | null {
  if (!el || el === document.body || !el.isConnected) return null;
  const quoted = (v: string) => `"${v.replace(/["\\]/g, '\\$&')}"`;
  if (el.id) return `[id=${quoted(el.id)}]`;
  const testId = el.getAttribute('data-testid');
  if (!testId) return null;
  const emergency = el.closest('[data-emergency-id]')?.getAttribute('data-emergency-id');
  const within = emergency ? `[data-emergency-id=${quoted(emergency)}] ` : '';
  return `${within}[data-testid=${quoted(testId)}]`;
}

/**
 * Puts the focus back on what `place` finds, the caret at the end of a text field's words. Not
 * drawn (yet): a field that took the focus by itself lets it go, so that keys typed on never land
 * in a message box (another patient's) the doctor was not writing in. True once it is back.
 */
export function focusPlace(place: string | null): boolean {
  const el = place ? document.querySelector<HTMLElement>(place) : null;
  if (el) {
    focusAtEnd(el);
    return true;
  }
  const now = document.activeElement;
  if (now instanceof HTMLElement && now.matches(TAKES_FOCUS)) now.blur();
  return false;
}

/** Focuses `el`, with a text field's caret after its words (where typing goes on). */
export function focusAtEnd(el: HTMLElement): void {
  el.focus();
  caretAtEnd(el);
}

/** A text field's caret goes after its words (a draft drawn again is written on at its end). */
export function caretAtEnd(el: Element | null): void {
  if (el instanceof HTMLTextAreaElement || (el instanceof HTMLInputElement && el.type === 'text')) {
    el.setSelectionRange(el.value.length, el.value.length);
  }
}
