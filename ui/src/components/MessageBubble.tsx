// One message: mine on the right, theirs on the left, with time, delivery ticks, attachment,
// emergency styling, clickable links, its own menu (right-click, Shift+F10), Retry when it
// failed, and "Don't send" while it waits to be sent.

import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { keyOf, sameKey } from '../logic/conversations';
import {
  attachedAs,
  fileKind,
  formatDateTime,
  formatTime,
  writtenShort,
  writtenTitle,
} from '../logic/format';
import {
  canEdit,
  canTakeBackMisdirected,
  canUnsend,
  replyBeforeEdit,
  unsendLabel,
} from '../logic/messageChanges';
import { retryCanHelp } from '../logic/messages';
import { useChat, useOffline, useStore } from '../store/hooks';
import type { LocalMessage } from '../types';
import { FilePreview } from './FilePreview';
import {
  ChangeState,
  ConfirmMisdirected,
  ConfirmUnsend,
  EditedLabel,
  Editor,
  Tombstone,
  Versions,
} from './MessageChanges';
import { MessageText } from './MessageText';
import { StatusTicks } from './StatusTicks';
import { useMessageMenu } from './useMessageMenu';
import { composing } from '../logic/keys';
import { composer } from './focus';

/** Loads an image attachment's preview once, through the backend. */
function useImagePreview(msg: LocalMessage): string | null {
  const store = useStore();
  const [url, setUrl] = useState<string | null>(null);
  const isImage = !!msg.fileName && fileKind(msg.fileName, msg.fileType) === 'image';
  useEffect(() => {
    if (!isImage) return;
    let live = true;
    store.backend
      .attachmentPreview(msg.senderId, msg.clientId)
      .then((u) => live && setUrl(u))
      .catch(() => live && setUrl(null));
    return () => {
      live = false;
    };
  }, [store, isImage, msg.senderId, msg.clientId, msg.fileUrl]);
  return url;
}

/** Only messages that just arrived animate in; history rows mounting during scrolling do not. */
const FRESH_MS = 10_000;

