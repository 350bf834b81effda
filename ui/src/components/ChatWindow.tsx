// The open conversation: header with the other person, the patient's emergency controls, the
// message history, who is typing, and the composer.

import { useCallback, useMemo } from 'react';
import { keyOf, sameKey } from '../logic/conversations';
import { resolvedIn } from '../logic/emergency';
import { formatDay, initials } from '../logic/format';
import { typingUsers } from '../logic/typing';
import { PEER_STATUS_TEXT } from '../logic/presence';
import { useChat, usePeerStatus, useStore } from '../store/hooks';
import { EMPTY_MESSAGES } from '../store/state';
import type { ConversationKey, User } from '../types';
import { EmergencyButton } from './EmergencyButton';
import { EmergencyStatus } from './EmergencyStatus';
import { MessageInput } from './MessageInput';
import { MessageList } from './MessageList';
import { OnlineStatus } from './OnlineStatus';
import { TypingIndicator } from './TypingIndicator';

export function ChatWindow({ active, me }: { active: ConversationKey; me: User }) {
  const store = useStore();
  const k = keyOf(active);
  const data = useChat((s) => s.messages[k]) ?? EMPTY_MESSAGES;
  const conversations = useChat((s) => s.conversations);
  const typingMap = useChat((s) => s.typing);
  const conv = conversations.find((c) => sameKey(active, c));
  const other = conv?.otherParty;
  const status = usePeerStatus(other?.id);
  const typingNames = useMemo(
    () => typingUsers(typingMap, active, me.id).map((id) => (id === other?.id ? other.name : 'Someone')),
    [typingMap, active, me.id, other],
  );
  const loadOlder = useCallback(() => void store.loadOlder(active), [store, active]);
  const focus = useChat((s) => (s.focus?.key === k ? s.focus.messageId : null));
  const focused = useCallback(() => store.clearFocus(), [store]);
  const onScreenChange = useCallback(
    (ids: ReadonlySet<string>) => store.setOnScreen(active, ids),
    [store, active],
  );
  const draftsBack = useChat((s) => s.draftsBack);
  const emergencies = useChat((s) => s.emergencies);
  const cachedResolved = useChat((s) => s.resolutions[k]);
  const resolved = useMemo(
    () => resolvedIn(emergencies, cachedResolved, active),
    [emergencies, cachedResolved, active],
  );
  const isPatient = me.role === 'PATIENT';
  // Another doctor's conversation, opened from an emergency to read it: not ours to write in.
  const mine = active.patientId === me.id || active.doctorId === me.id;
  // Not in the list: named after its patient, as the emergency that led here names her.
  const patientName = mine
    ? null
    : (emergencies.find((e) => e.patientId === active.patientId)?.patientName ?? null);
  const title = other?.name ?? patientName ?? 'Conversation';
  // An emergency of this patient the viewer took: their own conversation is where to write. Her
  // open one decides (a new one nobody has taken asks to be acknowledged again).
  const theirs = mine ? [] : emergencies.filter((e) => e.patientId === active.patientId);
  const open = theirs.find((e) => e.state !== 'RESOLVED');
  const takenByMe = open
    ? open.acknowledgedBy === me.id
      ? open
      : null
    : (theirs.find((e) => e.acknowledgedBy === me.id || e.resolvedBy === me.id) ?? null);

  return (
    <section
      className="chat card"
      data-testid="chat-window"
      aria-label={`Conversation with ${other?.name ?? patientName ?? ''}`}
    >
      <header className="chat-header">
        <span className="avatar" aria-hidden="true">
          {initials(other?.name ?? patientName ?? '?')}
        </span>
        <div className="chat-title">
          <h2 data-testid="chat-title" title={title}>
            {title}
          </h2>
          <span className="chat-subtitle">
            {!mine && !other && (
              <span data-testid="chat-elsewhere">
                The patient's conversation with another doctor (to read only)
              </span>
            )}
            {other && <OnlineStatus status={status} label={other.name} />}
            {other && <span data-testid="peer-status">{PEER_STATUS_TEXT[status]}</span>}
            {!isPatient && other?.age != null && <> · {other.age} y</>}
            {!isPatient && other?.bloodGroup && <> · {other.bloodGroup}</>}
          </span>
        </div>
        {isPatient && <EmergencyButton />}
      </header>
      {isPatient && <EmergencyStatus conversation={active} items={data.items} />}
      {!isPatient && <TakenElsewhere conversation={active} me={me.id} />}
      {data.purgedAt && (
        <p className="history-purged" role="note" data-testid="history-purged">
          Earlier messages were removed on {formatDay(data.purgedAt)} under the clinic&apos;s retention
          policy.
        </p>
      )}
      <MessageList
        data={data}
        me={me.id}
        onLoadOlder={loadOlder}
        focusId={focus}
        onFocused={focused}
        onScreenChange={onScreenChange}
        resolved={resolved}
        doctorId={active.doctorId}
      />
      <TypingIndicator names={typingNames} />
      {mine ? (
        // Drawn again when drafts come back after unlocking, so what was being written returns.
        <MessageInput key={draftsBack} conversationKey={k} />
      ) : (
        <p className="composer-note" data-testid="not-your-conversation">
          {takenByMe ? (
            <>
              This is another doctor&apos;s conversation. You took the patient&apos;s emergency: write to them
              in your own.{' '}
              <button
                type="button"
                className="link-button"
                data-testid="open-own-conversation"
                onClick={() => void store.openEmergency(takenByMe)}
              >
                Open my conversation
              </button>
            </>
          ) : (
            <>
              This is another doctor&apos;s conversation. Acknowledge the emergency to talk to the patient in
              a conversation of your own.
            </>
          )}
        </p>
      )}
    </section>
  );
}

