// Doctors: start a conversation with any patient of the clinic. Type part of a name, pick one,
// and the conversation opens (the server grants it; patients never get this list).

import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { useStore } from '../store/hooks';
import type { Contact } from '../types';
import { composing } from '../logic/keys';

/** Keystrokes within this long make one lookup. */
const DEBOUNCE_MS = 250;

export function PatientPicker() {
  const store = useStore();
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<Contact[] | null>(null);

  useEffect(() => {
    if (!open) return;
    let stale = false;
    const timer = setTimeout(() => {
      void store.findPatients(query).then((list) => {
        if (!stale) setFound(list);
      });
    }, DEBOUNCE_MS);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [open, query, store]);

  // Put away by the keyboard or Cancel, the focus goes back to the button that opened it.
  const opener = useRef<HTMLButtonElement>(null);
  const refocus = useRef(false);
  useEffect(() => {
    if (!refocus.current || !opener.current) return;
    refocus.current = false;
    opener.current.focus();
  });
  const close = () => {
    setOpen(false);
    setQuery('');
    setFound(null);
  };
  const cancel = () => {
    refocus.current = true;
    close();
  };
  const pick = async (p: Contact) => {
    close();
    await store.startConversation(p.id);
  };
  // The arrow keys go from the field through the results and back; Escape cancels from any.
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (composing(e)) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      cancel();
      return;
    }
    const field = e.currentTarget.querySelector<HTMLElement>('[data-testid="patient-search"]');
    if (e.key === 'Enter' && e.target === field && found?.length === 1) {
      void pick(found[0]);
      return;
    }
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const stops = [field, ...e.currentTarget.querySelectorAll<HTMLElement>('.patient-result')];
    const at = stops.indexOf(e.target as HTMLElement);
    if (at < 0) return;
    e.preventDefault();
    stops[Math.max(0, Math.min(stops.length - 1, at + (e.key === 'ArrowDown' ? 1 : -1)))]?.focus();
  };

  if (!open)
    return (
      <button
        type="button"
        ref={opener}
        className="link-button new-conversation"
        data-testid="new-conversation"
        title="New conversation"
        onClick={() => setOpen(true)}
      >
        <span aria-hidden="true">+</span>
        <span className="new-conversation-label"> New conversation</span>
      </button>
    );
  return (
    <div className="patient-picker" data-testid="patient-picker" onKeyDown={onKeyDown}>
      <input
        data-testid="patient-search"
        aria-label="Find a patient by name"
        placeholder="Find a patient by name"
        value={query}
        autoFocus
        maxLength={100}
        onChange={(e) => setQuery(e.target.value)}
      />
      <button type="button" className="link-button" onClick={cancel}>
        Cancel
      </button>
      {found && found.length === 0 && <p className="empty-hint">No patient matches.</p>}
      {found && found.length > 0 && (
        <ul className="patient-results" aria-label="Patients">
          {found.map((p) => (
            <li key={p.id}>
              <button
                type="button"
                className="patient-result"
                data-testid={`patient-result-${p.username}`}
                onClick={() => void pick(p)}
              >
                <span className="conversation-name">{p.name}</span>
                <span className="conversation-preview">
                  {p.age != null ? `${p.age} y` : ''}
                  {p.bloodGroup ? ` · ${p.bloodGroup}` : ''}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
