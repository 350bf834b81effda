// Shown when this build of the UI runs outside the desktop app (e.g. opened in a browser): it
// cannot reach the clinic from here, and it must never pretend to (no demo data, no fake sends).

export function NoShell() {
  return (
    <main className="login-page">
      <section className="login card" data-testid="no-shell" role="alert">
        <h1>Clinic Messaging cannot start here</h1>
        <p className="login-sub">
          This is the desktop app&apos;s screen. Open the Clinic Messaging app on this computer; messages and
          emergencies only work from there.
        </p>
      </section>
    </main>
  );
}
