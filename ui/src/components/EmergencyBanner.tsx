// The doctor's full-width red banner while any emergency is open: what the patient wrote, how
// long ago, escalation, who took it and when; open the chat at the emergency, Acknowledge,
// Resolve with a note, and silence this device's alarm. Shown on do-not-disturb too.

import { useEffect, useMemo, useRef, useState } from 'react';
import { canRing } from '../logic/device';
import {
  escalatedWhileWaiting,
  formatAge,
  formatSpan,
  bannerTitle,
  openEmergencies,
  patientWords,
  previewText,
  waitingSince,
} from '../logic/emergency';
import { formatShortDate, formatTime, writtenTitle } from '../logic/format';
import { keyOf } from '../logic/conversations';
import { useChat, useStore } from '../store/hooks';
import type { Emergency } from '../types';
import { Icon } from './Icon';
import { useNow } from './useNow';
import { composing } from '../logic/keys';
import { caretAtEnd, composer, focusIsNowhere } from './focus';

/** A time that must not wrap between its parts ("08:08 / PM" in a narrow banner). */
const unbroken = (time: string) => time.replace(/ /g, '\u00a0');

/** The ages ("3 min ago") are redrawn this often, and whenever an emergency changes, so that an
 * age never lags what changed with it ("raised 1 min ago · escalated just now" two minutes in). */
const TICK_MS = 5_000;

/**
 * What the patient wrote: the whole message when this device has it, else the alert's preview
 * (the newest press); and when they wrote the press that raised the emergency, if it waited on
 * their device before it could be sent (as the patient's status and `clinic emergencies` say).
 */
function usePatientText(e: Emergency): {
  text: string | null;
  written: { at: string; sentAt: string } | null;
} {
  const fromAlert = useChat((s) => s.emergencyMessages[e.id]);
  const loaded = useChat((s) =>
    s.messages[keyOf(e)]?.items.find((m) => m.id === (fromAlert?.id ?? e.messageId)),
  );
  const text = loaded?.content ?? fromAlert?.content ?? null;
  // An older server's emergency has no `writtenAt`: its own message may say it.
  const raising = [loaded, fromAlert].find((m) => m?.id === e.messageId);
  // The first press's: not told beside "raised again" (the words shown are a later press's).
  const written = e.reopenedAt
    ? null
    : e.writtenAt
      ? { at: e.writtenAt, sentAt: e.raisedAt }
      : raising?.writtenAt
        ? { at: raising.writtenAt, sentAt: raising.createdAt }
        : null;
  return { text: text && text.trim() ? text : null, written };
}

