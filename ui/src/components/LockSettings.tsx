// The lock's part of the settings: the unlock PIN, who uses this computer, and a shorter idle
// time than the policy's.

import { useState, type FormEvent } from 'react';
import type { Device } from '../types';
import { useChat, useStore } from '../store/hooks';

/** Idle times a user may pick (minutes); longer than the clinic's policy allows are not offered. */
const IDLE_CHOICES = [1, 2, 5, 10, 15];

export function LockSettings() {
  const store = useStore();
  const lock = useChat((s) => s.lock);
  const [pin, setPin] = useState('');
  const [pinResult, setPinResult] = useState<{ text: string; saved: boolean } | null>(null);
  if (!lock) return null;
  const mins = (secs: number) => Math.max(1, Math.floor(secs / 60));
  const [sharedMost, personalMost] = [mins(lock.sharedLongestSecs), mins(lock.personalLongestSecs)];
  const longest = lock.device === 'shared' ? sharedMost : personalMost;
  const minutes = Math.round(lock.idleLimitSecs / 60);
  // The clinic's longest is always a choice, whatever it is.
  const choices = [...new Set([...IDLE_CHOICES.filter((m) => m < longest), longest])];

  const savePin = async (e: FormEvent) => {
    e.preventDefault();
    const error = await store.setPin(pin);
    setPinResult(error ? { text: error, saved: false } : { text: 'PIN saved.', saved: true });
    if (!error) setPin('');
  };

  return (
    <details className="lock-settings" data-testid="lock-settings">
      <summary data-testid="lock-settings-open">
        Lock: {lock.hasPin ? 'PIN set' : 'no PIN yet'}, after {minutes} {minutes === 1 ? 'minute' : 'minutes'}{' '}
        without input
      </summary>
      <form className="pin-setup" onSubmit={(e) => void savePin(e)}>
        <label className="field">
          <span>{lock.hasPin ? 'Change unlock PIN' : 'Unlock PIN (4-8 digits)'}</span>
          <input
            type="password"
            inputMode="numeric"
            autoComplete="off"
            data-testid="pin-input"
            value={pin}
            onChange={(e) => setPin(e.target.value)}
          />
        </label>
        <button type="submit" className="secondary-button" data-testid="pin-save" disabled={pin.length === 0}>
          Save PIN
        </button>
        {pinResult && (
          <p
            className={pinResult.saved ? 'pin-result' : 'pin-result pin-refused'}
            role="status"
            data-testid="pin-result"
          >
            {pinResult.text}
          </p>
        )}
      </form>
      <label className="field">
        <span>This computer is</span>
        <select
          data-testid="lock-device"
          aria-describedby="lock-device-hint"
          value={lock.device}
          onChange={(e) => void store.setLockPolicy(e.target.value as Device, null)}
        >
          <option value="shared">Used by others too</option>
          <option value="personal">Mine alone</option>
        </select>
      </label>
      {/* What each choice means, under them (before one is picked: it applies at once); in the
          option itself it was cut at the field's width. */}
      <p className="hint field-hint" id="lock-device-hint" data-testid="lock-device-hint">
        Used by others too: locks within {minutesWord(sharedMost)}; signing out removes your messages from
        this computer. Mine alone: locks within {minutesWord(personalMost)}; signing out keeps your messages
        on this computer.
      </p>
      <label className="field">
        <span>Lock after</span>
        <select
          data-testid="lock-idle"
          value={minutes}
          onChange={(e) => void store.setLockPolicy(lock.device, Number(e.target.value))}
        >
          {choices.map((m) => (
            <option key={m} value={m}>
              {m} {m === 1 ? 'minute' : 'minutes'} without input
            </option>
          ))}
        </select>
      </label>
      <p className="hint lock-now-row">
        <button
          type="button"
          className="secondary-button"
          data-testid="lock-now"
          onClick={() => void store.lockNow()}
        >
          Lock now
        </button>{' '}
        or at any time with Ctrl+L.
      </p>
    </details>
  );
}

const minutesWord = (n: number) => `${n} ${n === 1 ? 'minute' : 'minutes'}`;
