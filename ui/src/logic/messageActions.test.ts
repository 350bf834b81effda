import { describe, expect, it } from 'vitest';
import { messageActions, moveInMenu, opensMenu, placeMenu } from './messageActions';

const base = { content: '', hasFile: false, selection: '', link: null };

describe('messageActions', () => {
  it('offers copy for a plain message and nothing that does not exist', () => {
    const actions = messageActions({ ...base, content: 'Hello' });
    expect(actions.map((a) => a.id)).toEqual(['copy-text']);
    expect(actions.map((a) => a.label).join(' ')).not.toMatch(/unsend|edit|delete|reload/i);
  });

  it('offers edit and unsend (retract) only when asked, and versions for an edited message', () => {
    const own = messageActions({ ...base, content: 'Hello', unsend: 'Unsend', edit: true });
    expect(own.map((a) => [a.id, a.label])).toEqual([
      ['copy-text', 'Copy text'],
      ['edit', 'Edit'],
      ['unsend', 'Unsend'],
    ]);
    const doctors = messageActions({ ...base, content: 'Hello', unsend: 'Retract', edited: true });
    expect(doctors.map((a) => a.label)).toEqual(['Copy text', 'Show versions', 'Retract']);
    const theirs = messageActions({ ...base, content: 'Hello', unsend: null, edit: false, edited: true });
    expect(theirs.map((a) => a.id)).toEqual(['copy-text', 'versions']);
  });

  it("offers Don't send, last, only for one's own message still waiting to be sent", () => {
    const waiting = messageActions({ ...base, content: 'Hello', unsent: true });
    expect(waiting.map((a) => [a.id, a.label])).toEqual([
      ['copy-text', 'Copy text'],
      ['discard', "Don't send"],
    ]);
    expect(messageActions({ ...base, content: 'Hello' }).map((a) => a.id)).toEqual(['copy-text']);
  });

  it('offers the selection first when the person selected part of the message', () => {
    const actions = messageActions({ ...base, content: 'Take two pills', selection: 'two pills' });
    expect(actions.map((a) => [a.id, 'text' in a ? a.text : null])).toEqual([
      ['copy-selection', 'two pills'],
      ['copy-text', 'Take two pills'],
    ]);
  });

  it('offers open and copy for the link under the pointer', () => {
    const actions = messageActions({ ...base, content: 'see https://x.org/a', link: 'https://x.org/a' });
    expect(actions.map((a) => a.id)).toEqual(['copy-text', 'open-link', 'copy-link']);
  });

  it('offers to copy each link (at most three) when opened from the keyboard', () => {
    const one = messageActions({ ...base, content: 'see https://x.org/a.' });
    expect(one.at(-1)).toEqual({ id: 'copy-link', label: 'Copy link', text: 'https://x.org/a' });
    const many = messageActions({
      ...base,
      content: 'https://a.org https://b.org mailto:c@d.org https://e.org https://a.org',
    });
    expect(many.filter((a) => a.id === 'copy-link').map((a) => a.label)).toEqual([
      'Copy link (a.org)',
      'Copy link (b.org)',
      'Copy link (c@d.org)',
    ]);
  });

  it('offers Open file for an attachment, and no copy when it has no caption', () => {
    expect(messageActions({ ...base, hasFile: true }).map((a) => a.id)).toEqual(['open-file']);
  });
});

describe('menu keys and placement', () => {
  it('moves with the arrows, wrapping, and jumps with Home and End', () => {
    expect(moveInMenu(0, 3, 'ArrowDown')).toBe(1);
    expect(moveInMenu(2, 3, 'ArrowDown')).toBe(0);
    expect(moveInMenu(0, 3, 'ArrowUp')).toBe(2);
    expect(moveInMenu(1, 3, 'End')).toBe(2);
    expect(moveInMenu(2, 3, 'Home')).toBe(0);
    expect(moveInMenu(1, 3, 'x')).toBe(1);
    expect(moveInMenu(0, 0, 'ArrowDown')).toBe(-1);
  });

  it('opens on the Menu key and Shift+F10 only', () => {
    expect(opensMenu({ key: 'ContextMenu', shiftKey: false })).toBe(true);
    expect(opensMenu({ key: 'F10', shiftKey: true })).toBe(true);
    expect(opensMenu({ key: 'F10', shiftKey: false })).toBe(false);
    expect(opensMenu({ key: 'Enter', shiftKey: true })).toBe(false);
  });

  it('keeps the menu inside the window', () => {
    const view = { width: 600, height: 400 };
    const menu = { width: 200, height: 100 };
    expect(placeMenu({ x: 10, y: 10 }, menu, view)).toEqual({ left: 10, top: 10 });
    expect(placeMenu({ x: 550, y: 380 }, menu, view)).toEqual({ left: 396, top: 280 });
  });
});