function EmergencyItem({ e, now }: { e: Emergency; now: number }) {
  const store = useStore();
  const { text, written } = usePatientText(e);
  useEffect(() => {
    // Once per emergency and state (the store keeps count): a later press may be in the cache.
    void store.emergencyText(e);
  }, [store, e]);
  const [expanded, setExpanded] = useState(false);
  // Her words in quotes; the line the app added to a press from its lock screen after them.
  const { said, aside } = patientWords(text ?? '');
  const preview = said.trim() ? previewText(said) : null;
  // A note being written stays across a lock (and a redraw of the banner): ChatStore.draft.
  const noteKey = `note:${e.id}`;
  const [note, setNoteNow] = useState(() => store.draft(noteKey));
  const [resolving, setResolving] = useState(() => note !== '');
  const setNote = (value: string) => {
    store.setDraft(noteKey, value);
    setNoteNow(value);
  };
  const [busy, setBusy] = useState(false);
  const me = useChat((s) => s.session?.user.id);
  // Taken by this doctor, it says "you"; by a colleague, resolving it says whose it is first.
  const mine = e.state !== 'RAISED' && e.acknowledgedBy === me;
  const takenByOther = e.state !== 'RAISED' && !mine;
  const run = async (fn: () => Promise<boolean>) => {
    setBusy(true);
    const ok = await fn();
    setBusy(false);
    return ok;
  };
  // A button that goes away with what it did (Acknowledge, the note's Cancel) hands the focus
  // on to Resolve…, and a resolution to the composer: a keyboard user is never left nowhere.
  const item = useRef<HTMLLIElement>(null);
  const resolveButton = useRef<HTMLButtonElement>(null);
  // Asked for, it is focused once drawn (after the note's form goes, it comes back).
  const focusResolve = useRef(false);
  useEffect(() => {
    if (!focusResolve.current || !resolveButton.current) return;
    focusResolve.current = false;
    resolveButton.current.focus();
  });
  const focusInside = () => !!item.current?.contains(document.activeElement);
  // When an answer comes back, the focus is handed on only if it is still here or nowhere: the
  // doctor may have gone on to type elsewhere meanwhile, and keys must not land in a note.
  const focusFree = () => focusIsNowhere() || focusInside();
  // A note written under pressure is not lost to one stray Escape: with words in it, the first
  // Escape says what a second one does (typing goes on as if nothing happened).
  const [escapeArmed, setEscapeArmed] = useState(false);
  // Put away (Escape, Cancel), a note is thrown away: kept, it came back under the next one's
  // words, and went to the patient with them.
  const stopResolving = () => {
    const hadFocus = focusInside();
    focusResolve.current = hadFocus;
    setNote('');
    setEscapeArmed(false);
    setResolving(false);
  };
  return (
    <li
      ref={item}
      className={`banner-item state-${e.state.toLowerCase()}`}
      data-testid="emergency-item"
      data-state={e.state}
      data-emergency-id={e.id}
    >
      <span className="banner-text">
        <span className="banner-who">
          <strong>{e.patientName}</strong>{' '}
          <span
            data-testid="emergency-age"
            title={
              e.reopenedAt
                ? `Raised at ${formatTime(e.raisedAt)}, again at ${formatTime(e.reopenedAt)}`
                : `Raised at ${formatTime(e.raisedAt)}`
            }
          >
            {e.reopenedAt ? 'raised again' : 'raised'} {formatAge(waitingSince(e), now)} (
            {unbroken(formatTime(waitingSince(e)))})
          </span>
          {written && (
            <span
              className="banner-written"
              data-testid="emergency-written"
              title={writtenTitle(written.at, written.sentAt, false)}
            >
              {' '}
              · written {unbroken(formatShortDate(written.at, new Date(now)))} on their device,{' '}
              {formatSpan(new Date(written.sentAt).getTime() - new Date(written.at).getTime())} before it
              reached the clinic
            </span>
          )}
        </span>
        {/* Where it stands, on a line of its own whatever it says, so the card keeps its height
            as it is taken and the cards under it stay where they were. */}
        <span className="banner-state" data-testid="emergency-state">
          {e.state !== 'RAISED' ? (
            <span data-testid="emergency-taken-by">
              Acknowledged by {mine ? 'you' : (e.acknowledgedByName ?? 'a doctor')}
              {e.acknowledgedAt &&
                ` at ${unbroken(formatTime(e.acknowledgedAt))} (${formatAge(e.acknowledgedAt, now)})`}
            </span>
          ) : e.escalatedAt ? (
            <span className="banner-escalated" data-testid="emergency-escalated">
              {escalatedWhileWaiting(e)
                ? `Escalated ${formatAge(e.escalatedAt, now)}: not acknowledged yet`
                : 'Escalated before a doctor took it: every doctor is alerted'}
            </span>
          ) : (
            'Needs a doctor: not acknowledged yet'
          )}
        </span>
        {preview && (
          <span className="banner-preview" data-testid="emergency-text" data-expanded={expanded}>
            “{expanded ? said : preview.text}”{' '}
            {aside && (
              <span className="banner-aside" data-testid="emergency-aside">
                {aside}
              </span>
            )}
            {preview.cut && (
              <button
                type="button"
                className="link-button"
                data-testid="emergency-text-toggle"
                aria-expanded={expanded}
                onClick={() => setExpanded(!expanded)}
              >
                {expanded ? 'Show less' : 'Show all'}
              </button>
            )}
          </span>
        )}
      </span>
      <span className="banner-actions">
        <button
          type="button"
          className="banner-button"
          data-testid="emergency-open-chat"
          onClick={() => void store.openEmergency(e)}
        >
          Open chat
        </button>
        {/* The same cell either way, as wide as the wider of the two, so nothing moves under the
            pointer once it is taken. */}
        <span className="banner-cell">
          {e.state === 'RAISED' ? (
            <button
              type="button"
              className="banner-button strong banner-slot"
              data-testid="emergency-acknowledge"
              disabled={busy}
              onClick={(ev) => {
                const hadFocus = document.activeElement === ev.currentTarget;
                void run(() => store.acknowledge(e.id)).then((ok) => {
                  if (ok && hadFocus && focusFree()) resolveButton.current?.focus();
                });
              }}
            >
              Acknowledge
            </button>
          ) : (
            <span className="banner-button banner-slot is-taken" data-testid="emergency-taken">
              {mine ? '✓ Taken by you' : '✓ Taken'}
            </span>
          )}
          <span className="banner-button strong banner-slot banner-stand-in" aria-hidden="true">
            Acknowledge
          </span>
          <span className="banner-button banner-slot is-taken banner-stand-in" aria-hidden="true">
            ✓ Taken by you
          </span>
        </span>
        {!resolving && (
          <button
            type="button"
            className="banner-button"
            data-testid="emergency-resolve"
            ref={resolveButton}
            onClick={() => setResolving(true)}
          >
            Resolve…
          </button>
        )}
      </span>
      {resolving && (
        <form
          className="banner-resolve"
          onSubmit={(ev) => {
            ev.preventDefault();
            const hadFocus = focusInside();
            // Its item goes with it (before the answer is back): where the focus goes next is
            // found now, the next emergency's first button, else the open conversation's
            // composer.
            const next = item.current?.nextElementSibling ?? item.current?.previousElementSibling;
            const nextButton = next?.querySelector<HTMLElement>('[data-testid="emergency-open-chat"]');
            void run(() => store.resolve(e.id, note.trim())).then((ok) => {
              if (!ok) return;
              setResolving(false);
              setNote('');
              if (!hadFocus || !focusFree()) return;
              (nextButton?.isConnected ? nextButton : composer())?.focus();
            });
          }}
        >
          <label className="sr-only" htmlFor={`note-${e.id}`}>
            Resolution note
          </label>
          <input
            id={`note-${e.id}`}
            data-testid="emergency-resolve-note"
            aria-describedby={`note-hint-${e.id}`}
            value={note}
            maxLength={2048}
            placeholder="What was done (e.g. called the patient, ambulance sent)"
            onChange={(ev) => {
              setEscapeArmed(false);
              setNote(ev.target.value);
            }}
            // A first Escape counts only while the doctor stays in the note: one press hours
            // later, after other work, must not throw it away.
            onBlur={() => setEscapeArmed(false)}
            // A note drawn back after an unlock is written on after its words.
            ref={caretAtEnd}
            onKeyDown={(ev) => {
              // Escape puts the note away (thrown away, see `stopResolving`), never sends it;
              // one with words in it, at the second press.
              if (ev.key === 'Escape' && !composing(ev)) {
                ev.preventDefault();
                if (note.trim() === '' || escapeArmed) stopResolving();
                else setEscapeArmed(true);
              }
            }}
            autoFocus
          />
          <button
            type="submit"
            className="banner-button strong"
            data-testid="emergency-resolve-submit"
            disabled={busy}
          >
            Resolve
          </button>
          <button
            type="button"
            className="banner-button"
            data-testid="emergency-resolve-cancel"
            onClick={stopResolving}
          >
            Cancel
          </button>
          <p className="banner-resolve-hint" id={`note-hint-${e.id}`} data-testid="emergency-resolve-hint">
            {takenByOther &&
              `${e.acknowledgedByName ?? 'Another doctor'} has it: resolve it only once it is handled. `}
            The patient sees this note word for word.{' '}
            {/* Read out when it appears: a screen reader's user hears what the first Escape did. */}
            <strong role="status" data-testid="emergency-resolve-escape">
              {escapeArmed && 'Press Escape again to throw this note away, or go on writing.'}
            </strong>
          </p>
        </form>
      )}
    </li>
  );
}

