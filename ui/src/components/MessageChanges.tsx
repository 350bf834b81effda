// What a bubble shows of unsend / retract and edit: the tombstone ("Message unsent by NAME at
// TIME"), "edited TIME" with the version list (both sides), the confirmation before taking a
// message back, the editor, a change still waiting for the server, and the server's refusal.

import { useEffect, useRef, useState } from 'react';
import { dayLabel, formatDateTime, formatTime } from '../logic/format';
import { editedText, tombstoneText, unsendLabel, type ReplyBeforeEdit } from '../logic/messageChanges';
import { composing } from '../logic/keys';
import { useOffline, useStore } from '../store/hooks';
import type { LocalMessage, MessageVersion, Role } from '../types';

export function Tombstone({
  message,
  senderName,
  senderRole,
}: {
  message: LocalMessage;
  senderName: string;
  senderRole: Role;
}) {
  if (!message.retracted) return null;
  return (
    <p className="bubble-tombstone" data-testid="message-tombstone">
      {tombstoneText(senderName, senderRole, message.retracted.at)}
    </p>
  );
}

/** "edited 14:05" (louder after a reply), which opens the version list. */
export function EditedLabel({
  message,
  reply,
  onShow,
}: {
  message: LocalMessage;
  reply: ReplyBeforeEdit;
  onShow: () => void;
}) {
  if (!message.edited || message.retracted) return null;
  return (
    <button
      type="button"
      className={reply ? 'link-button bubble-edited after-reply' : 'link-button bubble-edited'}
      data-testid="message-edited"
      data-after-reply={reply ?? undefined}
      title="Show the versions"
      onClick={onShow}
    >
      {editedText(message.edited.at, undefined, reply)}
    </button>
  );
}

export function Versions({ messageId, onClose }: { messageId: string; onClose: () => void }) {
  const store = useStore();
  const [versions, setVersions] = useState<MessageVersion[] | null>(null);
  const list = useRef<HTMLElement>(null);
  // Opened from a bubble low on screen, the list would grow out of sight.
  useEffect(() => list.current?.scrollIntoView?.({ block: 'nearest' }), [versions]);
  useEffect(() => {
    let live = true;
    void store.versions(messageId).then((v) => {
      if (!live) return;
      if (v) setVersions(v.versions);
      else onClose();
    });
    return () => {
      live = false;
    };
  }, [store, messageId, onClose]);
  return (
    <section ref={list} className="bubble-versions" data-testid="message-versions" aria-label="Versions">
      {versions === null ? (
        <p>Loading versions…</p>
      ) : (
        <ol>
          {versions.map((v) => (
            <li key={v.version}>
              <span className="bubble-version-text">{v.content}</span>{' '}
              <time dateTime={v.at} title={formatDateTime(v.at)}>
                {dayLabel(v.at)}, {formatTime(v.at)}
              </time>
            </li>
          ))}
        </ol>
      )}
      <button type="button" className="link-button" onClick={onClose}>
        Close
      </button>
    </section>
  );
}

/** What a bubble's question before taking a message back needs. */
interface ConfirmProps {
  messageId: string;
  role: Role;
  onDone: () => void;
}

/** "Unsend this message?" before it goes; the other side will see a tombstone. */
export function ConfirmUnsend({ messageId, role, onDone }: ConfirmProps) {
  const store = useStore();
  const label = unsendLabel(role);
  return (
    <div className="bubble-confirm" role="alertdialog" aria-label={`${label} this message?`}>
      <span>{label} this message? The other side will see that you did.</span>
      <button
        type="button"
        className="link-button"
        data-testid="message-unsend-confirm"
        onClick={() => {
          onDone();
          void store.unsend(messageId);
        }}
      >
        {label}
      </button>
      <button type="button" className="link-button" onClick={onDone}>
        Cancel
      </button>
    </div>
  );
}

/** "Sent to the wrong person": past the window to unsend, a message is taken back with a reason
 * (kept sealed with the original on the server, never shown to the other side). */
