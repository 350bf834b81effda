// The browser's own context menu (Back, Reload, Inspect...) never appears in the app; text
// fields keep theirs, which offers cut, copy and paste.

const TEXT_INPUTS = new Set(['text', 'search', 'url', 'email', 'tel', 'password', 'number', '']);

/** Whether a right-click on `target` may show the system's menu (only in text fields). */
export function allowsNativeMenu(target: EventTarget | null): boolean {
  if (!(target instanceof Element)) return false;
  const field = target.closest('input, textarea, [contenteditable="true"], [contenteditable=""]');
  if (!field) return false;
  if (field instanceof HTMLInputElement) return TEXT_INPUTS.has(field.type) && !field.disabled;
  if (field instanceof HTMLTextAreaElement) return !field.disabled;
  return true;
}

/** Stops the browser's menu everywhere but in text fields; returns the undo. */
export function blockNativeMenu(doc: Document = document): () => void {
  const listener = (e: MouseEvent) => {
    if (!allowsNativeMenu(e.target)) e.preventDefault();
  };
  doc.addEventListener('contextmenu', listener);
  return () => doc.removeEventListener('contextmenu', listener);
}
