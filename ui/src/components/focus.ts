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
