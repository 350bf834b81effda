// At the largest text sizes the banner had a scrolling box of its own inside the page, and each
// card could scroll inside it: buttons and names were cut off. jsdom has no layout, but it does
// apply the app's style sheets: what scrolls, and what wraps, is read from them.

import { act, screen, within } from '@testing-library/react';
import { beforeAll, describe, expect, it } from 'vitest';
import base from '../styles/base.css?raw';
import emergencyCss from '../styles/emergency.css?raw';
import layout from '../styles/layout.css?raw';
import responsive from '../styles/responsive.css?raw';
import { DOCTOR, PATIENT2, emergency, setup } from '../test/fixtures';
import { renderApp } from '../test/render';

beforeAll(() => {
  const style = document.createElement('style');
  style.textContent = [base, layout, emergencyCss, responsive].join('\n');
  document.head.append(style);
});

const scrolls = (el: Element) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowY);

describe('the emergency banner at a large text size', () => {
  it('scrolls as a whole under its title, never inside a card, and its buttons wrap rather than clip', async () => {
    const two = [
      emergency(),
      emergency({ id: 'e2', messageId: 'm2', patientId: PATIENT2.id, patientName: PATIENT2.name }),
    ];
    await renderApp(setup({ as: DOCTOR, emergencies: two }));
    const banner = await screen.findByTestId('emergency-banner');
    const items = within(banner).getAllByTestId('emergency-item');
    expect(items).toHaveLength(2);
    expect(scrolls(banner)).toBe(true);
    // Nothing inside it scrolls on its own: not the list, not a card, nothing in a card.
    for (const el of banner.querySelectorAll('*')) expect(scrolls(el), el.className).toBe(false);
    // Its title (the count) stays in view over the cards scrolling under it.
    expect(getComputedStyle(banner.querySelector('.banner-head')!).position).toBe('sticky');
    for (const item of items) {
      const actions = item.querySelector('.banner-actions')!;
      expect(getComputedStyle(actions).flexWrap).toBe('wrap');
      for (const button of actions.querySelectorAll('.banner-button'))
        expect(getComputedStyle(button).whiteSpace).toBe('nowrap');
    }
  });
});

describe("the emergency banner's title as the doctor acknowledges", () => {
  // What takes room in the title line: its parts, what is seen of them, and the stand-in's words
  // (the width of the button's cell).
  const room = (banner: HTMLElement) => [
    ...[...banner.querySelector('.banner-head')!.children].map(
      (el) => `${el.className}|${getComputedStyle(el).visibility}`,
    ),
    banner.querySelector('.banner-head .banner-stand-in')?.textContent,
  ];
  const widest = (banner: HTMLElement) =>
    [...banner.querySelectorAll('.banner-head .banner-cell > *')].map((el) => el.textContent?.trim());

  it('keeps the room of its button while ringing, silenced and taken, so the cards stay where they were', async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    act(() => s.fake.upsertEmergency(emergency({ id: 'e1' }), true));
    const banner = await screen.findByTestId('emergency-banner');
    // Ringing: "Silence this device", with its stand-in under it.
    expect(widest(banner)).toEqual(['Silence this device', 'Silence this device']);
    const head = banner.querySelector('.banner-head')!;
    const slot = head.querySelector('.banner-cell')!;
    expect(getComputedStyle(slot).display).toBe('inline-grid');
    expect(getComputedStyle(banner.querySelector('.banner-head .banner-stand-in')!).visibility).toBe(
      'hidden',
    );
    await s.user.click(within(banner).getByTestId('silence-alarm'));
    // Silenced and not taken: nothing to press in the title, its room kept.
    expect(widest(banner)).toEqual(['Silence this device']);
    const silenced = room(banner);
    await s.user.click(within(banner).getByTestId('emergency-acknowledge'));
    // Taken: "Hide" comes into the same cell, which keeps the widest one's room.
    expect(within(banner).getByTestId('banner-fold')).toHaveTextContent('Hide');
    expect(widest(banner)).toEqual(['Hide', 'Silence this device']);
    // Nothing else in the title line came or went.
    expect(room(banner)).toEqual(silenced);
  });

  it('on a device that cannot ring, "Hide" has its room before anything is taken', async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    act(() =>
      s.fake.emit({
        type: 'device',
        device: { sound: 'missing', notifications: 'works', notificationsSuppressed: 'no', trayHost: 'yes' },
      }),
    );
    act(() => s.fake.upsertEmergency(emergency({ id: 'e1' }), true));
    const banner = await screen.findByTestId('emergency-banner');
    expect(widest(banner)).toEqual(['Hide']);
    const before = room(banner);
    await s.user.click(within(banner).getByTestId('emergency-acknowledge'));
    expect(widest(banner)).toEqual(['Hide', 'Hide']);
    expect(room(banner)).toEqual(before);
  });
});
