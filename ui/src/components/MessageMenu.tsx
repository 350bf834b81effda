// The app's own menu for a message (never the browser's): opened by right-click, Shift+F10 or
// the Menu key; arrows move, Enter picks, Escape or a click elsewhere closes it.

import { useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import { createPortal } from 'react-dom';
import { moveInMenu, placeMenu, type MessageAction } from '../logic/messageActions';

export function MessageMenu({
  actions,
  at,
  onPick,
  onClose,
}: {
  actions: MessageAction[];
  at: { x: number; y: number };
  onPick: (action: MessageAction) => void;
  onClose: () => void;
}) {
  const menu = useRef<HTMLDivElement>(null);
  const [active, setActive] = useState(0);
  const [place, setPlace] = useState({ left: at.x, top: at.y });

  useLayoutEffect(() => {
    const el = menu.current;
    if (!el) return;
    const rect = el.getBoundingClientRect();
    setPlace(
      placeMenu(
        at,
        { width: rect.width, height: rect.height },
        { width: window.innerWidth, height: window.innerHeight },
      ),
    );
  }, [at]);

  useEffect(() => {
    menu.current?.querySelectorAll<HTMLButtonElement>('[role="menuitem"]')[active]?.focus();
  }, [active]);

  useEffect(() => {
    const outside = (e: Event) => {
      if (!menu.current?.contains(e.target as Node)) onClose();
    };
    const close = () => onClose();
    document.addEventListener('mousedown', outside, true);
    document.addEventListener('contextmenu', outside, true);
    window.addEventListener('blur', close);
    window.addEventListener('resize', close);
    return () => {
      document.removeEventListener('mousedown', outside, true);
      document.removeEventListener('contextmenu', outside, true);
      window.removeEventListener('blur', close);
      window.removeEventListener('resize', close);
    };
  }, [onClose]);

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape' || e.key === 'Tab') {
      e.preventDefault();
      e.stopPropagation();
      onClose();
      return;
    }
    const next = moveInMenu(active, actions.length, e.key);
    if (next !== active) {
      e.preventDefault();
      setActive(next);
    }
  };

  return createPortal(
    <div
      ref={menu}
      className="context-menu"
      role="menu"
      aria-label="Message actions"
      data-testid="message-menu"
      style={{ left: place.left, top: place.top }}
      onKeyDown={onKeyDown}
    >
      {actions.map((action, i) => (
        <button
          key={`${action.id}-${i}`}
          type="button"
          role="menuitem"
          tabIndex={i === active ? 0 : -1}
          className="context-menu-item"
          data-testid={`message-action-${action.id}`}
          onMouseEnter={() => setActive(i)}
          onClick={() => onPick(action)}
        >
          {action.label}
        </button>
      ))}
    </div>,
    document.body,
  );
}
