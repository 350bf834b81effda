// Keys while an input method composes a word belong to it: its Enter ends the word, its Escape
// closes its own list of candidates. WebKit may send those as keyCode 229.

/** An input method is composing: the key is not the page's to act on. */
export function composing(e: KeyboardEvent | { nativeEvent: KeyboardEvent }): boolean {
  const key = 'nativeEvent' in e ? e.nativeEvent : e;
  return key.isComposing || key.keyCode === 229;
}
