// Links in message text: found here, rendered as text nodes and anchors (never as markup), and
// opened only through the shell, which checks them again before the system browser gets them.

/** A piece of a message's text: plain text, or a link the app may open. */
export type TextPart = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

// http(s):// up to whitespace or an angle bracket/quote; explicit mailto: addresses.
// The local part is capped (64 is its limit) so text of many "mailto:" without an "@" stays cheap.
const LINK = /\b(?:https?:\/\/[^\s<>"'`]+|mailto:[^\s<>"'`@]{1,256}@[^\s<>"'`]+)/gi;
/** Punctuation that ends a sentence rather than the link ("see https://x.org.") */
const TRAILING = '.,;:!?*_~';
/** Longer than any real link a person sends (the shell refuses longer ones: `MAX_LINK_CHARS`). */
const MAX_LINK_CHARS = 2048;

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
  if (href.length > MAX_LINK_CHARS || href.includes('\\')) return false;
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return false;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:')
    return url.hostname !== '' && url.username === '' && url.password === '';
  if (url.protocol === 'mailto:') {
    const address = mailAddress(url);
    return address !== null && [...url.searchParams.keys()].every((k) => MAIL_FIELDS.has(k.toLowerCase()));
  }
  return false;
}

/**
 * A mail link's one address, decoded (`müller@praxis.de` arrives as `m%C3%BCller@...`), or null
 * when it holds more than one address, an escape that does not decode, or characters that hide
 * or reorder text (a second address after a comma, U+202E turning the tooltip round).
 */
function mailAddress(url: URL): string | null {
  let address: string;
  try {
    address = decodeURIComponent(url.pathname);
  } catch {
    return null;
  }
  const parts = address.split('@');
  if (parts.length !== 2 || /[,%\s\p{Cc}\p{Cf}]/u.test(address)) return null;
  // A domain is a name: a path, query, port or bracket after it would let the tooltip show less
  // than is written.
  if (parts[1] === '' || /[/?#:[\]\\]/.test(parts[1])) return null;
  return address;
}

/**
 * Where a link really leads, for its tooltip: the host as the browser will ask for it (an
 * international name in its ASCII form, so a look-alike shows as `xn--...`), or the address.
 */
export function linkTarget(href: string): string {
  try {
    const url = new URL(href);
    if (url.protocol === 'mailto:') {
      const address = mailAddress(url) ?? url.pathname;
      const at = address.lastIndexOf('@');
      // An international domain in its ASCII form, as for web links; any other as written.
      const written = address.slice(at + 1);
      // oxlint-disable-next-line no-control-regex
      const domain = at < 0 || /^[\x00-\x7f]*$/.test(written) ? written : new URL(`http://${written}`).host;
      return `an e-mail to ${at < 0 ? address : `${address.slice(0, at)}@${domain}`}`;
    }
    return `${url.host} in your browser`;
  } catch {
    return href;
  }
}

/**
 * Drops what a sentence put after the link: trailing punctuation, an unbalanced ")". One pass
 * from the end, so a message of thousands of dots and brackets costs as much as its length.
 */
function trimLink(raw: string): string {
  let opens = 0;
  let closes = 0;
  for (const c of raw) {
    if (c === '(') opens += 1;
    else if (c === ')') closes += 1;
  }
  let end = raw.length;
  while (end > 0) {
    const c = raw[end - 1];
    if (TRAILING.includes(c)) end -= 1;
    else if (c === ')' && closes > opens) {
      closes -= 1;
      end -= 1;
    } else break;
  }
  return raw.slice(0, end);
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