export function ConfirmMisdirected({ messageId, role, onDone }: ConfirmProps) {
  const store = useStore();
  const [reason, setReason] = useState('');
  // Tried without a reason: said next to the field (the client refuses one without), rather
  // than a button that does nothing.
  const [needsReason, setNeedsReason] = useState(false);
  const missing = needsReason && !reason.trim();
  const field = useRef<HTMLTextAreaElement>(null);
  useEffect(() => field.current?.focus(), []);
  const label = unsendLabel(role);
  const fieldId = `misdirected-${messageId}`;
  return (
    <form
      className="bubble-confirm bubble-misdirected"
      role="alertdialog"
      aria-label="Sent to the wrong person?"
      data-testid="message-misdirected"
      onSubmit={(e) => {
        e.preventDefault();
        if (!reason.trim()) {
          setNeedsReason(true);
          field.current?.focus();
          return;
        }
        onDone();
        void store.unsend(messageId, reason.trim(), true);
      }}
    >
      <span>
        Sent to the wrong person? {label} it: its text and file go from both sides, and the other side sees
        that you did.
      </span>
      <label className="bubble-misdirected-label" htmlFor={fieldId}>
        Say why, for the clinic&apos;s record (they will not see it):
      </label>
      <textarea
        ref={field}
        id={fieldId}
        data-testid="message-misdirected-reason"
        placeholder="For example: meant for another patient"
        value={reason}
        maxLength={250}
        aria-invalid={missing}
        aria-describedby={missing ? `${fieldId}-needed` : undefined}
        onChange={(e) => setReason(e.target.value)}
      />
      {/* Once said, its place is kept (hidden) while a reason is written: the button below
          must not move up under the pointer on its way to it. */}
      {needsReason && (
        <p
          className={`bubble-misdirected-needed${missing ? '' : ' is-met'}`}
          role={missing ? 'alert' : undefined}
          aria-hidden={!missing}
          id={`${fieldId}-needed`}
          data-testid="message-misdirected-needed"
        >
          Say why first: it can only be {label === 'Retract' ? 'retracted' : 'unsent'} with a reason.
        </p>
      )}
      <button type="submit" className="link-button" data-testid="message-misdirected-confirm">
        {label}
      </button>
      <button type="button" className="link-button" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}

export function Editor({ message, onDone }: { message: LocalMessage; onDone: () => void }) {
  const store = useStore();
  const [text, setText] = useState(message.content);
  // The caret starts after the text, where a correction usually goes.
  const field = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = field.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);
  const save = () => {
    if (!message.id) return;
    onDone();
    if (text !== message.content) void store.edit(message.id, text);
  };
  return (
    <form
      className="bubble-editor"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <textarea
        aria-label="Edit message"
        data-testid="message-edit-text"
        ref={field}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (composing(e)) return;
          if (e.key === 'Escape') onDone();
          if (e.key === 'Enter' && !e.shiftKey) {
            e.preventDefault();
            save();
          }
        }}
      />
      <button type="submit" className="link-button" data-testid="message-edit-save" disabled={!text.trim()}>
        Save
      </button>
      <button type="button" className="link-button" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}

/** A change of mine still waiting for the server, or the server's refusal of one. */
export function ChangeState({ message }: { message: LocalMessage }) {
  const pending = message.pendingChange;
  // Offline, it goes nowhere until the connection is back: said as a send waiting says it.
  const offline = useOffline();
  if (pending)
    return (
      <>
        <p className="bubble-pending" data-testid="message-change-pending">
          {pending.kind === 'retract' ? 'Taking back…' : `Saving edit: ${pending.content ?? ''}`}
          {offline && ' Waits for the connection.'}
        </p>
        {/* The server keeps answering "not now": still tried, and why it waits. */}
        {message.changeNotice && (
          <p className="bubble-pending" role="status" data-testid="message-change-delayed">
            {message.changeNotice}
          </p>
        )}
      </>
    );
  if (message.changeNotice)
    return (
      <p className="bubble-change-notice" role="alert" data-testid="message-change-notice">
        {message.changeNotice}
      </p>
    );
  return null;
}
