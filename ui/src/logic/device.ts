// What this device can do to get a doctor's attention, in words: the warnings the app shows and
// the test alert's report.

import type { DeviceCheck } from '../types';

/** Whether the alarm can be heard here (false only once a ring or chime found no sound device). */
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

/** The test alert's result: what worked and what did not. */
export function testAlertReport(device: DeviceCheck): string {
  const sound =
    device.sound === 'works'
      ? 'Sound: played.'
      : device.sound === 'missing'
        ? 'Sound: did not play (no sound device).'
        : 'Sound: not known yet.';
  const notice =
    device.notifications === 'works'
      ? 'Notification: shown.'
      : device.notifications === 'missing'
        ? 'Notification: not shown (no notification service).'
        : 'Notification: not known yet.';
  const held =
    device.notificationsSuppressed === 'yes'
      ? 'Desktop do-not-disturb: on (notifications held back).'
      : device.notificationsSuppressed === 'no'
        ? 'Desktop do-not-disturb: off.'
        : 'Desktop do-not-disturb: this desktop does not say.';
  const tray =
    device.trayHost === 'yes'
      ? 'Tray icon: shown.'
      : device.trayHost === 'no'
        ? 'Tray icon: no tray on this desktop.'
        : 'Tray icon: not known.';
  return `${sound} ${notice} ${held} ${tray}`;
}
