// A message's text with its http(s) and mailto links clickable. Everything is a text node or an
// anchor React builds: markup in a message stays text. A click asks the shell to open the link
// in the system's browser; the app's window never follows it.

import { memo, type MouseEvent } from 'react';
import { linkTarget, splitLinks } from '../logic/links';
import { useStore } from '../store/hooks';

export const MessageText = memo(function MessageText({ text }: { text: string }) {
  const store = useStore();
  const open = (e: MouseEvent<HTMLAnchorElement>, href: string) => {
    e.preventDefault();
    if (e.button > 1) return;
    void store.openLink(href);
  };
  return (
    <p className="bubble-text">
      {splitLinks(text).map((part, i) =>
        part.kind === 'text' ? (
          part.text
        ) : (
          <a
            key={i}
            href={part.href}
            className="bubble-link"
            data-testid="message-link"
            rel="noreferrer noopener"
            title={`Opens ${linkTarget(part.href)}`}
            onClick={(e) => open(e, part.href)}
            onAuxClick={(e) => open(e, part.href)}
          >
            {part.text}
          </a>
        ),
      )}
    </p>
  );
});
