// At the largest text sizes the banner had a scrolling box of its own inside the page, and each
// card could scroll inside it: buttons and names were cut off. jsdom has no layout, but it does
// apply the app's style sheets: what scrolls, and what wraps, is read from them.

import { screen, within } from '@testing-library/react';
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
