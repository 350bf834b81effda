// The optional pairing code on the login form: how this app learns to trust the clinic's server.
// Under it, a hint: what the code is, or, once a server that is not paired yet answered, its own
// code to compare with the paper (information for the first sign-in, not an error).

import { pairingNotice } from '../logic/login';
import { composing } from '../logic/keys';

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
      {/* Three lines (a narrow form needs them all), so the whole code can be read
          back against the paper; Enter signs in, as in the other fields, and a line break pasted
          with it is no part of the code. */}
      <textarea
        id="pairing-code"
        className="pairing-code-input"
        data-testid="pairing-code"
        rows={3}
        value={value}
        onChange={(e) => onChange(e.target.value.replace(/[\r\n]+/g, ''))}
        onKeyDown={(e) => {
          // WebKit may send the Enter that ends an input method's composition as keyCode 229.
          if (e.key !== 'Enter' || composing(e)) return;
          e.preventDefault();
          e.currentTarget.form?.requestSubmit();
        }}
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
