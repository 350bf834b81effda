// Settings defaults and normalisation of whatever the shell returns.

import type { Settings } from '../types';

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
