// The signed-in screen: top bar (who, connection, settings), emergency banner for doctors,
// conversation list left, chat right, patient info for doctors.

import { useEffect, useRef, useState } from 'react';
import { useWarnings } from './useWarnings';
import { emergencyNumber, NOT_YOUR_SERVER_PATIENT } from '../logic/emergency';
import { initials } from '../logic/format';
import { useChat, useStore } from '../store/hooks';
import type { User } from '../types';
import { ChatWindow } from './ChatWindow';
import { ConnectionBadge } from './ConnectionBadge';
import { ConversationList } from './ConversationList';
import { EmergencyBanner } from './EmergencyBanner';
import { Icon } from './Icon';
import { NoConversation } from './NoConversation';
import { PatientInfoPanel } from './PatientInfoPanel';
import { SearchBox } from './SearchBox';
import { SettingsPanel } from './SettingsPanel';
import { focusIsNowhere } from './focus';
import { useFocusAcrossLock, type FocusMemory } from './useFocusAcrossLock';

/** Error toasts go away by themselves after this long. */
const NOTICE_MS = 8000;

function Notice() {
  const store = useStore();
  const notice = useChat((s) => s.notice);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!notice) return;
    // Not while its × holds the focus: it would drop the focus behind a dialog.
    let t: ReturnType<typeof setTimeout>;
    const later = () => {
      t = setTimeout(
        () => (box.current?.contains(document.activeElement) ? later() : store.dismissNotice()),
        NOTICE_MS,
      );
    };
    later();
    return () => clearTimeout(t);
  }, [notice, store]);
  if (!notice) return null;
  return (
    <div className="notice" data-testid="notice" role="alert" ref={box}>
      {notice}
      <button
        type="button"
        className="icon-button"
        onClick={() => store.dismissNotice()}
        aria-label="Dismiss"
        data-above-dialogs
      >
        ×
      </button>
    </div>
  );
}

export function ChatLayout({ me, focusMemory }: { me: User; focusMemory: FocusMemory }) {
  const store = useStore();
  useFocusAcrossLock(focusMemory);
  const active = useChat((s) => s.active);
  const resting = useChat((s) => s.availability === 'DO_NOT_DISTURB');
  const problems = useWarnings();
  const notYourServer = useChat((s) => s.connection.notYourServer && s.connection.state !== 'online');
  const clinic = useChat((s) => s.clinic);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const isDoctor = me.role === 'DOCTOR';
  return (
    <div
      className={`app ${isDoctor ? 'theme-doctor' : 'theme-patient'}`}
      data-testid="chat-layout"
      data-role={me.role}
    >
      <header className="topbar">
        <span className="brand">
          <span className="brand-mark" aria-hidden="true">
            ✚
          </span>
          <span className="brand-name">Clinic Messaging</span>
        </span>
        <ConnectionBadge />
        <SearchBox me={me} />
        {isDoctor && resting && (
          <button
            type="button"
            className="dnd-pill"
            data-testid="dnd-indicator"
            title="Sound and notifications are muted; emergencies still show here. Click to be available."
            onClick={(e) => {
              // The pill goes once available: the focus it held goes on to Settings (a refusal
              // leaves both where they are).
              const held = document.activeElement === e.currentTarget;
              void store.setAvailability('AVAILABLE').then((ok) => {
                if (ok && held && focusIsNowhere())
                  document.querySelector<HTMLElement>('[data-testid="settings-button"]')?.focus();
              });
            }}
          >
            Do not disturb
          </button>
        )}
        {/* Who is signed in stays in sight in a narrow window or at a large text size (a shared
            computer): the initials, the whole name as their tooltip and for screen readers. */}
        <span className="topbar-user" data-testid="current-user" title={me.name}>
          <span className="topbar-initials" aria-hidden="true">
            {initials(me.name)}
          </span>
          <span className="topbar-name">{me.name}</span>
        </span>
        <button
          type="button"
          className="secondary-button"
          data-testid="settings-button"
          onClick={() => setSettingsOpen(true)}
          aria-haspopup="dialog"
          aria-label="Settings"
          title="Settings"
        >
          <Icon name="gear" size={16} /> <span className="settings-label">Settings</span>
        </button>
      </header>
      {isDoctor && problems.length > 0 && (
        // A Tab stop: bounded, it may scroll, and the keys must reach its end.
        <div className="device-warning" data-testid="device-warning" role="status" tabIndex={0}>
          {problems.map((p) => (
            <p key={p}>⚠ {p}</p>
          ))}
        </div>
      )}
      {!isDoctor && notYourServer && (
        // A patient is not told of a long outage (her press says it), but this one does not pass
        // by waiting: said at once, with the number to call.
        <div className="device-warning" data-testid="device-warning" role="status">
          <p>
            ⚠ {NOT_YOUR_SERVER_PATIENT} If you need help now, call {emergencyNumber(clinic)}.
          </p>
        </div>
      )}
      {isDoctor && <EmergencyBanner />}
      <main className={`layout ${isDoctor && active ? 'with-info' : ''}`}>
        <ConversationList me={me} />
        {active ? (
          <ChatWindow key={`${active.patientId}|${active.doctorId}`} active={active} me={me} />
        ) : (
          <NoConversation me={me} />
        )}
        {isDoctor && active && <PatientInfoPanel active={active} />}
      </main>
      {settingsOpen && <SettingsPanel me={me} onClose={() => setSettingsOpen(false)} />}
      <Notice />
    </div>
  );
}
