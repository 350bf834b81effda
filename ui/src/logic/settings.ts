// Settings defaults and normalisation of whatever the shell returns.

import type { Role, Settings, TextSize } from '../types';

/** Private by default: notifications name the sender only; no autostart; the usual text size. */
export const DEFAULT_SETTINGS: Settings = {
  showMessageContent: false,
  startOnLogin: false,
  textSize: 'normal',
};

/** The text sizes, smallest first, with what the settings call them. */
export const TEXT_SIZES: readonly { size: TextSize; label: string }[] = [
  { size: 'normal', label: 'Normal' },
  { size: 'large', label: 'Large' },
  { size: 'larger', label: 'Larger' },
  { size: 'largest', label: 'Largest' },
];

/** One step larger (`+1`) or smaller (`-1`) than `size`, staying within the sizes. */
export function textSizeStep(size: TextSize, step: 1 | -1): TextSize {
  const at = TEXT_SIZES.findIndex((t) => t.size === size);
  const next = Math.min(Math.max(at + step, 0), TEXT_SIZES.length - 1);
  return TEXT_SIZES[next].size;
}

/** Fills missing or malformed fields with defaults (an older shell may not know a field). */
export function normalizeSettings(raw: unknown): Settings {
  const rec = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const bool = (v: unknown, d: boolean) => (typeof v === 'boolean' ? v : d);
  const size = TEXT_SIZES.find((t) => t.size === rec.textSize)?.size ?? DEFAULT_SETTINGS.textSize;
  return {
    showMessageContent: bool(rec.showMessageContent, DEFAULT_SETTINGS.showMessageContent),
    startOnLogin: bool(rec.startOnLogin, DEFAULT_SETTINGS.startOnLogin),
    textSize: size,
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
