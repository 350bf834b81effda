// The composer: Enter sends, Shift+Enter adds a line; typing start/stop (debounced); one
// attachment from the file picker or dropped onto the window.

import {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type FormEvent,
  type KeyboardEvent,
  type RefObject,
} from 'react';
import { MAX_CONTENT_BYTES } from '../generated/bindings';
import { composerHeight } from '../logic/composer';
import { byteLength } from '../logic/format';
import { TypingSender } from '../logic/typing';
import { useChat, useStore } from '../store/hooks';
import type { PickedFile } from '../types';
import { FilePreview } from './FilePreview';
import { Icon } from './Icon';
import { composing } from '../logic/keys';
import { caretAtEnd } from './focus';

/**
 * Sizes the composer to its text: one line when empty, growing up to a limit. Measuring sets its
 * height to `auto` for a moment, which the browser lays out: the row around it keeps its height
 * meanwhile, or the message list above would grow for that moment and the browser would pull
 * its scroll position back to fit, leaving the newest message (and, since the list's size ends
 * as it was, reading as the reader scrolling up: `MessageList`).
 */
function useAutoGrow(ref: RefObject<HTMLTextAreaElement | null>, text: string) {
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const style = getComputedStyle(el);
    const px = (v: string) => Number.parseFloat(v) || 0;
    const row = el.parentElement;
    const rowHeight = row?.style.height ?? '';
    if (row) row.style.height = `${row.getBoundingClientRect().height}px`;
    el.style.height = 'auto';
    el.style.height = `${composerHeight(el.scrollHeight, {
      lineHeight: px(style.lineHeight) || px(style.fontSize) * 1.45,
      padding: px(style.paddingTop) + px(style.paddingBottom),
      border: px(style.borderTopWidth) + px(style.borderBottomWidth),
    })}px`;
    if (row) row.style.height = rowHeight;
  }, [ref, text]);
}

export function MessageInput({ conversationKey }: { conversationKey: string }) {
  const store = useStore();
  // What was being written here stays across conversations and a lock (ChatStore.draft).
  const [text, setTextNow] = useState(() => store.draft(conversationKey));
  const setText = useCallback(
    (next: string | ((now: string) => string)) =>
      setTextNow((now) => {
        const value = typeof next === 'function' ? next(now) : next;
        store.setDraft(conversationKey, value);
        return value;
      }),
    [store, conversationKey],
  );
  // So is the file it holds, until the app locks or signs out.
  const [file, setFileNow] = useState<PickedFile | null>(() => store.stagedFile(conversationKey));
  const setFile = useCallback(
    (next: PickedFile | null | ((now: PickedFile | null) => PickedFile | null)) =>
      setFileNow((now) => {
        const value = typeof next === 'function' ? next(now) : next;
        store.setStagedFile(conversationKey, value);
        return value;
      }),
    [store, conversationKey],
  );
  // A dropped message's text comes back here if nothing is being written (each refill once: one
  // asked before this composer was drawn is in its draft already).
  const refill = useChat((s) => s.refill);
  const seenRefill = useRef(refill?.n ?? 0);
  useEffect(() => {
    if (!refill || refill.n === seenRefill.current) return;
    seenRefill.current = refill.n;
    if (refill.key === conversationKey) setTextNow((now) => (now.trim() ? now : refill.text));
  }, [refill, conversationKey]);
  const [dragging, setDragging] = useState(false);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  useAutoGrow(inputRef, text);
  // A draft drawn back in its field is written on after its words: the browser would put the
  // caret before them, and what is typed next in front of the draft.
  useLayoutEffect(() => caretAtEnd(inputRef.current), []);
  const typing = useMemo(() => new TypingSender((t) => store.setTyping(t)), [store]);

  // Leaving a conversation ends "typing" there. (ChatLayout keys ChatWindow by conversation, so
  // each conversation gets a composer of its own, with its draft.)
  useEffect(() => () => typing.stop(), [conversationKey, typing]);

  useEffect(
    () =>
      store.backend.onFileDrop((e) => {
        if (e.kind === 'over') setDragging(true);
        else {
          setDragging(false);
          if (e.kind === 'drop' && e.files[0]) setFile(e.files[0]);
          if (e.kind === 'refused') store.attachRefused(e.error);
        }
      }),
    [store, setFile],
  );

  const tooLong = byteLength(text) > MAX_CONTENT_BYTES;
  const canSend = (text.trim().length > 0 || file !== null) && !tooLong;

  const send = () => {
    if (!canSend) return;
    typing.stop();
    const [sentText, sentFile] = [text, file];
    setText('');
    setFile(null);
    inputRef.current?.focus();
    // A refused send (the notice says why) gives the text back, unless something new was typed.
    void store.send(sentText.trim(), sentFile).then((ok) => {
      if (ok) return;
      // Kept in the store too: this composer may be gone (another conversation opened).
      if (!store.draft(conversationKey).trim()) store.setDraft(conversationKey, sentText);
      if (!store.stagedFile(conversationKey)) store.setStagedFile(conversationKey, sentFile);
      setText((now) => (now === '' ? sentText : now));
      setFile((now) => now ?? sentFile);
    });
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    // WebKit may send the Enter that ends an input method's composition as keyCode 229.
    if (e.key === 'Enter' && !e.shiftKey && !composing(e)) {
      e.preventDefault();
      send();
    }
  };

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    send();
  };

  const pick = async () => {
    try {
      const mark = store.lockMark();
      const picked = await store.backend.pickFile();
      // The app locked (or signed out) while the dialog was open: a file is forgotten at a lock.
      if (store.lockMark() !== mark) return;
      if (picked) {
        setFile(picked);
        // Enter then sends (or writes a caption), not open the picker again.
        inputRef.current?.focus();
      }
    } catch (err) {
      store.attachRefused(err);
    }
  };

  return (
    <form
      className={`composer ${dragging ? 'is-dragging' : ''}`}
      onSubmit={onSubmit}
      data-testid="drop-zone"
      data-dragging={dragging}
    >
      {dragging && <div className="drop-hint">Drop the file to attach it</div>}
      {file && (
        <div className="composer-attachment" data-testid="attachment-preview">
          <FilePreview
            name={file.name}
            size={file.size}
            mimeType={file.mimeType}
            onRemove={() => setFile(null)}
          />
        </div>
      )}
      <div className="composer-row">
        <button
          type="button"
          className="icon-button"
          data-testid="attach-button"
          onClick={() => void pick()}
          aria-label="Attach a file"
          title="Attach a file"
        >
          <Icon name="paperclip" />
        </button>
        <textarea
          ref={inputRef}
          className="composer-input"
          data-testid="message-input"
          aria-label="Message"
          placeholder="Write a message…"
          title="Enter sends, Shift+Enter starts a new line"
          rows={1}
          autoFocus
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            if (e.target.value) typing.input();
            else typing.stop();
          }}
          onKeyDown={onKeyDown}
          onBlur={() => typing.stop()}
        />
        <button
          type="submit"
          className="primary-button send-button"
          data-testid="send-button"
          disabled={!canSend}
        >
          Send
        </button>
      </div>
      {tooLong && (
        <p className="composer-error" role="alert">
          This message is too long (at most 16 KB).
        </p>
      )}
    </form>
  );
}
