import { describe, expect, it } from 'vitest';
import { connectionView } from './connection';
import {
  dayLabel,
  fileKind,
  formatDateTime,
  formatFileSize,
  formatShortDate,
  formatTime,
  initials,
  normalizeServerUrl,
  sameDay,
  writtenShort,
  writtenTitle,
} from './format';
import { pageHasMore, shouldLoadOlder } from './paging';
import {
  DEFAULT_SETTINGS,
  normalizeSettings,
  settingsSections,
  textSizeStep,
  unsentWarning,
} from './settings';
import { statusTicks } from './status';

describe('statusTicks', () => {
  it('maps every status to its icon and label', () => {
    expect(statusTicks('SENDING')).toEqual({ icon: 'clock', label: 'Sending' });
    expect(statusTicks('SENT')).toEqual({ icon: 'single', label: 'Sent' });
    expect(statusTicks('DELIVERED')).toEqual({ icon: 'double', label: 'Delivered' });
    expect(statusTicks('READ')).toEqual({ icon: 'double-read', label: 'Read' });
    expect(statusTicks('FAILED')).toEqual({ icon: 'failed', label: 'Not sent' });
  });
});

describe('connectionView', () => {
  it('says online, connecting, reconnecting with the attempt, offline', () => {
    expect(
      connectionView({
        state: 'online',
        attempt: null,
        queued: 0,
        failed: 0,
        lastError: null,
        notYourServer: false,
      }),
    ).toEqual({
      text: 'Connected',
      tone: 'online',
      queuedText: null,
      queuedShort: null,
    });
    expect(
      connectionView({
        state: 'connecting',
        attempt: null,
        queued: 0,
        failed: 0,
        lastError: null,
        notYourServer: false,
      }).text,
    ).toBe('Connecting…');
    expect(
      connectionView({
        state: 'connecting',
        attempt: 4,
        queued: 0,
        failed: 0,
        lastError: null,
        notYourServer: false,
      }).text,
    ).toBe('Reconnecting…');
    expect(
      connectionView({
        state: 'offline',
        attempt: null,
        queued: 0,
        failed: 0,
        lastError: null,
        notYourServer: false,
      }).tone,
    ).toBe('offline');
    // Trying again after a failure is still offline: no flicker between two words.
    const why = 'The clinic server cannot be reached: nothing is listening on port 8470.';
    for (const state of ['offline', 'connecting'] as const)
      expect(
        connectionView({ state, attempt: 3, queued: 0, failed: 0, lastError: why, notYourServer: false }),
      ).toMatchObject({
        text: 'Offline',
        tone: 'offline',
      });
  });

  it('counts queued messages', () => {
    expect(
      connectionView({
        state: 'offline',
        attempt: null,
        queued: 1,
        failed: 0,
        lastError: null,
        notYourServer: false,
      }).queuedText,
    ).toBe('1 message waiting to send');
    expect(
      connectionView({
        state: 'offline',
        attempt: null,
        queued: 3,
        failed: 0,
        lastError: null,
        notYourServer: false,
      }).queuedText,
    ).toBe('3 messages waiting to send');
  });

  it('counts the sends parked after a refusal, which wait for Retry or Discard', () => {
    const view = (queued: number, failed: number) =>
      connectionView({
        state: 'online',
        attempt: null,
        queued,
        failed,
        lastError: null,
        notYourServer: false,
      }).queuedText;
    expect(view(0, 1)).toBe('1 message not sent');
    expect(view(2, 3)).toBe('2 messages waiting to send, 3 messages not sent');
    expect(view(0, 0)).toBeNull();
    const short = (queued: number, failed: number) =>
      connectionView({ state: 'offline', attempt: 7, queued, failed, lastError: null, notYourServer: false })
        .queuedShort;
    expect(short(2, 3)).toBe('2 waiting, 3 not sent');
    expect(short(0, 1)).toBe('1 not sent');
    expect(short(0, 0)).toBeNull();
  });
});

describe('formatFileSize', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1 KB'],
    [1536, '1.5 KB'],
    [482_000, '471 KB'],
    [1_240_000, '1.2 MB'],
    [25 * 1024 * 1024, '25 MB'],
    [3 * 1024 ** 3, '3 GB'],
    [-1, '?'],
    [Number.NaN, '?'],
  ])('%d -> %s', (bytes, text) => {
    expect(formatFileSize(bytes)).toBe(text);
  });
});

