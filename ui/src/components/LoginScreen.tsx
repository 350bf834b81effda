// First run: the clinic server's address and the user's credentials.

import { useState, type FormEvent, type InputHTMLAttributes } from 'react';
import { firstEmptyField, loginArgs } from '../logic/login';
import { useChat, useStore } from '../store/hooks';
import { PairingCodeField } from './PairingCodeField';

type TextFieldProps = Omit<InputHTMLAttributes<HTMLInputElement>, 'onChange'> & {
  label: string;
  onChange: (value: string) => void;
};

/** A labelled, required text input. */
function TextField({ label, onChange, ...input }: TextFieldProps) {
  return (
    <label className="field">
      <span>{label}</span>
      <input type="text" required {...input} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}

export function LoginScreen() {
  const store = useStore();
  // What went wrong is shown above Sign in, in red; a server's pairing code at the first
  // sign-in is information, shown as the pairing code's hint.
  const error = useChat((s) => s.loginError);
  const serverCode = useChat((s) => s.serverPairingCode);
  const busy = useChat((s) => s.loggingIn);
  // The server this profile last signed in to (told by the shell, kept in the profile).
  const lastServer = useChat((s) => s.lastServer);
  const [serverUrl, setServerUrl] = useState(lastServer);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [pairingCode, setPairingCode] = useState('');
  // Decided once, when the form opens: the first field the person still has to fill in.
  const [focus] = useState(() => firstEmptyField({ serverUrl, username, password }));

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void store.login(loginArgs({ serverUrl, username, password, pairingCode }));
  };

  return (
    <main className="login-page">
      <form className="login card" onSubmit={submit} data-testid="login-form" aria-labelledby="login-title">
        <div className="login-logo" aria-hidden="true">
          ✚
        </div>
        <h1 id="login-title">Clinic Messaging</h1>
        <p className="login-sub">Sign in to your clinic</p>
        <TextField
          label="Clinic server address"
          data-testid="server-url"
          inputMode="url"
          placeholder="https://192.168.1.10:8470"
          value={serverUrl}
          onChange={(url) => {
            setServerUrl(url);
            store.forgetServerPairingCode();
          }}
          autoComplete="url"
          autoFocus={focus === 'serverUrl'}
          disabled={busy}
        />
        <TextField
          label="Username"
          data-testid="username"
          value={username}
          onChange={setUsername}
          autoComplete="username"
          autoFocus={focus === 'username'}
          disabled={busy}
          autoCapitalize="none"
        />
        <TextField
          label="Password"
          data-testid="password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          autoFocus={focus === 'password'}
          disabled={busy}
        />
        <PairingCodeField value={pairingCode} onChange={setPairingCode} serverCode={serverCode} />
        {error && (
          <p className="login-error" data-testid="login-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary-button" data-testid="login-submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {busy && (
          <button
            type="button"
            className="secondary-button"
            data-testid="login-cancel"
            onClick={() => void store.cancelLogin()}
          >
            Cancel
          </button>
        )}
      </form>
    </main>
  );
}
