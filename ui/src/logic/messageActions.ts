// What the menu of a message offers (right-click, Shift+F10 or the Menu key on a message).
// Only actions that exist are listed: unsend (retract) and edit only for one's own message
// inside the clinic's window (logic/messageChanges.ts), past it "Sent to the wrong person…",
// the version list for an edited one, and "Don't send" for one's own message still waiting to
// be sent.

import { linksOf } from './links';

export type MessageAction =
  | { id: 'copy-selection'; label: string; text: string }
  | { id: 'copy-text'; label: string; text: string }
  | { id: 'open-link'; label: string; href: string }
  | { id: 'copy-link'; label: string; text: string }
  | { id: 'open-file'; label: string }
  | { id: 'unsend'; label: string }
  | { id: 'misdirected'; label: string }
  | { id: 'edit'; label: string }
  | { id: 'versions'; label: string }
  | { id: 'discard'; label: string };

/** The menu never grows without end for a message full of links. */
const MAX_LINKS = 3;

export interface ActionContext {
  /** The message's text ('' for a file without a caption). */
  content: string;
  /** Whether the message carries a file. */
  hasFile: boolean;
  /** Text the person selected inside this message ('' for none). */
  selection: string;
  /** The link under the pointer when the menu was opened with the mouse. */
  link: string | null;
  /** "Unsend" or "Retract" when this one's own message may still be taken back. */
  unsend?: 'Unsend' | 'Retract' | null;
  /** Whether this one's own message, past its window to unsend, may be taken back as sent to
   * the wrong person (with a reason). */
  misdirected?: boolean;
  /** Whether this one's own message may still be edited. */
  edit?: boolean;
  /** Whether the message was edited (its versions can be shown, to both sides). */
  edited?: boolean;
  /** Whether this is one's own message still waiting to be sent (it may be dropped). */
  unsent?: boolean;
}

function shortLink(href: string): string {
  try {
    const url = new URL(href);
    return url.protocol === 'mailto:' ? url.pathname : url.host;
  } catch {
    return href;
  }
}

/** The menu's items, in order. */
export function messageActions({
  content,
  hasFile,
  selection,
  link,
  unsend,
  misdirected,
  edit,
  edited,
  unsent,
}: ActionContext): MessageAction[] {
  const actions: MessageAction[] = [];
  if (selection.trim()) actions.push({ id: 'copy-selection', label: 'Copy selection', text: selection });
  if (content) actions.push({ id: 'copy-text', label: 'Copy text', text: content });
  if (link) {
    actions.push({ id: 'open-link', label: 'Open link in browser', href: link });
    actions.push({ id: 'copy-link', label: 'Copy link', text: link });
  } else {
    const links = linksOf(content);
    for (const href of links.slice(0, MAX_LINKS)) {
      const label = links.length === 1 ? 'Copy link' : `Copy link (${shortLink(href)})`;
      actions.push({ id: 'copy-link', label, text: href });
    }
  }
  if (hasFile) actions.push({ id: 'open-file', label: 'Open file' });
  if (edited) actions.push({ id: 'versions', label: 'Show versions' });
  if (edit) actions.push({ id: 'edit', label: 'Edit' });
  if (unsend) actions.push({ id: 'unsend', label: unsend });
  if (misdirected) actions.push({ id: 'misdirected', label: 'Sent to the wrong person…' });
  if (unsent) actions.push({ id: 'discard', label: "Don't send" });
  return actions;
}

/** The next item for an arrow key, wrapping around; Home and End jump to the ends. */
export function moveInMenu(current: number, count: number, key: string): number {
  if (count === 0) return -1;
  switch (key) {
    case 'ArrowDown':
      return (current + 1) % count;
    case 'ArrowUp':
      return (current - 1 + count) % count;
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return current;
  }
}

/** Whether a key opens a focused message's menu (the Menu key, or Shift+F10). */
export function opensMenu(e: { key: string; shiftKey: boolean }): boolean {
  return e.key === 'ContextMenu' || (e.key === 'F10' && e.shiftKey);
}

/** Where the menu goes: at the pointer, kept inside the window. */
export function placeMenu(
  at: { x: number; y: number },
  menu: { width: number; height: number },
  view: { width: number; height: number },
): { left: number; top: number } {
  const margin = 4;
  const left = Math.max(margin, Math.min(at.x, view.width - menu.width - margin));
  const top = at.y + menu.height + margin > view.height ? at.y - menu.height : at.y;
  return { left, top: Math.max(margin, Math.min(top, view.height - menu.height - margin)) };
}
