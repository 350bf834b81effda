// The locked app: nothing of the messages, only who is signed in, an unlock field, an
// emergency's "unlock to respond" and a device that cannot ring (doctors) or a patient's
// emergency button (no PIN needed, like a phone's emergency call) and her own open emergency with
// the number to call, and "Not you? Log out" (asking first, like Settings, when it would stop the
// alarm or delete sends not delivered yet).

import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useWarnings } from './useWarnings';
import { emergencyNumber, emergencyStatus, openEmergencies } from '../logic/emergency';
import { formatShortDate } from '../logic/format';
import { useChat, useStore } from '../store/hooks';
import { EmergencyButton } from './EmergencyButton';
import { useNow } from './useNow';
import { LogoutQuestion } from './LogoutConfirm';
import { useLogout } from './useLogout';

export function LockScreen() {
  const store = useStore();
  const user = useChat((s) => s.session?.user);
  const lock = useChat((s) => s.lock);
  const error = useChat((s) => s.lockError);
  // The wait after wrong tries counts down where it is told, and the button waits with it.
  const waitUntil = useChat((s) => s.lockWaitUntil);
  const now = useNow(1000, String(waitUntil));
  const waitLeft = waitUntil === null ? 0 : Math.max(0, Math.ceil((waitUntil - now) / 1000));
  const ringing = useChat((s) => s.ringing);
  // A doctor's device that cannot ring, or an app long offline, says so here too: locked is
  // when the sound is relied on.
  const isDoctor = user?.role === 'DOCTOR';
  const warnings = useWarnings();
  const problems = isDoctor ? warnings : [];
  const own = useOwnEmergency();
  // The wrong tries ran out while her press (or a shared computer's message) waits: no field,
  // the session ends once it has gone.
  const ranOut = lock?.locked === true && lock.triesLeft === 0;
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
        {problems.length > 0 && (
          <div className="device-warning lock-device-warning" data-testid="lock-device-warning" role="status">
            {problems.map((p) => (
              <p key={p}>⚠ {p}</p>
            ))}
          </div>
        )}
        {user?.role === 'PATIENT' && (
          <div className="lock-emergency-call">
            <span>Need urgent help? Without unlocking:</span>
            <EmergencyButton
              locked
              onSend={(text) => store.raiseEmergency(text)}
              onClose={() => input.current?.focus()}
            />
          </div>
        )}
        {own && (
          <p className={`emergency-status tone-${own.tone}`} role="status" data-testid="lock-own-emergency">
            <strong>{own.heading}</strong> {own.text} If you need help now, call <strong>{own.call}</strong>.
          </p>
        )}
        {ranOut ? (
          <p className="login-error" role="alert" data-testid="unlock-ran-out">
            {lock?.logsOutWhen ??
              'Too many wrong tries to unlock: no more are taken. This app logs out as soon as what waits to be sent has gone.'}
          </p>
        ) : (
          <>
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
            {error ? (
              <p className="login-error" role="alert" data-testid="unlock-error">
                {error}
              </p>
            ) : (
              // After a restart (or a try made elsewhere) no wrong try's sentence was told here.
              lock?.triesSoFar && (
                <p role="status" data-testid="unlock-tries">
                  {lock.triesSoFar}
                </p>
              )
            )}
            {waitLeft > 0 && (
              <p role="status" data-testid="unlock-wait">
                You can try again in {waitLeft} {waitLeft === 1 ? 'second' : 'seconds'}.
              </p>
            )}
            <button
              type="submit"
              className="primary-button"
              disabled={busy || waitLeft > 0}
              data-testid="unlock-submit"
            >
              Unlock
            </button>
          </>
        )}
        <button type="button" className="link-button" data-testid="lock-logout" onClick={logout.logOut}>
          Not you? Log out
        </button>
        {logout.asking && <LogoutQuestion onStay={logout.stay} />}
      </form>
    </main>
  );
}

/**
 * A patient's newest open emergency, or her newest one not sent yet (as the shell's lock tells
 * it, also after a restart), as her status line says it (without when a press was written: the
 * lock drops the messages that would tell of a later press), and the number to call. A parked
 * one cannot be retried from here: it says to unlock.
 */
function useOwnEmergency(): { tone: string; heading: string; text: string; call: string } | null {
  const user = useChat((s) => s.session?.user);
  const emergencies = useChat((s) => s.emergencies);
  const pending = useChat((s) => s.lock?.unsentEmergency ?? null);
  const clinic = useChat((s) => s.clinic);
  const online = useChat((s) => s.connection.state === 'online');
  const open =
    user?.role === 'PATIENT' ? openEmergencies(emergencies).filter((e) => e.patientId === user.id) : [];
  const newest = open.at(-1) ?? null;
  // Resolved while locked (without the doctor's note): it says so, and where to read it. The
  // page held only open ones as it locked (and the shell sends only those since), so one
  // resolved before was on her screen then and is not told again.
  const resolved =
    user?.role === 'PATIENT' && !newest
      ? (emergencies
          .filter((e) => e.patientId === user.id && e.state === 'RESOLVED')
          .sort((a, b) => Date.parse(a.resolvedAt ?? '') - Date.parse(b.resolvedAt ?? ''))
          .at(-1) ?? null)
      : null;
  const now = useNow(5_000, `${newest?.id ?? ''}|${newest?.state ?? ''}|${pending?.createdAt ?? ''}`);
  const notYourServer = useChat((s) => s.connection.notYourServer);
  const view = emergencyStatus(newest && { ...newest, writtenAt: undefined }, pending, {
    now,
    clinic,
    online,
    notYourServer,
  });
  if (!view) {
    // No age limit here: the shell sends only resolutions she has not seen (one learned days
    // late, the laptop closed, is news all the same).
    if (!resolved) return null;
    return {
      tone: 'resolved',
      heading: 'Your emergency was resolved',
      // When, so that one pressed since is told apart from the one before it.
      text: `${resolved.resolvedByName ? `by ${resolved.resolvedByName}` : 'by a doctor'}${resolved.resolvedAt ? ` (${formatShortDate(resolved.resolvedAt)})` : ''}: unlock to read the conversation.`,
      call: emergencyNumber(clinic),
    };
  }
  const said = view.afterOpen ?? view.text;
  const text =
    pending?.status === 'FAILED' && view.tone === 'failed'
      ? 'It was not sent: unlock to see why and send it again.'
      : /[.…]$/.test(said)
        ? said
        : `${said}.`;
  const sent = view.tone !== 'sending' && view.tone !== 'failed';
  const heading = sent ? 'Your emergency is open.' : 'Your emergency has not reached the clinic yet.';
  // What the app last heard: offline, a doctor may have taken it since.
  const stale = sent && !online ? ' This app is offline, so this may have changed since.' : '';
  return { tone: view.tone, heading, text: `${text}${stale}`, call: emergencyNumber(clinic) };
}
