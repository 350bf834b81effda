// First run: the clinic server's address and the user's credentials.

import { useState, type FormEvent } from 'react';
import { normalizeServerUrl } from '../logic/format';
import { useChat, useStore } from '../store/hooks';

const LAST_SERVER_KEY = 'clinic.lastServerUrl';

function lastServer(): string {
  try {
    return localStorage.getItem(LAST_SERVER_KEY) ?? '';
  } catch {
    return '';
  }
}

export function LoginScreen() {
  const store = useStore();
  const error = useChat((s) => s.loginError);
  const busy = useChat((s) => s.loggingIn);
  const [serverUrl, setServerUrl] = useState(lastServer);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const url = normalizeServerUrl(serverUrl);
    try {
      localStorage.setItem(LAST_SERVER_KEY, url);
    } catch {
      // Remembering the address is a convenience only.
    }
    void store.login({ serverUrl: url, username: username.trim(), password });
  };

  return (
    <main className="login-page">
      <form className="login card" onSubmit={submit} data-testid="login-form" aria-labelledby="login-title">
        <div className="login-logo" aria-hidden="true">
          ✚
        </div>
        <h1 id="login-title">Clinic Messages</h1>
        <p className="login-sub">Sign in to your clinic</p>
        <label className="field">
          <span>Clinic server address</span>
          <input
            data-testid="server-url"
            type="text"
            inputMode="url"
            required
            placeholder="http://192.168.1.10:8470"
            value={serverUrl}
            onChange={(e) => setServerUrl(e.target.value)}
            autoComplete="url"
          />
        </label>
        <label className="field">
          <span>Username</span>
          <input
            data-testid="username"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            autoComplete="username"
            autoCapitalize="none"
          />
        </label>
        <label className="field">
          <span>Password</span>
          <input
            data-testid="password"
            type="password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete="current-password"
          />
        </label>
        {error && (
          <p className="login-error" data-testid="login-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary-button" data-testid="login-submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
