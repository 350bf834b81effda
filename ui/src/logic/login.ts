// The login form's logic: what it sends to the shell, and the sentence a failed login shows.

import { normalizeServerUrl } from './format';
import type { BackendErrorBody, LoginArgs } from '../types';

/** What the person typed, as it is in the form. */
export interface LoginForm {
  serverUrl: string;
  username: string;
  password: string;
  /** The clinic's pairing code from paper; blank when this app already paired with the server. */
  pairingCode: string;
}

/** The `login` command's arguments: a clean address and name; the code only when one was typed. */
export function loginArgs(form: LoginForm): LoginArgs {
  const args: LoginArgs = {
    serverUrl: normalizeServerUrl(form.serverUrl),
    username: form.username.trim(),
    password: form.password,
  };
  const pin = form.pairingCode.trim();
  if (pin) args.pin = pin;
  return args;
}

/** The fields of the form a person fills in, in order. */
export type LoginField = 'serverUrl' | 'username' | 'password';

/** The field that gets the focus when the form opens: the first one still empty. */
export function firstEmptyField(form: Pick<LoginForm, LoginField>): LoginField {
  if (!form.serverUrl.trim()) return 'serverUrl';
  if (!form.username.trim()) return 'username';
  return 'password';
}

/**
 * The sentence the login screen shows for a failed login, or null when the person cancelled it
 * (the form is simply back) or the server is not paired yet (its code is shown to compare:
 * `pairingToCompare`).
 */
export function loginErrorText(error: BackendErrorBody): string | null {
  if (error.code === 'cancelled' || pairingToCompare(error)) return null;
  // not_your_server and the rest: the client's own sentence ("This is not your clinic's server
  // (its pairing code changed): nothing was sent to it. ..."), which says what to do.
  return error.message;
}

/** The server's pairing code when a sign-in found a server this app is not paired with yet (the
 * first sign-in's step, not a failure: see `pairingNotice`), else null. */
export function pairingToCompare(error: BackendErrorBody): string | null {
  return error.code === 'not_paired' && error.serverCode ? error.serverCode : null;
}

/** What the login screen says about a server not paired yet, around its code (shown apart). */
export function pairingNotice(): { before: string; after: string } {
  return {
    before: "This app is not paired with this server yet. The server's pairing code is ",
    after:
      '. Compare it with the pairing code on the paper from your clinic: if they are the same, ' +
      'enter it under "Pairing code" and sign in again. If they differ, do not sign in and call ' +
      'your clinic.',
  };
}
