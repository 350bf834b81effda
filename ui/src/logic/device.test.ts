import { describe, expect, it } from 'vitest';
import { canRing, deviceProblems, testAlertReport } from './device';

describe('device self-check', () => {
  it('says what works and what does not', () => {
    const silent = { sound: 'missing', notifications: 'works' } as const;
    expect(canRing(silent)).toBe(false);
    expect(deviceProblems(silent)).toEqual([
      'This device cannot ring: no sound device was found. Emergencies only show on screen.',
    ]);
    expect(testAlertReport(silent)).toBe('Sound: did not play (no sound device). Notification: shown.');

    const fine = { sound: 'works', notifications: 'works' } as const;
    expect(canRing(fine)).toBe(true);
    expect(deviceProblems(fine)).toEqual([]);
    expect(testAlertReport(fine)).toBe('Sound: played. Notification: shown.');

    const untried = { sound: 'untested', notifications: 'missing' } as const;
    expect(canRing(untried)).toBe(true);
    expect(deviceProblems(untried)).toHaveLength(1);
    expect(testAlertReport(untried)).toBe(
      'Sound: not known yet. Notification: not shown (no notification service).',
    );
  });
});
