// The top bar must not move when the connection changes. jsdom has no layout, but it does apply
// the app's style sheets: every state of the badge must get the same box (its height set, not
// left to the line box of its text), and the bar's items must keep to one line, so that a
// longer badge narrows the search box instead of pushing a neighbour onto a second line.

import { act, render, screen } from '@testing-library/react';
import { beforeAll, describe, expect, it } from 'vitest';
import { App } from '../App';
import base from '../styles/base.css?raw';
import layout from '../styles/layout.css?raw';
import responsive from '../styles/responsive.css?raw';
import { StoreProvider } from '../store/StoreProvider';
import { initials } from '../logic/format';
import { DOCTOR, PATIENT, setup } from '../test/fixtures';
import type { ConnectionStatus } from '../types';

beforeAll(() => {
  const style = document.createElement('style');
  style.textContent = [base, layout, responsive].join('\n');
  document.head.append(style);
});

/** Everything that sizes a box; colours are free to differ. */
const BOX = [
  'display',
  'box-sizing',
  'height',
  'min-height',
  'max-height',
  'line-height',
  'font-size',
  'font-weight',
  'padding-top',
  'padding-bottom',
  'padding-left',
  'padding-right',
  'margin-top',
  'margin-bottom',
  'border-top-width',
  'border-bottom-width',
  'border-top-style',
  'border-bottom-style',
  'white-space',
];

function boxOf(el: Element): Record<string, string> {
  const style = getComputedStyle(el);
  return Object.fromEntries(BOX.map((p) => [p, style.getPropertyValue(p)]));
}

const CHANGED =
  "This is not your clinic's server (its pairing code changed): nothing was sent to it. Check the server's address; if it is right, tell your clinic.";

const STATES: Partial<ConnectionStatus>[] = [
  { state: 'online', attempt: null, queued: 0 },
  { state: 'offline', attempt: null, queued: 0 },
  { state: 'connecting', attempt: null, queued: 0 },
  { state: 'connecting', attempt: 3, queued: 0 },
  { state: 'offline', attempt: null, queued: 2 },
  { state: 'connecting', attempt: 2, queued: 0, lastError: CHANGED, notYourServer: true },
];

async function renderApp(opts: Parameters<typeof setup>[0] = {}) {
  const s = setup(opts);
  render(
    <StoreProvider store={s.store}>
      <App />
    </StoreProvider>,
  );
  await act(() => s.store.start());
  return s;
}

describe('the top bar across connection states', () => {
  it('gives the badge the same box in every state, with a height of its own', async () => {
    const s = await renderApp();
    const badge = () => screen.getByTestId('connection-state').parentElement!;
    const boxes = STATES.map((status) => {
      act(() => s.fake.setConnection(status));
      return { state: badge().className, badge: boxOf(badge()) };
    });
    expect(new Set(boxes.map((b) => b.state)).size).toBe(3);
    for (const b of boxes) expect(b.badge, b.state).toEqual(boxes[0].badge);
    expect(boxes[0].badge.height).toMatch(/^[\d.]+(rem|px)$/);
  });

  it('keeps every item of the bar on one line', async () => {
    await renderApp();
    const bar = document.querySelector('.topbar')!;
    const items = [...bar.children].filter((el) => !el.matches('.search'));
    expect(items.length).toBeGreaterThanOrEqual(4);
    for (const el of items) expect(getComputedStyle(el).whiteSpace, el.className).toBe('nowrap');
  });

  it('names who is signed in, with initials for a narrow window (the name their tooltip, still read)', async () => {
    await renderApp({ as: DOCTOR });
    const who = screen.getByTestId('current-user');
    expect(who).toHaveAttribute('title', DOCTOR.name);
    expect(who.querySelector('.topbar-name')).toHaveTextContent(DOCTOR.name);
    const marks = who.querySelector('.topbar-initials')!;
    expect(marks).toHaveTextContent(initials(DOCTOR.name));
    expect(marks).toHaveAttribute('aria-hidden', 'true');
  });
});

describe("a server that is not the paired clinic's", () => {
  it("is said on the badge, and a doctor is warned at once, not after the offline warning's wait", async () => {
    const s = await renderApp({ as: DOCTOR });
    act(() =>
      s.fake.setConnection({ state: 'offline', attempt: 1, lastError: CHANGED, notYourServer: true }),
    );
    expect(screen.getByTestId('connection-state')).toHaveTextContent("Not your clinic's server");
    expect(screen.getByTestId('connection')).toHaveAttribute('title', CHANGED);
    expect(screen.getByTestId('device-warning')).toHaveTextContent("Tell the clinic's IT at once.");
    // The next try under way keeps saying it.
    act(() =>
      s.fake.setConnection({ state: 'connecting', attempt: 2, lastError: CHANGED, notYourServer: true }),
    );
    expect(screen.getByTestId('connection-state')).toHaveTextContent("Not your clinic's server");
    act(() =>
      s.fake.setConnection({ state: 'online', attempt: null, lastError: null, notYourServer: false }),
    );
    expect(screen.getByTestId('connection-state')).toHaveTextContent('Connected');
    expect(screen.queryByTestId('device-warning')).toBeNull();
  });

  it('is said to a patient too, with the number to call', async () => {
    const s = await renderApp({ as: PATIENT });
    act(() =>
      s.fake.setConnection({ state: 'offline', attempt: 1, lastError: CHANGED, notYourServer: true }),
    );
    expect(screen.getByTestId('connection-state')).toHaveTextContent("Not your clinic's server");
    expect(screen.getByTestId('device-warning')).toHaveTextContent(
      "This app cannot reach your clinic's server: another server answers at its address (tell the clinic). If you need help now, call 112.",
    );
    act(() =>
      s.fake.setConnection({ state: 'offline', attempt: 1, lastError: 'gone', notYourServer: false }),
    );
    expect(screen.queryByTestId('device-warning')).toBeNull();
  });
});
