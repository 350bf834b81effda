// The search box in the top bar (Ctrl+K): the server's search over my conversations, results
// with what matched marked, a click opens the conversation at that message. A result whose
// message was taken back or edited since shows no text it no longer has; the panel closes on a
// click elsewhere and when an emergency comes in, so it never hides the banner.

import { useEffect, useRef, useState } from 'react';
import { BackendError } from '../backend';
import { keyOf } from '../logic/conversations';
import { formatShortDate } from '../logic/format';
import { segments } from '../logic/highlight';
import { tombstoneText, versionOf } from '../logic/messageChanges';
import { useChat, useStore } from '../store/hooks';
import type { SearchHit, Found, User } from '../types';
import { composing } from '../logic/keys';

function Snippet({ hit }: { hit: SearchHit }) {
  return (
    <span className="search-snippet">
      {segments(hit.snippet.text, hit.snippet.highlights).map((s, i) =>
        s.mark ? <mark key={i}>{s.text}</mark> : <span key={i}>{s.text}</span>,
      )}
    </span>
  );
}

export function SearchBox({ me }: { me: User }) {
  const store = useStore();
  const conversations = useChat((s) => s.conversations);
  const active = useChat((s) => s.active);
  const input = useRef<HTMLInputElement>(null);
  const [query, setQuery] = useState('');
  const [onlyHere, setOnlyHere] = useState(false);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [page, setPage] = useState<Found | null>(null);
  // The query last searched for, to search it again when its answer may have changed.
  const [ran, setRan] = useState<string | null>(null);
  const online = useChat((s) => s.connection.state === 'online');
  const changed = useChat((s) => s.changedMessages);
  const root = useRef<HTMLDivElement>(null);
  // The emergencies waiting for a doctor: one more closes the panel, which would hide its banner.
  const waiting = useChat((s) =>
    s.emergencies
      .filter((e) => e.state !== 'RESOLVED')
      .map((e) => e.id)
      .join(),
  );

  useEffect(() => {
    if (!open) return;
    const elsewhere = (e: MouseEvent) => {
      if (e.target instanceof Node && !root.current?.contains(e.target)) setOpen(false);
    };
    document.addEventListener('mousedown', elsewhere);
    return () => document.removeEventListener('mousedown', elsewhere);
  }, [open]);

  const seenWaiting = useRef(waiting);
  useEffect(() => {
    const before = new Set(seenWaiting.current.split(','));
    seenWaiting.current = waiting;
    if (waiting.split(',').some((id) => id !== '' && !before.has(id))) setOpen(false);
  }, [waiting]);

  // Ctrl+K (Cmd+K) reaches the box from anywhere in the window.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        input.current?.focus();
        input.current?.select();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const nameOf = (patientId: string, doctorId: string) => {
    const c = conversations.find((x) => keyOf(x) === keyOf({ patientId, doctorId }));
    return c?.otherParty.name ?? (me.role === 'PATIENT' ? 'a doctor' : 'a patient');
  };

  const run = async (cursor?: string, what: string = query, here: boolean = onlyHere) => {
    setOpen(true);
    setBusy(true);
    setError(null);
    setRan(what);
    try {
      const scope = here && active ? { patientId: active.patientId, doctorId: active.doctorId } : {};
      const next = await store.backend.searchMessages({
        query: what,
        ...scope,
        ...(cursor ? { cursor } : {}),
      });
      setPage((before) =>
        cursor && before
          ? {
              results: [...before.results, ...next.results],
              nextCursor: next.nextCursor,
              // A list that came partly from this computer's cache stays labelled so, even when
              // a later page came from the server.
              offline: before.offline || next.offline,
              serverNote: before.serverNote ?? next.serverNote,
            }
          : next,
      );
    } catch (e) {
      setPage(null);
      setError(e instanceof BackendError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  // Answered by this computer alone while the server could not be reached: asked again once
  // the connection is back, so the list does not go on saying the server cannot be reached.
  useEffect(() => {
    if (online && open && ran !== null && page?.offline && !page.serverNote && !busy)
      void run(undefined, ran);
    // Only the connection coming back searches again, not every change of what it reads.
  }, [online]);

  const openHit = (hit: SearchHit) => {
    const m = hit.message;
    setOpen(false);
    void store.openMessage({ patientId: m.patientId, doctorId: m.doctorId }, m.id);
  };

  return (
    <div className="search" data-testid="search" ref={root}>
      <form
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          if (query.trim()) void run();
        }}
      >
        <input
          ref={input}
          type="search"
          className="search-input"
          data-testid="search-input"
          // Short enough to fit beside a long connection badge ("Search, then Ente" was cut);
          // how to search, and Ctrl+K, are its tooltip and what a screen reader says.
          placeholder="Search…"
          title="Search messages: type, then press Enter. Ctrl+K comes here from anywhere."
          aria-label="Search messages"
          aria-keyshortcuts="Control+K"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (composing(e)) return;
            if (e.key === 'Escape') {
              // As from a result: the first Escape closes the results and keeps the query; the
              // next one clears it (the field's own clearing would do both at once).
              e.preventDefault();
              if (open) setOpen(false);
              else setQuery('');
            }
            if (e.key === 'ArrowDown' && open) {
              const first = root.current?.querySelector<HTMLElement>('[data-testid="search-result"]');
              if (first) {
                e.preventDefault();
                first.focus();
              }
            }
          }}
        />
      </form>
      {open && (
        <div
          className="search-panel card"
          data-testid="search-results"
          role="dialog"
          aria-label="Search results"
          onKeyDown={(e) => {
            // Escape closes the results from anywhere in them, back to the field; the arrow keys
            // go through the results (up from the first, back to the field).
            if (composing(e)) return;
            if (e.key === 'Escape') {
              e.preventDefault();
              setOpen(false);
              input.current?.focus();
              return;
            }
            if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
            const hits = [
              ...(root.current?.querySelectorAll<HTMLElement>('[data-testid="search-result"]') ?? []),
            ];
            const at = hits.indexOf(e.target as HTMLElement);
            if (at < 0) return;
            e.preventDefault();
            const next = at + (e.key === 'ArrowDown' ? 1 : -1);
            if (next < 0) input.current?.focus();
            else hits[Math.min(next, hits.length - 1)].focus();
          }}
        >
          <div className="search-panel-top">
            {active && (
              <label className="search-scope">
                <input
                  type="checkbox"
                  checked={onlyHere}
                  onChange={(e) => {
                    setOnlyHere(e.target.checked);
                    if (ran !== null) void run(undefined, ran, e.target.checked);
                  }}
                  data-testid="search-only-here"
                />
                Only this conversation
              </label>
            )}
            <button
              type="button"
              className="icon-button"
              aria-label="Close search"
              onClick={() => setOpen(false)}
            >
              ×
            </button>
          </div>
          {busy && !page && <p className="search-note">Searching…</p>}
          {page?.offline && (
            <p className="search-note" data-testid="search-offline" role="status">
              {page.serverNote
                ? `${page.serverNote} Meanwhile, only the messages on this computer were searched.`
                : "The clinic's server cannot be reached: only the messages on this computer were searched."}
            </p>
          )}
          {error && (
            <p className="search-note search-error" data-testid="search-error" role="alert">
              {error}
            </p>
          )}
          {page && page.results.length === 0 && !busy && <p className="search-note">No messages found.</p>}
          {page && page.results.length > 0 && (
            <ul className="search-list">
              {page.results.map((hit) => {
                const m = hit.message;
                const mine = m.senderId === me.id;
                const other = nameOf(m.patientId, m.doctorId);
                const now = changed[m.id];
                const otherRole = me.role === 'PATIENT' ? 'DOCTOR' : 'PATIENT';
                return (
                  <li key={m.id}>
                    <button
                      type="button"
                      className="search-hit"
                      data-testid="search-result"
                      data-message-id={m.id}
                      onClick={() => openHit(hit)}
                    >
                      <span className="search-hit-top">
                        <span className="search-hit-who">{mine ? `You to ${other}` : other}</span>
                        {m.isEmergency && <span className="search-hit-flag">Emergency</span>}
                        <time>{formatShortDate(m.createdAt)}</time>
                      </span>
                      {now?.retracted && !m.retracted ? (
                        <span className="search-snippet search-changed" data-testid="search-result-changed">
                          {tombstoneText(
                            mine ? me.name : other,
                            mine ? me.role : otherRole,
                            now.retracted.at,
                          )}
                        </span>
                      ) : now && versionOf(now) > versionOf(m) ? (
                        <span className="search-snippet search-changed" data-testid="search-result-changed">
                          Edited since this search: open it to read it as it is now.
                        </span>
                      ) : (
                        <Snippet hit={hit} />
                      )}
                    </button>
                  </li>
                );
              })}
            </ul>
          )}
          {page?.nextCursor && (
            <button
              type="button"
              className="secondary-button search-more"
              disabled={busy}
              onClick={() => void run(page.nextCursor ?? undefined, ran ?? query)}
            >
              More results
            </button>
          )}
        </div>
      )}
    </div>
  );
}
