// What versions before the profile's `last-server` file kept in the webview's own storage: a
// server's address, which outlived a logout there (that storage is the webview's, beside the
// profile's files, and is not emptied with them). Nothing of the app's is kept there now.

const EARLIER_KEYS = ['clinic.lastServerUrl'];

/** Forgets what earlier versions kept in the webview's storage (at every start: cheap). */
export function forgetEarlierStorage(given?: Storage): void {
  try {
    // Reading `localStorage` itself throws where storage is refused: inside the `try` too.
    const storage = given ?? globalThis.localStorage;
    for (const key of EARLIER_KEYS) storage?.removeItem(key);
  } catch {
    // No storage (or none allowed): nothing to forget.
  }
}
