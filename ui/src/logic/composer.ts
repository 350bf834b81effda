// The composer's height: one line when empty, growing with the text up to a limit, then
// scrolling (WebKitGTK has no CSS `field-sizing`, so the height is set from the content).

/** How many lines the composer grows to before it scrolls. */
export const MAX_COMPOSER_LINES = 6;

/**
 * The height (px) for a textarea whose content needs `contentHeight` (its scrollHeight with
 * the height set to one row), given one line's height, its vertical padding and borders.
 */
export function composerHeight(
  contentHeight: number,
  box: { lineHeight: number; padding: number; border: number },
): number {
  const min = box.lineHeight + box.padding + box.border;
  const max = box.lineHeight * MAX_COMPOSER_LINES + box.padding + box.border;
  return Math.min(max, Math.max(min, Math.ceil(contentHeight + box.border)));
}
