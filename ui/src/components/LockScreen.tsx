// The locked app: nothing of the messages, only who is signed in, an unlock field, an
// emergency's "unlock to respond" (doctors) or a patient's own open emergency with the number to
// call, and "Not you? Log out" (asking first, like Settings, when it would stop the alarm or
// delete sends not delivered yet).

import { useEffect, useRef, useState, type FormEvent } from 'react';
import { emergencyNumber, emergencyStatus, openEmergencies } from '../logic/emergency';
import { useChat, useStore } from '../store/hooks';
import { useNow } from './useNow';
import { LogoutQuestion } from './LogoutConfirm';
import { useLogout } from './useLogout';

export function LockScreen() {
  const store = useStore();
  const user = useChat((s) => s.session?.user);
  const lock = useChat((s) => s.lock);
  const error = useChat((s) => s.lockError);
  const ringing = useChat((s) => s.ringing);
  const own = useOwnEmergency();
  const [secret, setSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const logout = useLogout();
  useEffect(() => input.current?.focus(), []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    await store.unlock(secret);
    setSecret('');
    setBusy(false);
    input.current?.focus();
  };

  return (
    <main className="login-page" data-testid="lock-screen">
      <form className="login card" onSubmit={(e) => void submit(e)} aria-labelledby="lock-title">
        <h1 id="lock-title">Clinic Messaging is locked</h1>
        {ringing.length > 0 && (
          <p className="login-error lock-emergency" role="alert" data-testid="lock-emergency">
            EMERGENCY from a patient: unlock to respond
          </p>
        )}
        {own && (
          <p className={`emergency-status tone-${own.tone}`} role="status" data-testid="lock-own-emergency">
            <strong>Your emergency is open.</strong> {own.text} If you need help now, call{' '}
            <strong>{own.call}</strong>.
          </p>
        )}
        <p>
          Signed in as <strong>{user?.name}</strong> ({user?.username}). Enter your{' '}
          {lock?.hasPin ? 'PIN or password' : 'password'} to continue.
        </p>
        <label className="field">
          <span>{lock?.hasPin ? 'PIN or password' : 'Password'}</span>
          <input
            ref={input}
            type="password"
            autoComplete="off"
            required
            data-testid="unlock-secret"
            value={secret}
            onChange={(e) => setSecret(e.target.value)}
          />
        </label>
        {error && (
          <p className="login-error" role="alert" data-testid="unlock-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary-button" disabled={busy} data-testid="unlock-submit">
          Unlock
        </button>
        <button type="button" className="link-button" data-testid="lock-logout" onClick={logout.logOut}>
          Not you? Log out
        </button>
        {logout.asking && <LogoutQuestion onStay={logout.stay} />}
      </form>
    </main>
  );
}

/** A patient's newest open emergency as her status line says it, and the number to call. */
function useOwnEmergency(): { tone: string; text: string; call: string } | null {
  const user = useChat((s) => s.session?.user);
  const emergencies = useChat((s) => s.emergencies);
  const clinic = useChat((s) => s.clinic);
  const online = useChat((s) => s.connection.state === 'online');
  const open =
    user?.role === 'PATIENT' ? openEmergencies(emergencies).filter((e) => e.patientId === user.id) : [];
  const newest = open.at(-1) ?? null;
  const now = useNow(5_000, `${newest?.id ?? ''}|${newest?.state ?? ''}`);
  const view = emergencyStatus(newest, null, { now, clinic, online });
  if (!newest || !view) return null;
  const text = view.text.endsWith('.') ? view.text : `${view.text}.`;
  return { tone: view.tone, text, call: emergencyNumber(clinic) };
}