/**
 * In a doctor's own conversation with a patient whose emergency they took while it was raised in
 * the patient's conversation with another doctor: where to read what the patient wrote (that
 * conversation, read only, at the press).
 */
/**
 * In a doctor's own conversation with a patient, her open emergency raised in her conversation
 * with another doctor: where it stands, and a way to read it there. Opened from the banner's
 * "Open chat" before anyone took it, this is where a doctor who has a conversation with her
 * lands, and nothing else here would say the emergency is elsewhere.
 */
function TakenElsewhere({ conversation, me }: { conversation: ConversationKey; me: string }) {
  const store = useStore();
  const emergencies = useChat((s) => s.emergencies);
  const elsewhere =
    conversation.doctorId === me
      ? emergencies.filter(
          (e) =>
            e.state !== 'RESOLVED' &&
            e.patientId === conversation.patientId &&
            e.doctorId !== conversation.doctorId,
        )
      : [];
  // The one this doctor took first; else the one still waiting for a doctor; else any.
  const shown =
    elsewhere.find((e) => e.acknowledgedBy === me) ??
    elsewhere.find((e) => e.state === 'RAISED') ??
    elsewhere[0];
  if (!shown) return null;
  const where = 'raised in their conversation with another doctor';
  return (
    <p className="chat-note" role="note" data-testid="taken-elsewhere" data-state={shown.state}>
      {shown.state === 'RAISED'
        ? `${shown.patientName}'s emergency, ${where}, is waiting for a doctor: nobody has acknowledged it yet.`
        : shown.acknowledgedBy === me
          ? `You took ${shown.patientName}'s emergency, ${where}.`
          : `${shown.patientName}'s emergency, ${where}, was taken by ${shown.acknowledgedByName ?? 'another doctor'}.`}{' '}
      <button
        type="button"
        className="link-button"
        data-testid="taken-elsewhere-open"
        onClick={() =>
          void store.openMessage({ patientId: shown.patientId, doctorId: shown.doctorId }, shown.messageId)
        }
      >
        Read what they wrote
      </button>
    </p>
  );
}
