// Settings defaults and normalisation of whatever the shell returns.

import type { Role, Settings } from '../types';

/** Private by default: notifications name the sender only; no autostart. */
export const DEFAULT_SETTINGS: Settings = {
  showMessageContent: false,
  startOnLogin: false,
};

/** Fills missing or malformed fields with defaults (an older shell may not know a field). */
export function normalizeSettings(raw: unknown): Settings {
  const rec = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const bool = (v: unknown, d: boolean) => (typeof v === 'boolean' ? v : d);
  return {
    showMessageContent: bool(rec.showMessageContent, DEFAULT_SETTINGS.showMessageContent),
    startOnLogin: bool(rec.startOnLogin, DEFAULT_SETTINGS.startOnLogin),
  };
}

/** What the settings panel offers a role: alerts, availability and the alarm check are a doctor's. */
export interface SettingsSections {
  /** Available / Do not disturb. */
  availability: boolean;
  /** "Send test alert" and what this device can do (sound, notifications, tray). */
  alarmCheck: boolean;
}

export function settingsSections(role: Role): SettingsSections {
  const doctor = role === 'DOCTOR';
  return { availability: doctor, alarmCheck: doctor };
}

/** What logging out does to sends still waiting for the server (`queued`) and to those parked
 * after a refusal (`failed`, kept for Retry or Discard). */
export function unsentWarning(
  queued: number,
  failed: number,
  sharedComputer: boolean,
  /** Beside an emergency told of on its own line: these are the other messages. */
  others = false,
): string {
  const said: string[] = [];
  const message = others ? 'other message' : 'message';
  if (queued > 0) {
    const what = queued === 1 ? `1 ${message} has` : `${queued} ${message}s have`;
    said.push(
      sharedComputer
        ? `${what} not been sent yet.`
        : `${what} not been sent yet. ${queued === 1 ? 'It goes' : 'They go'} only while you are signed in.`,
    );
  }
  if (failed > 0) {
    const what = failed === 1 ? `1 ${message} was` : `${failed} ${message}s were`;
    said.push(
      sharedComputer
        ? `${what} refused and not sent.`
        : `${what} refused and not sent: ${failed === 1 ? 'it waits' : 'they wait'} in ${
            failed === 1 ? 'its conversation' : 'their conversations'
          } for Retry or Discard.`,
    );
  }
  if (sharedComputer && said.length > 0) {
    said.push(
      `This computer is set up as shared, so logging out deletes ${queued + failed === 1 ? 'it' : 'them'}.`,
    );
  }
  return said.join(' ');
}
