import { describe, expect, it } from 'vitest';
import { firstEmptyField, loginArgs, loginErrorText, pairingNotice, pairingToCompare } from './login';

const FORM = {
  serverUrl: ' https://clinic.lan:8470/ ',
  username: ' pat ',
  password: ' pw ',
  pairingCode: '',
};

describe('loginArgs', () => {
  it('sends no pin when the pairing code is blank, and keeps the password as typed', () => {
    const args = loginArgs({ ...FORM, pairingCode: '   ' });
    expect(args).toEqual({ serverUrl: 'https://clinic.lan:8470', username: 'pat', password: ' pw ' });
    expect('pin' in args).toBe(false);
  });

  it('sends the typed pairing code, trimmed', () => {
    expect(loginArgs({ ...FORM, pairingCode: '  ABCDEFG-HIJKLMN \n' }).pin).toBe('ABCDEFG-HIJKLMN');
  });
});

describe('loginErrorText', () => {
  it("is no error on not_paired with the server's code: that is the first sign-in's step", () => {
    const error = { code: 'not_paired', message: 'not paired yet', serverCode: 'AAAAAAA-BBBBBBB' };
    expect(loginErrorText(error)).toBeNull();
    expect(pairingToCompare(error)).toBe('AAAAAAA-BBBBBBB');
    const { before, after } = pairingNotice();
    expect(before).toContain("The server's pairing code is");
    expect(after).toContain('Compare it with the pairing code on the paper from your clinic');
    expect(after).toContain('"Pairing code"');
  });

  it("shows the client's sentence when the server is not the clinic's", () => {
    const message =
      "This is not your clinic's server (its pairing code changed): nothing was sent to it. Check the server's address; if it is right, tell your clinic.";
    expect(loginErrorText({ code: 'not_your_server', message })).toBe(message);
  });

  it('falls back to the message when not_paired comes without a code', () => {
    expect(loginErrorText({ code: 'not_paired', message: 'not paired' })).toBe('not paired');
    expect(pairingToCompare({ code: 'not_paired', message: 'not paired' })).toBeNull();
    expect(pairingToCompare({ code: 'not_your_server', message: 'x', serverCode: 'A' })).toBeNull();
  });

  it('passes other errors through', () => {
    expect(loginErrorText({ code: 'unauthorized', message: 'wrong username or password' })).toBe(
      'wrong username or password',
    );
  });
});

describe('firstEmptyField', () => {
  it('focuses the address on first run, then the first field still empty', () => {
    expect(firstEmptyField({ serverUrl: '', username: '', password: '' })).toBe('serverUrl');
    expect(firstEmptyField({ serverUrl: ' https://clinic.lan ', username: ' ', password: '' })).toBe(
      'username',
    );
    expect(firstEmptyField({ serverUrl: 'clinic.lan', username: 'pat', password: '' })).toBe('password');
  });
});

describe('loginErrorText for a cancelled or failed sign-in', () => {
  it('shows nothing when the person cancelled', () => {
    expect(loginErrorText({ code: 'cancelled', message: 'Sign-in cancelled.' })).toBeNull();
  });

  it("shows the client's sentence naming the address, never a page", () => {
    const message =
      'https://10.0.0.9:8470 answered, but it is not a clinic server. Check the address and the port.';
    expect(loginErrorText({ code: 'not_clinic_server', message })).toBe(message);
  });
});
