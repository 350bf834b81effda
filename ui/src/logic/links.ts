// Links in message text: found here, rendered as text nodes and anchors (never as markup), and
// opened only through the shell, which checks them again before the system browser gets them.

/** A piece of a message's text: plain text, or a link the app may open. */
export type TextPart = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

// http(s):// up to whitespace or an angle bracket/quote; explicit mailto: addresses.
const LINK = /\b(?:https?:\/\/[^\s<>"'`]+|mailto:[^\s<>"'`@]+@[^\s<>"'`]+)/gi;
/** Punctuation that ends a sentence rather than the link ("see https://x.org.") */
const TRAILING = /[.,;:!?*_~]+$/;

/** Whether the app hands this to the system (the shell checks the same again). */
export function isOpenableLink(href: string): boolean {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return false;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') return url.hostname !== '';
  if (url.protocol === 'mailto:') return url.pathname.includes('@');
  return false;
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
