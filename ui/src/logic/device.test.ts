import { describe, expect, it } from 'vitest';
import { canRing, deviceProblems, testAlertFindings, testAlertReport } from './device';

describe('device self-check', () => {
  it('says what works and what does not', () => {
    const silent = {
      sound: 'missing',
      notifications: 'works',
      notificationsSuppressed: 'no',
      trayHost: 'yes',
    } as const;
    expect(canRing(silent)).toBe(false);
    expect(deviceProblems(silent)).toEqual([
      'This device cannot ring: no sound device was found. Emergencies only show on screen.',
    ]);
    expect(testAlertReport(silent)).toBe(
      'Sound: did not play (no sound device). Notification: shown. Desktop do-not-disturb: off. Tray icon: shown.',
    );
    // A failure does not look like the successes around it.
    expect(testAlertFindings(silent).map((f) => f.tone)).toEqual(['problem', 'ok', 'ok', 'ok']);

    const fine = {
      sound: 'works',
      notifications: 'works',
      notificationsSuppressed: 'no',
      trayHost: 'yes',
    } as const;
    expect(canRing(fine)).toBe(true);
    expect(deviceProblems(fine)).toEqual([]);
    expect(testAlertReport(fine)).toBe(
      'Sound: played. Notification: shown. Desktop do-not-disturb: off. Tray icon: shown.',
    );

    const untried = {
      sound: 'untested',
      notifications: 'missing',
      notificationsSuppressed: 'unknown',
      trayHost: 'unknown',
    } as const;
    expect(canRing(untried)).toBe(true);
    expect(deviceProblems(untried)).toHaveLength(1);
    expect(testAlertReport(untried)).toBe(
      'Sound: not known yet. Notification: not shown (no notification service). ' +
        'Desktop do-not-disturb: this desktop does not say. Tray icon: not known.',
    );
    expect(testAlertFindings(untried).map((f) => f.tone)).toEqual([
      'unknown',
      'problem',
      'unknown',
      'unknown',
    ]);
  });

  it('a notification held back is not "shown", and a doctor on do-not-disturb is told', () => {
    const held = {
      sound: 'works',
      notifications: 'works',
      notificationsSuppressed: 'yes',
      trayHost: 'yes',
    } as const;
    expect(testAlertFindings(held)[1]).toEqual({
      text: "Notification: sent; this desktop's do-not-disturb may have held it back.",
      tone: 'problem',
    });
    const fine = { ...held, notificationsSuppressed: 'no' } as const;
    expect(testAlertFindings(fine, 'DO_NOT_DISTURB').at(-1)).toEqual({
      text: 'You are on Do not disturb: emergencies show, and ring here only once escalated.',
      tone: 'problem',
    });
    expect(testAlertFindings(fine)).toHaveLength(4);
  });

  it('says when the desktop holds notifications back or has no tray, and never guesses', () => {
    const held = {
      sound: 'works',
      notifications: 'works',
      notificationsSuppressed: 'yes',
      trayHost: 'no',
    } as const;
    expect(deviceProblems(held)).toEqual([
      "This computer's do-not-disturb holds notifications back: emergency pop-ups will not appear (the app still shows them).",
      'This desktop shows no tray icons: keep the window open, as closing it hides the app (start it again to bring it back).',
    ]);
    expect(testAlertReport(held)).toBe(
      "Sound: played. Notification: sent; this desktop's do-not-disturb may have held it back. " +
        'Desktop do-not-disturb: on (notifications held back). ' +
        'Tray icon: no tray on this desktop.',
    );
    const unknown = { ...held, notificationsSuppressed: 'unknown', trayHost: 'unknown' } as const;
    expect(deviceProblems(unknown)).toEqual([]);
  });
});
