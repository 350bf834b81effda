// What this device can do to get a doctor's attention, in words: the warnings the app shows and
// the test alert's report.

import type { DeviceCheck, DeviceState, Known } from '../types';

/** Whether the alarm can be heard here (false only once the start's probe, a ring or a chime found
 * no sound device). */
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
const HELD_BACK: Record<Known, string> = {
  yes: 'Desktop do-not-disturb: on (notifications held back).',
  no: 'Desktop do-not-disturb: off.',
  unknown: 'Desktop do-not-disturb: this desktop does not say.',
};
const TRAY: Record<Known, string> = {
  yes: 'Tray icon: shown.',
  no: 'Tray icon: no tray on this desktop.',
  unknown: 'Tray icon: not known.',
};

/** The test alert's result: what worked and what did not. */
export function testAlertReport(device: DeviceCheck): string {
  return [
    SOUND[device.sound],
    NOTIFICATION[device.notifications],
    HELD_BACK[device.notificationsSuppressed],
    TRAY[device.trayHost],
  ].join(' ');
}
