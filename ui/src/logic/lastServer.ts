// The clinic server's address the sign-in form offers: the one last signed in to (also a
// session restored at start, which never passes through the form), or last typed there.

const KEY = 'clinic.lastServerUrl';

/** The address to fill the form with ('' when none is known). */
export function lastServer(): string {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

/** Remembers `url` for the next sign-in form. */
export function rememberServer(url: string): void {
  if (!url) return;
  try {
    localStorage.setItem(KEY, url);
  } catch {
    // Remembering the address is a convenience only.
  }
}
