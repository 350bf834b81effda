// What this device can do to get a doctor's attention, in words: the warnings the app shows and
// the test alert's report.

import type { Availability, DeviceCheck, DeviceState, Known } from '../types';

/** Whether the alarm can be heard here (false only once the probe at a doctor's sign-in, a ring or
 * a chime found no sound device). */
export function canRing(device: DeviceCheck): boolean {
  return device.sound !== 'missing';
}

/** What is wrong with this device, one sentence each (empty: nothing known to be wrong). */
export function deviceProblems(device: DeviceCheck): string[] {
  const problems: string[] = [];
  if (device.sound === 'missing')
    problems.push('This device cannot ring: no sound device was found. Emergencies only show on screen.');
  if (device.notifications === 'missing')
    problems.push('Notifications are not shown on this device: no notification service answered.');
  if (device.notificationsSuppressed === 'yes')
    problems.push(
      "This computer's do-not-disturb holds notifications back: emergency pop-ups will not appear (the app still shows them).",
    );
  if (device.trayHost === 'no')
    problems.push(
      'This desktop shows no tray icons: keep the window open, as closing it hides the app (start it again to bring it back).',
    );
  return problems;
}

/** One line of the test alert's report, and whether it is good news. */
export interface Finding {
  text: string;
  tone: 'ok' | 'problem' | 'unknown';
}

const STATE_TONE: Record<DeviceState, Finding['tone']> = {
  works: 'ok',
  missing: 'problem',
  untested: 'unknown',
};

const SOUND: Record<DeviceState, string> = {
  works: 'Sound: played.',
  missing: 'Sound: did not play (no sound device).',
  untested: 'Sound: not known yet.',
};
const NOTIFICATION: Record<DeviceState, string> = {
  works: 'Notification: shown.',
  missing: 'Notification: not shown (no notification service).',
  untested: 'Notification: not known yet.',
};
const HELD_BACK: Record<Known, Finding> = {
  yes: { text: 'Desktop do-not-disturb: on (notifications held back).', tone: 'problem' },
  no: { text: 'Desktop do-not-disturb: off.', tone: 'ok' },
  unknown: { text: 'Desktop do-not-disturb: this desktop does not say.', tone: 'unknown' },
};
const TRAY: Record<Known, Finding> = {
  yes: { text: 'Tray icon: shown.', tone: 'ok' },
  no: { text: 'Tray icon: no tray on this desktop.', tone: 'problem' },
  unknown: { text: 'Tray icon: not known.', tone: 'unknown' },
};

/** The test alert's result: what worked and what did not, each marked so that a failure does
 * not read like the successes around it. A notification sent while the desktop's do-not-disturb
 * is on may not have been shown (some desktops show critical ones anyway: never guessed); a
 * doctor on do-not-disturb is told that emergencies ring only once escalated. */
export function testAlertFindings(device: DeviceCheck, availability: Availability = 'AVAILABLE'): Finding[] {
  const heldBack = device.notifications === 'works' && device.notificationsSuppressed === 'yes';
  const findings: Finding[] = [
    { text: SOUND[device.sound], tone: STATE_TONE[device.sound] },
    heldBack
      ? {
          text: "Notification: sent; this desktop's do-not-disturb may have held it back.",
          tone: 'problem',
        }
      : { text: NOTIFICATION[device.notifications], tone: STATE_TONE[device.notifications] },
    HELD_BACK[device.notificationsSuppressed],
    TRAY[device.trayHost],
  ];
  if (availability === 'DO_NOT_DISTURB')
    findings.push({
      text: 'You are on Do not disturb: emergencies show, and ring here only once escalated.',
      tone: 'problem',
    });
  return findings;
}

/** The test alert's result in one line of words. */
export function testAlertReport(device: DeviceCheck, availability: Availability = 'AVAILABLE'): string {
  return testAlertFindings(device, availability)
    .map((f) => f.text)
    .join(' ');
}
