// Links in message text: found here, rendered as text nodes and anchors (never as markup), and
// opened only through the shell, which checks them again before the system browser gets them.

/** A piece of a message's text: plain text, or a link the app may open. */
export type TextPart = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

// http(s):// up to whitespace or an angle bracket/quote; explicit mailto: addresses.
const LINK = /\b(?:https?:\/\/[^\s<>"'`]+|mailto:[^\s<>"'`@]+@[^\s<>"'`]+)/gi;
/** Punctuation that ends a sentence rather than the link ("see https://x.org.") */
const TRAILING = /[.,;:!?*_~]+$/;

/** What a mail link may say besides its one address. */
const MAIL_FIELDS = new Set(['subject', 'body']);

/**
 * Whether the app hands this to the system (the shell checks the same again,
 * `client/src/links.rs`): a web link with a host and no user name or password before it (which
 * can make `https://clinic.example@elsewhere/` look like the clinic), or a mail link to one
 * address with at most a subject and a body; never one with a backslash, which browsers read as
 * a slash.
 */
export function isOpenableLink(href: string): boolean {
  if (href.includes('\\')) return false;
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return false;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:')
    return url.hostname !== '' && url.username === '' && url.password === '';
  if (url.protocol === 'mailto:') {
    // The address as written: one, plain (no escapes, which can hide a second address or
    // characters that reorder what the tooltip shows; and never decoded, which can throw).
    const address = url.pathname;
    return (
      address.split('@').length === 2 &&
      !/[,%]/.test(address) &&
      [...url.searchParams.keys()].every((k) => MAIL_FIELDS.has(k.toLowerCase()))
    );
  }
  return false;
}

/**
 * Where a link really leads, for its tooltip: the host as the browser will ask for it (an
 * international name in its ASCII form, so a look-alike shows as `xn--...`), or the address.
 */
export function linkTarget(href: string): string {
  try {
    const url = new URL(href);
    if (url.protocol === 'mailto:') return `an e-mail to ${url.pathname}`;
    return `${url.host} in your browser`;
  } catch {
    return href;
  }
}

/** Drops what a sentence put after the link: trailing punctuation, an unbalanced ")". */
function trimLink(raw: string): string {
  let link = raw.replace(TRAILING, '');
  while (link.endsWith(')')) {
    const opens = link.split('(').length - 1;
    const closes = link.split(')').length - 1;
    if (closes <= opens) break;
    link = link.slice(0, -1).replace(TRAILING, '');
  }
  return link;
}

/** The message's text split into plain text and links, in order; joined, it is the text again. */
export function splitLinks(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let at = 0;
  for (const match of text.matchAll(LINK)) {
    const start = match.index;
    const link = trimLink(match[0]);
    if (!isOpenableLink(link)) continue;
    if (start > at) parts.push({ kind: 'text', text: text.slice(at, start) });
    parts.push({ kind: 'link', text: link, href: link });
    at = start + link.length;
  }
  if (at < text.length) parts.push({ kind: 'text', text: text.slice(at) });
  return parts;
}

/** The distinct links of a message, in order. */
export function linksOf(text: string): string[] {
  const seen = new Set<string>();
  for (const part of splitLinks(text)) if (part.kind === 'link') seen.add(part.href);
  return [...seen];
}