export function EmergencyBanner() {
  const store = useStore();
  const emergencies = useChat((s) => s.emergencies);
  const alerting = useChat((s) => s.ringing.length > 0);
  const resting = useChat((s) => s.availability === 'DO_NOT_DISTURB');
  const ringable = useChat((s) => canRing(s.device));
  const open = useMemo(() => openEmergencies(emergencies), [emergencies]);
  const draftsBack = useChat((s) => s.draftsBack);
  const now = useNow(
    TICK_MS,
    open.map((e) => `${e.id}:${e.state}:${e.escalatedAt ?? ''}:${e.reopenedAt ?? ''}`).join(),
  );
  // Once every open emergency is taken, the list may be folded to its title line, so a small
  // window (or a large text size) keeps room for the conversation; an emergency not folded
  // with it (a new one) unfolds it.
  const [foldedIds, setFoldedIds] = useState<readonly string[] | null>(null);
  const allTaken = open.every((e) => e.state !== 'RAISED');
  const folded = allTaken && foldedIds !== null && open.every((e) => foldedIds.includes(e.id));
  // Its button goes when a new emergency comes (nothing to fold then): the focus it held goes
  // to that emergency's Acknowledge.
  const banner = useRef<HTMLElement>(null);
  const foldHadFocus = useRef(false);
  // Gone with the banner while it had the focus (no blur is told then): forgotten, so a new
  // emergency hours later does not take an idle focus.
  useEffect(() => {
    if (open.length === 0) foldHadFocus.current = false;
  }, [open.length]);
  useEffect(() => {
    if (allTaken || !foldHadFocus.current) return;
    foldHadFocus.current = false;
    if (!focusIsNowhere()) return;
    banner.current?.querySelector<HTMLElement>('[data-testid="emergency-acknowledge"]')?.focus();
  }, [allTaken]);
  // Ctrl+E reaches the banner from anywhere in the window (a keyboard-only doctor would
  // otherwise Tab through the page to it): the first Acknowledge still waiting, else the first
  // emergency's "Open chat", or when folded its Show button.
  useEffect(() => {
    const onKey = (ev: KeyboardEvent) => {
      if (!ev.ctrlKey || ev.altKey || ev.shiftKey || ev.metaKey || ev.key.toLowerCase() !== 'e') return;
      if (composing(ev) || ev.defaultPrevented) return;
      const root = banner.current;
      // An open dialog (Settings, a message's menu, a confirmation) keeps the focus inside.
      const dialog = document.querySelector('[aria-modal="true"], [role="menu"]');
      if (dialog && !(root && dialog.contains(root))) return;
      const target =
        root?.querySelector<HTMLElement>('[data-testid="emergency-acknowledge"]') ??
        root?.querySelector<HTMLElement>(
          folded ? '[data-testid="banner-fold"]' : '[data-testid="emergency-open-chat"]',
        );
      if (!target) return;
      ev.preventDefault();
      target.focus();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [folded]);
  if (open.length === 0) return null;
  return (
    <section
      ref={banner}
      className={`emergency-banner ${alerting ? 'is-alerting' : ''}`}
      data-testid="emergency-banner"
      data-alerting={alerting}
      role="alert"
      aria-label="Open emergencies (Ctrl+E)"
      aria-keyshortcuts="Control+E"
    >
      <div className="banner-head">
        <span className="banner-title">
          <span aria-hidden="true">⚠</span> {bannerTitle(open)}
        </span>
        {folded && (
          <span className="banner-folded" data-testid="banner-folded">
            Taken: {open.map((e) => e.patientName).join(', ')}
          </span>
        )}
        {resting && !alerting && (
          <span className="banner-quiet" data-testid="banner-dnd">
            Do not disturb: this device stays quiet until an emergency escalates
          </span>
        )}
        {!ringable && (
          <span className="banner-quiet" data-testid="device-cannot-ring">
            This device cannot ring (no sound device): watch this screen
          </span>
        )}
        {/* One place for the title's button, as wide as the widest it can hold (an unseen stand-in
            keeps the room), so the title's height stays as the doctor acknowledges and the cards
            do not move under the pointer on the way to "Resolve…". */}
        <span className="banner-cell">
          {alerting && ringable ? (
            // Keyed: a different button, not this one relabelled, so a focus on one is not
            // carried over to the other.
            <button
              key="silence"
              type="button"
              className="banner-button"
              data-testid="silence-alarm"
              onClick={() => void store.silence()}
            >
              <Icon name="bellOff" size={16} /> Silence this device
            </button>
          ) : allTaken ? (
            <button
              key="fold"
              type="button"
              className="banner-button"
              data-testid="banner-fold"
              aria-expanded={!folded}
              onFocus={() => (foldHadFocus.current = true)}
              onBlur={() => (foldHadFocus.current = false)}
              onClick={() => setFoldedIds(folded ? null : open.map((e) => e.id))}
            >
              {folded ? 'Show' : 'Hide'}
            </button>
          ) : null}
          <span className="banner-button banner-stand-in" aria-hidden="true" data-testid="banner-stand-in">
            {ringable ? (
              <>
                <Icon name="bellOff" size={16} /> Silence this device
              </>
            ) : (
              'Hide'
            )}
          </span>
        </span>
      </div>
      {/* Hidden, not removed: a note being written in it stays. */}
      <ul className="banner-list" hidden={folded}>
        {open.map((e) => (
          // Drawn again when drafts come back after unlocking, so a note being written returns.
          <EmergencyItem key={`${e.id}|${draftsBack}`} e={e} now={now} />
        ))}
      </ul>
    </section>
  );
}