describe('fileKind and initials', () => {
  it('classifies by MIME type, then by extension', () => {
    expect(fileKind('x', 'image/png')).toBe('image');
    expect(fileKind('scan.JPG')).toBe('image');
    expect(fileKind('report.pdf')).toBe('pdf');
    expect(fileKind('letter.docx', null)).toBe('document');
    expect(fileKind('notes', 'text/plain')).toBe('document');
    expect(fileKind('archive.zip', 'application/zip')).toBe('other');
  });

  it('normalises the server address people type', () => {
    expect(normalizeServerUrl(' 192.168.1.10:8470/ ')).toBe('https://192.168.1.10:8470');
    expect(normalizeServerUrl('https://clinic.lan:8470')).toBe('https://clinic.lan:8470');
    expect(normalizeServerUrl('http://127.0.0.1:8470')).toBe('http://127.0.0.1:8470');
    expect(normalizeServerUrl('')).toBe('');
  });

  it('makes avatar initials without titles', () => {
    expect(initials('Dr. Ana Maria Silva')).toBe('AS');
    expect(initials('maria')).toBe('M');
    expect(initials('')).toBe('?');
  });

  it('formats dates relative to now', () => {
    const now = new Date('2026-11-24T12:00:00Z');
    expect(formatShortDate('not a date', now)).toBe('');
    expect(formatShortDate('2026-01-05T12:00:00Z', now)).toMatch(/5/);
  });

  it('says when a message was written beside the day it was sent', () => {
    const at = (d: number, h: number, mi = 0) => new Date(2026, 10, d, h, mi).toISOString();
    const sent = at(24, 9, 30);
    expect(writtenShort(at(24, 7, 5), sent)).toBe(formatTime(at(24, 7, 5)));
    expect(writtenShort(at(21, 23, 50), sent)).toMatch(/^\S+ \d/);
    expect(writtenTitle(at(24, 7, 5), sent, true)).toMatch(
      /^Written .* on your device; the clinic received it .*\.$/,
    );
    expect(writtenTitle(at(24, 7, 5), sent, false)).toContain('on their device');
    // The same day is said once.
    expect(writtenTitle(at(24, 7, 5), sent, false)).toContain(`received it at ${formatTime(sent)}.`);
    expect(writtenTitle(at(21, 23, 50), sent, false)).toContain(`received it ${formatDateTime(sent)}.`);
  });

  it('names the day above its first message, in local time', () => {
    // Local times: the labels are about this computer's days, whatever its time zone.
    const at = (y: number, mo: number, d: number, h = 12, mi = 0) => new Date(y, mo, d, h, mi).toISOString();
    const now = new Date(2026, 10, 24, 9, 30);
    expect(dayLabel(at(2026, 10, 24, 0), now)).toBe('Today');
    expect(dayLabel(at(2026, 10, 24, 23), now)).toBe('Today');
    expect(dayLabel(at(2026, 10, 23, 23), now)).toBe('Yesterday');
    expect(dayLabel(at(2026, 10, 24, 23, 59), new Date(2026, 10, 24, 23, 59)), 'the same minute').toBe(
      'Today',
    );
    expect(dayLabel(at(2026, 10, 25, 0), new Date(2026, 10, 24, 23, 59)), 'a clock a little ahead').toBe(
      'Today',
    );
    expect(dayLabel(at(2026, 10, 27), now), 'days ahead').not.toBe('Today');
    expect(dayLabel(at(2027, 0, 1, 0), new Date(2026, 11, 31, 23, 59)), 'across the year').toBe('Today');
    expect(dayLabel(at(2026, 10, 20), now)).toBe(
      new Date(2026, 10, 20).toLocaleDateString([], { weekday: 'long' }),
    );
    const thisYear = dayLabel(at(2026, 9, 12), now);
    expect(thisYear).toMatch(/12/);
    expect(thisYear).not.toMatch(/2026/);
    expect(dayLabel(at(2025, 9, 12), now)).toMatch(/2025/);
    expect(dayLabel('not a date', now)).toBe('');
    expect(sameDay(at(2026, 10, 24, 0), at(2026, 10, 24, 23))).toBe(true);
    expect(sameDay(at(2026, 10, 24, 0), at(2026, 10, 23, 23))).toBe(false);
    expect(formatDateTime(at(2025, 9, 12))).toMatch(/2025/);
  });
});

