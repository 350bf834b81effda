import { describe, expect, it } from 'vitest';
import { isOpenableLink, linkTarget, linksOf, splitLinks } from './links';

const joined = (text: string) =>
  splitLinks(text)
    .map((p) => p.text)
    .join('');

describe('splitLinks', () => {
  it('finds http(s) and mailto links and leaves the rest as text', () => {
    expect(
      splitLinks('See https://clinic.example/forms?a=1&b=2 and write to mailto:desk@clinic.example'),
    ).toEqual([
      { kind: 'text', text: 'See ' },
      {
        kind: 'link',
        text: 'https://clinic.example/forms?a=1&b=2',
        href: 'https://clinic.example/forms?a=1&b=2',
      },
      { kind: 'text', text: ' and write to ' },
      { kind: 'link', text: 'mailto:desk@clinic.example', href: 'mailto:desk@clinic.example' },
    ]);
  });

  it('leaves sentence punctuation and an unbalanced bracket outside the link', () => {
    expect(linksOf('Read this: https://x.org/a.')).toEqual(['https://x.org/a']);
    expect(linksOf('(see https://x.org/page)')).toEqual(['https://x.org/page']);
    expect(linksOf('https://en.wikipedia.org/wiki/Asthma_(disease), ok?')).toEqual([
      'https://en.wikipedia.org/wiki/Asthma_(disease)',
    ]);
  });

  it('never makes links of other schemes or of bare words', () => {
    for (const text of [
      'javascript:alert(1)',
      'file:///etc/passwd',
      'data:text/html,<b>x</b>',
      'www.example.org',
      'tauri://localhost/',
      'http://',
    ]) {
      expect(
        splitLinks(text).every((p) => p.kind === 'text'),
        text,
      ).toBe(true);
    }
  });

  it('keeps markup as text: nothing is cut out or turned into HTML', () => {
    const text =
      '<img src=x onerror=alert(1)> https://x.org/"><script>alert(1)</script> <a href="javascript:x">y</a>';
    const parts = splitLinks(text);
    expect(joined(text)).toBe(text);
    expect(parts.filter((p) => p.kind === 'link').map((p) => p.text)).toEqual(['https://x.org/']);
  });

  it('gives the text back unchanged, links or not', () => {
    for (const text of ['', 'no links', 'a https://a.b c https://d.e/f. g', 'ends with https://x.y']) {
      expect(joined(text)).toBe(text);
    }
  });
});

describe('isOpenableLink', () => {
  it('accepts web and mail links only', () => {
    expect(isOpenableLink('https://x.org')).toBe(true);
    expect(isOpenableLink('http://192.168.1.5:8080/')).toBe(true);
    expect(isOpenableLink('mailto:a@b.c')).toBe(true);
    expect(isOpenableLink('mailto:nobody')).toBe(false);
    expect(isOpenableLink('javascript:alert(1)')).toBe(false);
    expect(isOpenableLink('not a url')).toBe(false);
  });
});

describe('links that hide where they lead', () => {
  it('are not links: a user name before the host, a backslash, a mail link with more', () => {
    for (const hiding of [
      'https://clinic.example.org@evil.example/login',
      'https://user:pw@evil.example/',
      'https://evil.example\\@clinic.example.org',
      'mailto:dr.patel@clinic.example?attach=/home/u/.ssh/id_rsa',
      'mailto:a@b.c,evil@x.y',
      'mailto:a@b.c,postmaster',
      'mailto:a@b.c%2Cpostmaster',
      'mailto:%E2%80%AEmoc.live@b.c',
      'mailto:?to=a@b.c',
    ])
      expect(isOpenableLink(hiding), hiding).toBe(false);
    expect(splitLinks('see https://clinic.example.org@evil.example/login')).toEqual([
      { kind: 'text', text: 'see https://clinic.example.org@evil.example/login' },
    ]);
    expect(isOpenableLink('mailto:dr.patel@clinic.example?subject=Hi&body=x')).toBe(true);
  });

  it('never break the message they are in: a bad escape is text, not an error', () => {
    for (const text of ['mailto:x@y.z%', 'write to mailto:dr@clinic.example%zz now', 'https://x.org/%zz'])
      expect(
        splitLinks(text)
          .map((p) => p.text)
          .join(''),
      ).toBe(text);
  });

  it('are found in one pass, however many dots and brackets follow them', () => {
    // 8,000 of each took over a minute with the trim that split the link again per bracket; the
    // test's own time limit is what would stop such a one now.
    const text = `https://x.org/${'.'.repeat(8000)}${')'.repeat(8000)} end`;
    const parts = splitLinks(text);
    expect(parts.map((p) => p.text).join('')).toBe(text);
    expect(parts[0]).toEqual({ kind: 'link', text: 'https://x.org/', href: 'https://x.org/' });
    expect(isOpenableLink(`https://x.org/${'a'.repeat(3000)}`), 'longer than the shell opens').toBe(false);
  });

  it('are real addresses: one, decoded, with what they say about themselves', () => {
    expect(isOpenableLink('mailto:müller@praxis.de')).toBe(true);
    expect(isOpenableLink('mailto:a+b@clinic.example?subject=Hello%20there')).toBe(true);
    expect(isOpenableLink('mailto:a@b.c%')).toBe(false);
    for (const written of [
      'mailto:u@clinic.example%2F.evil.com',
      'mailto:u@clinic.example%3F.evil.com',
      'mailto:u@evil.com:80',
      'mailto:u@',
    ])
      expect(isOpenableLink(written), written).toBe(false);
    expect(linkTarget('mailto:u@0x7f.1')).toBe('an e-mail to u@0x7f.1');
    expect(linkTarget('mailto:müller@zahnärzte.de')).toBe('an e-mail to müller@xn--zahnrzte-3za.de');
  });

  it('show the host they open, in its ASCII form', () => {
    expect(linkTarget('https://раураl.com/')).toBe('xn--l-7sba6dbr.com in your browser');
    expect(linkTarget('https://x.org:8443/a')).toBe('x.org:8443 in your browser');
    expect(linkTarget('mailto:a@b.c')).toBe('an e-mail to a@b.c');
  });
});
