import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { history, setup } from '../test/fixtures';
import { renderApp } from '../test/render';
import { tabStops } from './useDialog';

describe('a dialog and the keyboard', () => {
  it('Settings keeps Tab inside it, and Escape gives the focus back to its button', async () => {
    const s = await renderApp(setup({ messages: history(2) }));
    const button = await screen.findByTestId('settings-button');
    button.focus();
    await s.user.keyboard('{Enter}');
    const panel = await screen.findByTestId('settings-panel');
    expect(screen.getByTestId('settings-close')).toHaveFocus();
    // Round and round: never behind it.
    for (let i = 0; i < 40; i++) {
      await s.user.tab();
      expect(panel.contains(document.activeElement)).toBe(true);
    }
    for (let i = 0; i < 5; i++) {
      await s.user.tab({ shift: true });
      expect(panel.contains(document.activeElement)).toBe(true);
    }
    await s.user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByTestId('settings-panel')).toBeNull());
    expect(screen.getByTestId('settings-button')).toHaveFocus();
  });

  it("the patient's Emergency dialog keeps Tab inside it and, cancelled, gives the focus back", async () => {
    const s = await renderApp(setup({ messages: history(2) }));
    const button = await screen.findByTestId('emergency-button');
    button.focus();
    await s.user.keyboard('{Enter}');
    const dialog = await screen.findByTestId('emergency-confirm');
    expect(within(dialog).getByTestId('emergency-text')).toHaveFocus();
    await s.user.tab();
    await s.user.tab();
    expect(within(dialog).getByTestId('emergency-confirm-send')).toHaveFocus();
    await s.user.tab();
    expect(within(dialog).getByTestId('emergency-text')).toHaveFocus();
    // Escape closes it wherever the focus is in it, and nothing is sent.
    within(dialog).getByTestId('emergency-cancel').focus();
    await s.user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByTestId('emergency-confirm')).toBeNull());
    expect(screen.getByTestId('emergency-button')).toHaveFocus();
    expect(s.fake.callsOf('raise_emergency')).toHaveLength(0);
  });
});

describe('tabStops', () => {
  it('skips what a closed details or hidden part holds, and counts a radio group once', () => {
    const root = document.createElement('div');
    root.innerHTML = `
      <button id="a">a</button>
      <details><summary id="s">more</summary><button id="inside">x</button></details>
      <div hidden><button id="gone">y</button></div>
      <input type="radio" name="g" id="r1"><input type="radio" name="g" id="r2" checked>
      <button id="off" disabled>z</button>
      <textarea id="t"></textarea>`;
    const ids = () => tabStops(root).map((el) => el.id);
    expect(ids()).toEqual(['a', 's', 'r2', 't']);
    root.querySelector('details')?.setAttribute('open', '');
    expect(ids()).toEqual(['a', 's', 'inside', 'r2', 't']);
  });
});