describe('paging trigger', () => {
  it('loads older only near the top, when more exist, and not twice', () => {
    expect(shouldLoadOlder({ firstVisibleIndex: 0, hasOlder: true, loading: false })).toBe(true);
    expect(shouldLoadOlder({ firstVisibleIndex: 4, hasOlder: true, loading: false })).toBe(true);
    expect(shouldLoadOlder({ firstVisibleIndex: 5, hasOlder: true, loading: false })).toBe(false);
    expect(shouldLoadOlder({ firstVisibleIndex: 0, hasOlder: false, loading: false })).toBe(false);
    expect(shouldLoadOlder({ firstVisibleIndex: 0, hasOlder: true, loading: true })).toBe(false);
    expect(shouldLoadOlder({ firstVisibleIndex: -1, hasOlder: true, loading: false })).toBe(false);
  });

  it('a short page means the start of history', () => {
    expect(pageHasMore(50, 50)).toBe(true);
    expect(pageHasMore(12, 50)).toBe(false);
  });
});

describe('settings', () => {
  it('defaults to private notifications, no autostart and the usual text size', () => {
    expect(DEFAULT_SETTINGS).toEqual({
      showMessageContent: false,
      startOnLogin: false,
      textSize: 'normal',
    });
  });

  it('steps the text size within its range, and keeps a size it knows', () => {
    expect(textSizeStep('normal', 1)).toBe('large');
    expect(textSizeStep('normal', -1)).toBe('normal');
    expect(textSizeStep('largest', 1)).toBe('largest');
    expect(normalizeSettings({ textSize: 'larger' }).textSize).toBe('larger');
    expect(normalizeSettings({ textSize: 'huge' }).textSize).toBe('normal');
  });

  it('fills missing and malformed fields with defaults', () => {
    expect(normalizeSettings(null)).toEqual(DEFAULT_SETTINGS);
    expect(
      normalizeSettings({ showMessageContent: true, availability: 'BUSY', startOnLogin: 'yes' }),
    ).toEqual({
      ...DEFAULT_SETTINGS,
      showMessageContent: true,
    });
  });
});

describe('unsentWarning', () => {
  it('says how many and what logging out does with them, by computer', () => {
    expect(unsentWarning(1, 0, true)).toBe(
      '1 message has not been sent yet. This computer is set up as shared, so logging out deletes it.',
    );
    expect(unsentWarning(3, 0, true)).toBe(
      '3 messages have not been sent yet. This computer is set up as shared, so logging out deletes them.',
    );
    expect(unsentWarning(1, 0, false)).toBe(
      '1 message has not been sent yet. It goes only while you are signed in.',
    );
    expect(unsentWarning(2, 0, false)).toBe(
      '2 messages have not been sent yet. They go only while you are signed in.',
    );
  });

  it('counts the sends parked after a refusal too: a shared computer deletes them as well', () => {
    expect(unsentWarning(0, 1, true)).toBe(
      '1 message was refused and not sent. This computer is set up as shared, so logging out deletes it.',
    );
    expect(unsentWarning(0, 2, false)).toBe(
      '2 messages were refused and not sent: they wait in their conversations for Retry or Discard.',
    );
    expect(unsentWarning(1, 1, true)).toBe(
      '1 message has not been sent yet. 1 message was refused and not sent. ' +
        'This computer is set up as shared, so logging out deletes them.',
    );
    expect(unsentWarning(0, 1, false)).toBe(
      '1 message was refused and not sent: it waits in its conversation for Retry or Discard.',
    );
    expect(unsentWarning(0, 0, true)).toBe('');
    expect(unsentWarning(2, 1, false, true)).toMatch(
      /^2 other messages have not been sent yet\..* 1 other message was refused/,
    );
  });
});

describe('settingsSections', () => {
  it('offers availability and the alarm check to doctors only', () => {
    expect(settingsSections('DOCTOR')).toEqual({ availability: true, alarmCheck: true });
    expect(settingsSections('PATIENT')).toEqual({ availability: false, alarmCheck: false });
  });
});

describe('formatTime', () => {
  it("is the locale's short time, as a date and time says it", () => {
    const at = new Date(2026, 11, 7, 13, 5).toISOString();
    const full = formatDateTime(at);
    expect(full.endsWith(formatTime(at))).toBe(true);
    expect(formatTime(at)).not.toMatch(/^0\d:/);
  });
});
