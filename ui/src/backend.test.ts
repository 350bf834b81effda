// The Tauri implementation must call exactly the commands of docs/desktop-api.md with
// camelCase arguments; @tauri-apps is mocked here because there is no Tauri runtime in Vitest.

import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
class FakeChannel {
  onmessage: (e: unknown) => void = () => {};
}
vi.mock('@tauri-apps/api/core', () => ({
  invoke: (...a: unknown[]) => invoke(...a),
  isTauri: () => false,
  Channel: FakeChannel,
}));
vi.mock('@tauri-apps/api/webview', () => ({
  getCurrentWebview: () => ({ onDragDropEvent: vi.fn(async () => () => {}) }),
}));

const { BackendError, createTauriBackend } = await import('./backend');

const key = { patientId: 'p', doctorId: 'd' };

beforeEach(() => {
  invoke.mockReset();
  invoke.mockResolvedValue(null);
});

describe('createTauriBackend', () => {
  it('maps every method to its snake_case command and camelCase args', async () => {
    const b = createTauriBackend();
    const settings = { showMessageContent: false, startOnLogin: true, textSize: 'large' as const };
    await b.login({ serverUrl: 'http://h:1', username: 'u', password: 'p' });
    await b.logout();
    await b.loadMessages({ ...key, beforeSeq: 10, limit: 50 });
    await b.sendMessage({ ...key, content: 'hi', isEmergency: false, attachmentPath: '/f' });
    await b.retryMessage('c1');
    await b.discardMessage('c1');
    await b.markRead({ ...key, messageId: 'm1' });
    await b.viewConversation(key);
    await b.setTyping(key, true);
    await b.acknowledgeEmergency('e1');
    await b.resolveEmergency('e1', 'ok');
    await b.silenceAlarm();
    await b.setAvailability('DO_NOT_DISTURB');
    await b.setSettings(settings);
    await b.sendTestAlert();
    await b.pickFile();
    await b.attachmentPreview('u1', 'c1');
    await b.openAttachment('u1', 'c1');
    await b.openLink('https://x.org');
    await b.cancelLogin();
    expect(invoke.mock.calls).toEqual([
      ['login', { serverUrl: 'http://h:1', username: 'u', password: 'p' }],
      ['logout', undefined],
      ['load_messages', { ...key, beforeSeq: 10, limit: 50 }],
      ['send_message', { ...key, content: 'hi', isEmergency: false, attachmentPath: '/f' }],
      ['retry_message', { clientId: 'c1' }],
      ['discard_message', { clientId: 'c1' }],
      ['mark_read', { ...key, messageId: 'm1' }],
      ['view_conversation', key],
      ['set_typing', { ...key, typing: true }],
      ['acknowledge_emergency', { emergencyId: 'e1' }],
      ['resolve_emergency', { emergencyId: 'e1', note: 'ok' }],
      ['silence_alarm', undefined],
      ['set_availability', { availability: 'DO_NOT_DISTURB' }],
      ['set_settings', { settings }],
      ['send_test_alert', undefined],
      ['pick_file', undefined],
      ['attachment_preview', { senderId: 'u1', clientId: 'c1' }],
      ['open_attachment', { senderId: 'u1', clientId: 'c1' }],
      ['open_link', { url: 'https://x.org' }],
      ['cancel_login', undefined],
    ]);
  });

  it('turns rejections into BackendError with a code', async () => {
    const b = createTauriBackend();
    invoke.mockRejectedValueOnce({ code: 'conflict', message: 'Dr. Minh Nguyen already took it.' });
    await expect(b.acknowledgeEmergency('e1')).rejects.toMatchObject({
      code: 'conflict',
      message: 'Dr. Minh Nguyen already took it.',
    });
    invoke.mockRejectedValueOnce('plain string');
    await expect(b.logout()).rejects.toBeInstanceOf(BackendError);
    expect(BackendError.from(42)).toMatchObject({ code: 'internal', message: '42' });
    invoke.mockRejectedValueOnce({ code: 'not_paired', message: 'not paired yet', serverCode: 'ABCDEFG' });
    await expect(
      b.login({ serverUrl: 'https://x', username: 'u', password: 'p', pin: 'Q' }),
    ).rejects.toMatchObject({
      code: 'not_paired',
      serverCode: 'ABCDEFG',
    });
    expect(invoke).toHaveBeenLastCalledWith('login', {
      serverUrl: 'https://x',
      username: 'u',
      password: 'p',
      pin: 'Q',
    });
  });

  it('subscribes with one channel: the snapshot answers, events follow on the channel', async () => {
    const snapshot = { session: null };
    invoke.mockResolvedValueOnce(snapshot);
    const b = createTauriBackend();
    const got: unknown[] = [];
    expect(await b.subscribe((e) => got.push(e))).toBe(snapshot);
    const [command, args] = invoke.mock.calls[0] as [string, { events: { onmessage: (e: unknown) => void } }];
    expect(command).toBe('subscribe');
    args.events.onmessage({ type: 'presence', userId: 'u', online: true });
    expect(got).toEqual([{ type: 'presence', userId: 'u', online: true }]);
  });
});

describe('the one door', () => {
  it('no module but backend.ts imports @tauri-apps', () => {
    const sources = import.meta.glob<string>('./**/*.{ts,tsx}', {
      query: '?raw',
      import: 'default',
      eager: true,
    });
    const offenders = Object.entries(sources)
      .filter(
        ([path, text]) =>
          path !== './backend.ts' && !path.endsWith('.test.ts') && /from '@tauri-apps/.test(text),
      )
      .map(([path]) => path);
    expect(Object.keys(sources).length).toBeGreaterThan(20);
    expect(offenders).toEqual([]);
  });
});
