// The left column: conversations (and contacts not yet talked to), emergencies first, with
// online dots, unread counts and emergency badges.

import { type KeyboardEvent, useCallback, useEffect, useRef, useState } from 'react';
import { keepOrder, keyOf, matchesFind, preview, sameKey } from '../logic/conversations';
import { formatShortDate, initials } from '../logic/format';
import { useChat, usePeerStatus, useStore } from '../store/hooks';
import type { Conversation, User } from '../types';
import { EmergencyBadge } from './EmergencyBadge';
import { OnlineStatus } from './OnlineStatus';
import { PatientPicker } from './PatientPicker';
import { composer } from './focus';
import { useNow } from './useNow';

function ConversationItem({
  c,
  me,
  selected,
  tabbable,
  today,
}: {
  c: Conversation;
  me: User;
  selected: boolean;
  /** The list's clock: a time alone means today, so yesterday's rows must change at midnight. */
  today: Date;
  /** The list's one Tab stop (the arrow keys go to the others). */
  tabbable: boolean;
}) {
  const store = useStore();
  const other = c.otherParty;
  const status = usePeerStatus(other.id);
  return (
    <li>
      <button
        type="button"
        className={`conversation ${selected ? 'is-active' : ''} ${c.hasEmergency ? 'has-emergency' : ''}`}
        data-testid={`conversation-${other.username}`}
        title={other.name}
        data-active={selected}
        aria-current={selected ? 'true' : undefined}
        tabIndex={tabbable ? 0 : -1}
        onClick={() => {
          // Chosen again, the one open already stays (see `ChatStore.select`), and what is typed
          // next goes to its composer, not nowhere.
          void store.select({ patientId: c.patientId, doctorId: c.doctorId });
          if (selected) composer()?.focus();
        }}
      >
        <span className="avatar" aria-hidden="true">
          {initials(other.name)}
          <OnlineStatus status={status} label={other.name} />
        </span>
        <span className="conversation-body">
          <span className="conversation-top">
            <span className="conversation-name">{other.name}</span>
            {c.lastMessage && (
              <time className="conversation-time">{formatShortDate(c.lastMessage.createdAt, today)}</time>
            )}
          </span>
          <span className="conversation-bottom">
            <span className="conversation-preview">{preview(c, me)}</span>
            {(c.hasEmergency || c.unreadCount > 0) && (
              <span className="conversation-marks">
                {c.hasEmergency && <EmergencyBadge state={c.emergency?.state} />}
                {c.unreadCount > 0 && (
                  <span className="unread" data-testid="unread-count" aria-label={`${c.unreadCount} unread`}>
                    {c.unreadCount}
                  </span>
                )}
              </span>
            )}
          </span>
        </span>
      </button>
    </li>
  );
}

/** Rows above which the list has a box to find one by name. */
const FIND_FROM = 6;

/** How long after the pointer last moved over the list its order is still held. */
const HOLD_AFTER_MOVE_MS = 10_000;

export function ConversationList({ me }: { me: User }) {
  const conversations = useChat((s) => s.conversations);
  const active = useChat((s) => s.active);
  const today = new Date(useNow(60_000, ''));
  // While the pointer is over the list its rows stay put (a click must open the row it aims at);
  // not once the window is left, nor long after the pointer last moved (a pointer parked there
  // must not keep new rows at the end for good).
  const [held, setHeld] = useState<string[] | null>(null);
  const shown = held ? keepOrder(held, conversations) : conversations;
  const idle = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const release = useCallback(() => {
    clearTimeout(idle.current);
    setHeld(null);
  }, []);
  const moved = () => {
    // Back over it after a release: the rows hold still again from here.
    if (!held) setHeld(conversations.map(keyOf));
    clearTimeout(idle.current);
    idle.current = setTimeout(release, HOLD_AFTER_MOVE_MS);
  };
  useEffect(() => {
    const hidden = () => document.visibilityState === 'hidden' && release();
    window.addEventListener('blur', release);
    document.addEventListener('visibilitychange', hidden);
    return () => {
      window.removeEventListener('blur', release);
      document.removeEventListener('visibilitychange', hidden);
      clearTimeout(idle.current);
    };
  }, [release]);
  // A long list (a doctor's shift) gets a box that narrows it to the rows whose name matches:
  // from the conversations on this computer, offline too.
  const [find, setFind] = useState('');
  const findable = conversations.length > FIND_FROM;
  const listed = findable && find.trim() ? shown.filter((c) => matchesFind(c, find)) : shown;
  // One Tab stop for the rows: the one last focused while it is listed, else the open one, else
  // the first; Up, Down, Home and End go through them.
  const [current, setCurrent] = useState<string | null>(null);
  const tabbable =
    (current && listed.some((c) => keyOf(c) === current) ? current : null) ??
    (active && listed.some((c) => sameKey(active, c)) ? keyOf(active) : null) ??
    (listed[0] ? keyOf(listed[0]) : null);
  const onKeyDown = (e: KeyboardEvent<HTMLUListElement>) => {
    const rows = [...e.currentTarget.querySelectorAll<HTMLElement>('button.conversation')];
    const at = rows.indexOf(e.target as HTMLElement);
    if (at < 0) return;
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: rows.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    rows[Math.max(0, Math.min(rows.length - 1, to))].focus();
  };
  const heading = me.role === 'PATIENT' ? 'Your doctors' : 'Patients';
  return (
    <nav className="sidebar card" aria-label={heading}>
      <h2 className="sidebar-title">{heading}</h2>
      {me.role === 'DOCTOR' && <PatientPicker />}
      {conversations.length === 0 && <p className="empty-hint">Nobody here yet.</p>}
      {findable && (
        <input
          type="search"
          className="conversation-find"
          data-testid="conversation-find"
          placeholder={me.role === 'PATIENT' ? 'Find a doctor…' : 'Find a patient…'}
          aria-label={me.role === 'PATIENT' ? 'Find a doctor by name' : 'Find a patient by name'}
          value={find}
          onChange={(e) => setFind(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape' && find) {
              e.preventDefault();
              e.stopPropagation();
              setFind('');
            }
          }}
          autoComplete="off"
          spellCheck={false}
        />
      )}
      {findable && find.trim() && listed.length === 0 && (
        <p className="empty-hint" data-testid="conversation-find-none">
          Nobody here is named “{find.trim()}”.
        </p>
      )}
      <ul
        className="conversation-list"
        data-testid="conversation-list"
        onMouseEnter={moved}
        onMouseMove={moved}
        onMouseLeave={release}
        onKeyDown={onKeyDown}
        onFocus={(e) => {
          const row = listed[[...e.currentTarget.querySelectorAll('button.conversation')].indexOf(e.target)];
          if (row) setCurrent(keyOf(row));
        }}
      >
        {listed.map((c) => (
          <ConversationItem
            today={today}
            key={c.otherParty.id}
            c={c}
            me={me}
            selected={sameKey(active, c)}
            tabbable={keyOf(c) === tabbable}
          />
        ))}
      </ul>
    </nav>
  );
}