export const MessageBubble = memo(function MessageBubble({
  message,
  mine,
  tabbable = true,
}: {
  message: LocalMessage;
  mine: boolean;
  /** The list's one Tab stop among its messages (the others are reached with the arrow keys). */
  tabbable?: boolean;
}) {
  const store = useStore();
  const [fresh] = useState(() => Date.now() - new Date(message.createdAt).getTime() < FRESH_MS);
  const progress = useChat((s) => s.uploads[message.clientId]);
  const imageUrl = useImagePreview(message);
  const me = useChat((s) => s.session?.user ?? null);
  const windows = useChat((s) => s.clinic?.messageWindows ?? null);
  const other = useChat((s) => s.conversations.find((c) => sameKey(c, message))?.otherParty ?? null);
  // Read only for an edited message (few), so a long conversation's bubbles do not each scan it.
  const reply = useChat((s) =>
    message.edited
      ? replyBeforeEdit(message, s.messages[keyOf(message)]?.items ?? [], s.session?.user.id)
      : null,
  );
  const [open, setOpen] = useState<'unsend' | 'misdirected' | 'edit' | 'versions' | null>(null);
  // A change put away (saved, cancelled, closed) gives the focus back to its message when it
  // held it: its buttons go, and a keyboard user would be left nowhere.
  const article = useRef<HTMLElement>(null);
  // Its own controls (a link, "edited", a file, Retry) are Tab stops only while it is the list's
  // stop: the messages stay one stop, each reached by the arrow keys and then entered with Tab.
  // Set here, after each drawing of the bubble, so none of them may set a tabIndex of its own.
  useLayoutEffect(() => {
    for (const el of article.current?.querySelectorAll<HTMLElement>('a[href], button, input, textarea') ?? [])
      el.tabIndex = tabbable ? 0 : -1;
  });
  // Retry takes its row away, Discard the whole bubble: the focus the pressed button holds goes
  // on at once, to the message or to the composer.
  const handOn = (button: HTMLElement, gone: boolean) => {
    if (document.activeElement !== button) return;
    const to = gone ? composer() : article.current;
    to?.focus({ preventScroll: true });
  };
  const closeChange = useCallback(() => {
    const held = !!article.current?.contains(document.activeElement);
    setOpen(null);
    if (held) requestAnimationFrame(() => article.current?.focus({ preventScroll: true }));
  }, []);
  const role = me?.role ?? 'PATIENT';
  // Mine, not acknowledged yet. It may still be dropped unless it may be on the server already
  // (written, its answer lost with the connection); never an emergency: one click must not
  // keep it from the clinic.
  const waiting = mine && message.status === 'SENDING' && !message.id;
  const unsent = waiting && !message.onItsWay && !message.isEmergency;
  const offline = useOffline();
  const menu = useMessageMenu(message, (now) => {
    const change = { message, mine, role, windows, now };
    return {
      unsend: canUnsend(change) ? unsendLabel(role) : null,
      misdirected: canTakeBackMisdirected(change),
      edit: canEdit(change),
      edited: !!message.edited && !message.retracted,
      unsent,
      onChange: setOpen,
    };
  });
  const failed = message.status === 'FAILED';
  const renamed = mine && message.id ? attachedAs(message.localFilePath, message.fileName) : null;
  const sender = mine ? me : other;
  const classes = [
    'bubble',
    mine ? 'mine' : 'theirs',
    message.isEmergency ? 'is-emergency' : '',
    failed ? 'is-failed' : '',
    fresh ? 'is-fresh' : '',
    message.retracted ? 'is-retracted' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    <div className={`bubble-row ${mine ? 'mine' : 'theirs'}`}>
      <article
        className={classes}
        data-testid="message"
        data-status={message.status}
        data-error-code={message.errorCode ?? undefined}
        data-mine={mine}
        data-client-id={message.clientId}
        data-message-id={message.id ?? undefined}
        aria-label={`${mine ? 'You' : 'They'} said`}
        // A retracted message has nothing left to copy, open or change: no menu is promised.
        aria-haspopup={message.retracted ? undefined : 'menu'}
        data-sender-id={message.senderId}
        tabIndex={tabbable ? 0 : -1}
        ref={article}
        onContextMenu={menu.onContextMenu}
        onKeyDown={(e) => {
          // Escape puts away an edit, a question or the versions from anywhere in the bubble.
          if (e.key === 'Escape' && open && !composing(e)) {
            e.preventDefault();
            e.stopPropagation();
            closeChange();
          } else menu.onKeyDown(e);
        }}
      >
        {message.isEmergency && <div className="bubble-emergency-tag">⚠ Emergency</div>}
        {message.fileName && (
          <FilePreview
            name={message.fileName}
            size={message.fileSize}
            mimeType={message.fileType}
            imageUrl={imageUrl}
            progress={message.status === 'SENDING' ? progress : null}
            onOpen={() => void store.openAttachment(message.senderId, message.clientId)}
          />
        )}
        {renamed && (
          <p className="bubble-renamed" data-testid="file-renamed">
            Attached as {renamed}; the clinic named it for what it holds.
          </p>
        )}
        <Tombstone
          message={message}
          senderName={mine ? 'you' : (sender?.name ?? 'the sender')}
          senderRole={sender?.role ?? (mine ? role : role === 'DOCTOR' ? 'PATIENT' : 'DOCTOR')}
        />
        {open === 'edit' ? (
          <Editor message={message} onDone={closeChange} />
        ) : (
          message.content && <MessageText text={message.content} />
        )}
        <ChangeState message={message} />
        {open === 'unsend' && message.id && (
          <ConfirmUnsend messageId={message.id} role={role} onDone={closeChange} />
        )}
        {open === 'misdirected' && message.id && (
          <ConfirmMisdirected messageId={message.id} role={role} onDone={closeChange} />
        )}
        {open === 'versions' && message.id && <Versions messageId={message.id} onClose={closeChange} />}
        <footer className="bubble-meta">
          <EditedLabel message={message} reply={reply} onShow={() => setOpen('versions')} />
          {/* Two times side by side read as one: "edited 2:02 PM · 2:01 PM", as written · sent. */}
          {message.edited && !message.retracted && <span aria-hidden="true">·</span>}
          {message.writtenAt && (
            <span
              className="bubble-written"
              data-testid="message-written"
              title={writtenTitle(message.writtenAt, message.createdAt, mine)}
            >
              written{' '}
              <time dateTime={message.writtenAt}>{writtenShort(message.writtenAt, message.createdAt)}</time> ·
              sent
            </span>
          )}
          <time dateTime={message.createdAt} title={formatDateTime(message.createdAt)}>
            {formatTime(message.createdAt)}
          </time>
          {mine && <StatusTicks status={message.status} />}
        </footer>
        {waiting && offline && (
          <div className="bubble-waiting" data-testid="message-waiting">
            <span>
              {message.onItsWay
                ? 'Sent as the connection dropped: the clinic has not confirmed it yet'
                : 'Waits for the connection'}
            </span>
            {unsent && (
              <button
                type="button"
                className="link-button"
                data-testid="message-dont-send"
                onClick={(e) => {
                  handOn(e.currentTarget, true);
                  void store.discard(message.clientId);
                }}
              >
                Don&apos;t send
              </button>
            )}
          </div>
        )}
        {failed && (
          <div className="bubble-failed" role="alert">
            <span>{message.error ?? 'Not sent'}</span>
            {retryCanHelp(message) && (
              <button
                type="button"
                className="link-button"
                data-testid="message-retry"
                onClick={(e) => {
                  handOn(e.currentTarget, false);
                  void store.retry(message.clientId);
                }}
              >
                Retry
              </button>
            )}
            <button
              type="button"
              className="link-button"
              data-testid="message-discard"
              onClick={(e) => {
                handOn(e.currentTarget, true);
                void store.discard(message.clientId);
              }}
            >
              Discard
            </button>
          </div>
        )}
      </article>
      {menu.menu}
    </div>
  );
});
