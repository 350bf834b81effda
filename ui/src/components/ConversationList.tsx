// The left column: conversations (and contacts not yet talked to), emergencies first, with
// online dots, unread counts and emergency badges.

import { useCallback, useEffect, useRef, useState } from 'react';
import { keepOrder, keyOf, preview, sameKey } from '../logic/conversations';
import { formatShortDate, initials } from '../logic/format';
import { useChat, usePeerStatus, useStore } from '../store/hooks';
import type { Conversation, User } from '../types';
import { EmergencyBadge } from './EmergencyBadge';
import { OnlineStatus } from './OnlineStatus';
import { PatientPicker } from './PatientPicker';

function ConversationItem({ c, me, selected }: { c: Conversation; me: User; selected: boolean }) {
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
        onClick={() => void store.select({ patientId: c.patientId, doctorId: c.doctorId })}
      >
        <span className="avatar" aria-hidden="true">
          {initials(other.name)}
          <OnlineStatus status={status} label={other.name} />
        </span>
        <span className="conversation-body">
          <span className="conversation-top">
            <span className="conversation-name">{other.name}</span>
            {c.lastMessage && (
              <time className="conversation-time">{formatShortDate(c.lastMessage.createdAt)}</time>
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

/** How long after the pointer last moved over the list its order is still held. */
const HOLD_AFTER_MOVE_MS = 10_000;

export function ConversationList({ me }: { me: User }) {
  const conversations = useChat((s) => s.conversations);
  const active = useChat((s) => s.active);
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
  const heading = me.role === 'PATIENT' ? 'Your doctors' : 'Patients';
  return (
    <nav className="sidebar card" aria-label={heading}>
      <h2 className="sidebar-title">{heading}</h2>
      {me.role === 'DOCTOR' && <PatientPicker />}
      {conversations.length === 0 && <p className="empty-hint">Nobody here yet.</p>}
      <ul
        className="conversation-list"
        data-testid="conversation-list"
        onMouseEnter={moved}
        onMouseMove={moved}
        onMouseLeave={release}
      >
        {shown.map((c) => (
          <ConversationItem key={c.otherParty.id} c={c} me={me} selected={sameKey(active, c)} />
        ))}
      </ul>
    </nav>
  );
}
