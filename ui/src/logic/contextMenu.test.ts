import { afterEach, describe, expect, it } from 'vitest';
import { allowsNativeMenu, blockNativeMenu } from './contextMenu';

function rightClick(el: Element): boolean {
  const e = new MouseEvent('contextmenu', { bubbles: true, cancelable: true });
  el.dispatchEvent(e);
  return e.defaultPrevented;
}

afterEach(() => {
  document.body.innerHTML = '';
});

describe('the native context menu', () => {
  it('is kept in text fields only', () => {
    document.body.innerHTML = `
      <p id="p">text</p><button id="b">x</button><input id="t"><input id="c" type="checkbox">
      <input id="d" disabled><textarea id="a"></textarea><div contenteditable="true"><span id="s">e</span></div>`;
    const byId = (id: string) => document.getElementById(id);
    expect(allowsNativeMenu(byId('t'))).toBe(true);
    expect(allowsNativeMenu(byId('a'))).toBe(true);
    expect(allowsNativeMenu(byId('s'))).toBe(true);
    expect(allowsNativeMenu(byId('p'))).toBe(false);
    expect(allowsNativeMenu(byId('b'))).toBe(false);
    expect(allowsNativeMenu(byId('c'))).toBe(false);
    expect(allowsNativeMenu(byId('d'))).toBe(false);
    expect(allowsNativeMenu(document.body)).toBe(false);
    expect(allowsNativeMenu(null)).toBe(false);
  });

  it('is prevented everywhere else once blocked, and back after the undo', () => {
    document.body.innerHTML = '<p id="p">text</p><textarea id="a"></textarea>';
    const p = document.getElementById('p') as Element;
    const a = document.getElementById('a') as Element;
    expect(rightClick(p)).toBe(false);
    const undo = blockNativeMenu();
    expect(rightClick(p)).toBe(true);
    expect(rightClick(a)).toBe(false);
    undo();
    expect(rightClick(p)).toBe(false);
  });
});
