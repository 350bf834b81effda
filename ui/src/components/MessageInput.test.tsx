// The composer grows with its text without moving what is around it while it is measured: the
// message list above would otherwise grow for a moment, and the browser would pull the list's
// scroll position back from the newest message (jsdom has no layout: the measurement is watched).

import { fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreProvider } from '../store/StoreProvider';
import { setup } from '../test/fixtures';
import { MessageInput } from './MessageInput';

const proto = HTMLTextAreaElement.prototype;
const saved = Object.getOwnPropertyDescriptor(Element.prototype, 'scrollHeight');
afterEach(() => {
  delete (proto as unknown as Record<string, unknown>).scrollHeight;
  if (saved) Object.defineProperty(Element.prototype, 'scrollHeight', saved);
});

describe('the composer growing with its text', () => {
  it('holds the row around it at its height while it measures the text', () => {
    const seen: string[] = [];
    Object.defineProperty(proto, 'scrollHeight', {
      configurable: true,
      get(this: HTMLTextAreaElement) {
        // What the row around the composer is held at while the browser lays out the measurement.
        seen.push(this.parentElement?.style.height ?? '');
        return 20 * (this.value.split('\n').length + 1);
      },
    });
    const { store } = setup();
    render(
      <StoreProvider store={store}>
        <MessageInput conversationKey="p:d" />
      </StoreProvider>,
    );
    const input = screen.getByRole('textbox');
    fireEvent.change(input, { target: { value: 'one\ntwo\nthree\nfour' } });
    expect(seen.length).toBeGreaterThan(0);
    for (const height of seen) expect(height).toMatch(/^\d+(\.\d+)?px$/);
    // And let go after: the row takes the composer's new height.
    expect(input.parentElement?.style.height).toBe('');
    expect(input.style.height).toMatch(/px$/);
  });
});
