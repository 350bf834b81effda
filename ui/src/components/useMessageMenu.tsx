// The message menu's wiring on a bubble: right-click (with the selection and the link under
// the pointer), Shift+F10 / the Menu key on a focused message, arrows between messages, and
// what each item does.

import { useCallback, useRef, useState, type KeyboardEvent, type MouseEvent, type ReactNode } from 'react';
import { copyText } from '../clipboard';
import { messageActions, opensMenu, type MessageAction } from '../logic/messageActions';
import { useStore } from '../store/hooks';
import type { LocalMessage } from '../types';
import { MessageMenu } from './MessageMenu';

interface Open {
  at: { x: number; y: number };
  actions: MessageAction[];
}

/** Text the person selected inside `el` ('' when the selection is elsewhere). */
function selectionIn(el: Element): string {
  const sel = window.getSelection();
  if (!sel || sel.isCollapsed || !sel.anchorNode || !el.contains(sel.anchorNode)) return '';
  return sel.toString();
}

/** Moves the focus to the message before or after `from` in the list. */
function focusSibling(from: HTMLElement, step: 1 | -1) {
  const list = from.closest('[data-testid="message-list"]') ?? document;
  const all = [...list.querySelectorAll<HTMLElement>('[data-testid="message"]')];
  all[all.indexOf(from) + step]?.focus();
}

/** What the bubble adds to the menu: its own changes (see logic/messageChanges.ts). */
export interface ChangeOptions {
  unsend: 'Unsend' | 'Retract' | null;
  /** Past the window: take it back as sent to the wrong person, with a reason. */
  misdirected: boolean;
  edit: boolean;
  edited: boolean;
  /** One's own message still waiting to be sent: "Don't send" drops it. */
  unsent: boolean;
  /** The bubble asks to confirm an unsend, opens its editor, or lists the versions. */
  onChange: (what: 'unsend' | 'misdirected' | 'edit' | 'versions') => void;
}

export function useMessageMenu(
  message: LocalMessage,
  /** Asked when the menu opens (the windows depend on the time then). */
  changesAt: (now: number) => ChangeOptions,
): {
  onContextMenu: (e: MouseEvent<HTMLElement>) => void;
  onKeyDown: (e: KeyboardEvent<HTMLElement>) => void;
  menu: ReactNode;
} {
  const store = useStore();
  const [open, setOpen] = useState<Open | null>(null);
  const owner = useRef<HTMLElement | null>(null);

  const show = (el: HTMLElement, at: Open['at'], link: string | null) => {
    owner.current = el;
    const changes = changesAt(Date.now());
    const actions = messageActions({
      content: message.content,
      hasFile: !!message.fileName,
      selection: selectionIn(el),
      link,
      unsend: changes.unsend,
      misdirected: changes.misdirected,
      edit: changes.edit,
      edited: changes.edited,
      unsent: changes.unsent,
    });
    if (actions.length > 0) setOpen({ at, actions });
  };

  const onContextMenu = (e: MouseEvent<HTMLElement>) => {
    e.preventDefault();
    e.stopPropagation();
    const link = (e.target as Element).closest('a[data-testid="message-link"]')?.getAttribute('href') ?? null;
    show(e.currentTarget, { x: e.clientX, y: e.clientY }, link);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLElement>) => {
    if (e.target !== e.currentTarget) return;
    if (opensMenu(e)) {
      e.preventDefault();
      const rect = e.currentTarget.getBoundingClientRect();
      show(e.currentTarget, { x: rect.left + 12, y: rect.bottom - 4 }, null);
    } else if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      e.preventDefault();
      focusSibling(e.currentTarget, e.key === 'ArrowDown' ? 1 : -1);
    }
  };

  const close = useCallback(() => {
    setOpen(null);
    owner.current?.focus({ preventScroll: true });
  }, []);

  const pick = (action: MessageAction) => {
    close();
    switch (action.id) {
      case 'copy-selection':
      case 'copy-text':
      case 'copy-link':
        void copyText(action.text);
        return;
      case 'open-link':
        void store.openLink(action.href);
        return;
      case 'open-file':
        void store.openAttachment(message.senderId, message.clientId);
        return;
      case 'discard':
        void store.discard(message.clientId);
        return;
      case 'unsend':
      case 'misdirected':
      case 'edit':
      case 'versions':
        changesAt(Date.now()).onChange(action.id);
        return;
    }
  };

  const menu = open && <MessageMenu actions={open.actions} at={open.at} onPick={pick} onClose={close} />;
  return { onContextMenu, onKeyDown, menu };
}
