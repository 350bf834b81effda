// Settings: notification privacy, start on login, the app lock, log out; for doctors also
// availability and the test alert (patients are never alerted, so they see neither).

import { useEffect, useRef, useState } from 'react';
import { testAlertFindings, type Finding } from '../logic/device';
import { TEXT_SIZES, settingsSections } from '../logic/settings';
import { useChat, useStore } from '../store/hooks';
import type { Availability, TextSize, User } from '../types';
import { LockSettings } from './LockSettings';
import { useDialog } from './useDialog';
import { LogoutQuestion } from './LogoutConfirm';
import { useLogout } from './useLogout';

type BooleanSetting = 'showMessageContent' | 'startOnLogin';

function SettingToggle(props: {
  testId: string;
  field: BooleanSetting;
  label: string;
  /** What the setting does as it is now set. */
  hint?: (checked: boolean) => string;
}) {
  const store = useStore();
  const checked = useChat((s) => s.settings[props.field]);
  return (
    <label className="toggle">
      <input
        type="checkbox"
        data-testid={props.testId}
        checked={checked}
        onChange={(e) => void store.updateSettings({ [props.field]: e.target.checked })}
      />
      <span>
        {props.label}
        {props.hint && <small data-testid={`${props.testId}-hint`}>{props.hint(checked)}</small>}
      </span>
    </label>
  );
}

export function SettingsPanel({ me, onClose }: { me: User; onClose: () => void }) {
  const store = useStore();
  const availability = useChat((s) => s.availability);
  const textSize = useChat((s) => s.settings.textSize);
  const serverUrl = useChat((s) => s.session?.serverUrl);
  const logout = useLogout();
  const [testResult, setTestResult] = useState<Finding[] | null>(null);
  const [testing, setTesting] = useState(false);
  const testAlert = async () => {
    setTesting(true);
    setTestResult(null);
    const checked = await store.sendTestAlert();
    setTesting(false);
    if (checked) setTestResult(testAlertFindings(checked, availability));
  };
  const sections = settingsSections(me.role);
  const closeRef = useRef<HTMLButtonElement>(null);
  const dialogRef = useRef<HTMLDivElement>(null);
  // Escape closes it wherever the focus is (a click on its text leaves the focus on the page).
  // First: it must see the focus where it was before the dialog took it.
  useDialog(dialogRef, onClose);
  useEffect(() => closeRef.current?.focus(), []);
  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div
        ref={dialogRef}
        className="modal card settings"
        role="dialog"
        aria-modal="true"
        aria-labelledby="settings-title"
        data-testid="settings-panel"
        onClick={(e) => e.stopPropagation()}
      >
        <header className="modal-head">
          <h2 id="settings-title">Settings</h2>
          <button
            type="button"
            className="icon-button"
            ref={closeRef}
            data-testid="settings-close"
            onClick={onClose}
            aria-label="Close settings"
          >
            ×
          </button>
        </header>
        <p className="settings-who">
          Signed in as <strong>{me.name}</strong> ({me.username}) on {serverUrl}
        </p>
        <SettingToggle
          testId="setting-show-content"
          field="showMessageContent"
          label="Show message content in notifications"
          hint={(on) =>
            on
              ? 'On: notifications show the start of each message, for anyone near the screen to read.'
              : 'Off: notifications only say who wrote, so nothing private shows on screen.'
          }
        />
        <SettingToggle
          testId="setting-start-on-login"
          field="startOnLogin"
          label="Start when I log in to this computer"
        />
        <div className="field">
          <label htmlFor="setting-text-size">Text size</label>
          <select
            id="setting-text-size"
            data-testid="setting-text-size"
            value={textSize}
            aria-describedby="text-size-hint"
            onChange={(e) => void store.updateSettings({ textSize: e.target.value as TextSize })}
          >
            {TEXT_SIZES.map((t) => (
              <option key={t.size} value={t.size}>
                {t.label}
              </option>
            ))}
          </select>
          <small id="text-size-hint" className="field-hint">
            Ctrl + and Ctrl - change it anywhere in the app; Ctrl 0 goes back to normal.
          </small>
        </div>
        <LockSettings />
        {sections.availability && (
          <div className="field">
            <label htmlFor="setting-availability">Availability</label>
            <select
              id="setting-availability"
              data-testid="setting-availability"
              value={availability}
              aria-describedby="availability-hint"
              onChange={(e) => void store.setAvailability(e.target.value as Availability)}
            >
              <option value="AVAILABLE">Available</option>
              <option value="DO_NOT_DISTURB">Do not disturb</option>
            </select>
            {/* Said under the choice, whole: as the option's own words it was cut off. */}
            <small id="availability-hint" className="field-hint">
              Do not disturb: emergencies still show on screen; they ring once escalated.
            </small>
          </div>
        )}
        <div className="settings-actions">
          {sections.alarmCheck && (
            <button
              type="button"
              className="secondary-button"
              data-testid="send-test-alert"
              disabled={testing}
              onClick={() => void testAlert()}
            >
              {testing ? 'Testing…' : 'Send test alert'}
            </button>
          )}
          <button
            type="button"
            className="danger-outline-button"
            data-testid="logout-button"
            onClick={logout.logOut}
          >
            Log out
          </button>
        </div>
        {testResult && (
          <div role="status">
            <ul className="test-alert-result" data-testid="test-alert-result">
              {testResult.map((f) => (
                <li key={f.text} className={`finding finding-${f.tone}`}>
                  {f.text}
                </li>
              ))}
            </ul>
          </div>
        )}
        {logout.asking && <LogoutQuestion onStay={logout.stay} />}
      </div>
    </div>
  );
}
