// The optional pairing code on the login form: how this app learns to trust the clinic's server.
// Under it, a hint: what the code is, or, once a server that is not paired yet answered, its own
// code to compare with the paper (information for the first sign-in, not an error).

import { pairingNotice } from '../logic/login';

interface Props {
  value: string;
  onChange: (value: string) => void;
  /** The code of a server not paired yet, to compare with the paper (in place of the hint). */
  serverCode?: string | null;
}

/** The first sign-in's step: the server's code, picked out, to compare with the paper. */
function PairingNotice({ code }: { code: string }) {
  const { before, after } = pairingNotice();
  return (
    <>
      {before}
      <strong className="pairing-code-value">{code}</strong>
      {after}
    </>
  );
}

export function PairingCodeField({ value, onChange, serverCode }: Props) {
  // The hint is not in the label: it would be read as the field's name.
  return (
    <div className="field">
      <label htmlFor="pairing-code">
        Pairing code <span className="field-optional">(first sign-in only)</span>
      </label>
      <input
        id="pairing-code"
        type="text"
        data-testid="pairing-code"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        placeholder="ABCDEFG-HIJKLMN-…"
        autoComplete="off"
        autoCapitalize="characters"
        spellCheck={false}
        aria-describedby="pairing-code-hint"
      />
      <small id="pairing-code-hint" className="field-hint" data-testid="pairing-code-hint">
        {serverCode ? (
          <span className="login-notice" data-testid="pairing-notice" role="status">
            <PairingNotice code={serverCode} />
          </span>
        ) : (
          <>
            Your clinic gives you this code on paper. Type it the first time you sign in to a clinic server;
            this computer remembers it after that.
          </>
        )}
      </small>
    </div>
  );
}
