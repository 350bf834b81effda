// The optional pairing code on the login form: how this app learns to trust the clinic's server.

interface Props {
  value: string;
  onChange: (value: string) => void;
}

export function PairingCodeField({ value, onChange }: Props) {
  return (
    <label className="field">
      <span>
        Pairing code <span className="field-optional">(first sign-in only)</span>
      </span>
      <input
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
        Your clinic gives you this code on paper. Type it the first time you sign in to a clinic server; this
        computer remembers it after that.
      </small>
    </label>
  );
}
