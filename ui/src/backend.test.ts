// The Tauri implementation must call exactly the commands of docs/desktop-api.md with
// camelCase arguments; @tauri-apps is mocked here because there is no Tauri runtime in Vitest.

import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
const listen = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...a: unknown[]) => invoke(...a), isTauri: () => false }));
vi.mock('@tauri-apps/api/event', () => ({ listen: (...a: unknown[]) => listen(...a) }));
vi.mock('@tauri-apps/api/webview', () => ({
  getCurrentWebview: () => ({ onDragDropEvent: vi.fn(async () => () => {}) }),
}));

const { BackendError, createTauriBackend } = await import('./backend');

const key = { patientId: 'p', doctorId: 'd' };

beforeEach(() => {
  invoke.mockReset();
  invoke.mockResolvedValue(null);
  listen.mockReset();
});

describe('createTauriBackend', () => {
  it('maps every method to its snake_case command and camelCase args', async () => {
    const b = createTauriBackend();
    const settings = { showMessageContent: false, startOnLogin: true, availability: 'AVAILABLE' as const };
    await b.getSession();
    await b.login({ serverUrl: 'http://h:1', username: 'u', password: 'p' });
    await b.logout();
    await b.listConversations();
    await b.listContacts();
    await b.loadMessages({ ...key, beforeSeq: 10, limit: 50 });
    await b.sendMessage({ ...key, content: 'hi', isEmergency: false, attachmentPath: '/f' });
    await b.retryMessage('c1');
    await b.markRead(key, ['m1']);
    await b.setTyping(key, true);
    await b.acknowledgeEmergency('e1');
    await b.resolveEmergency('e1', 'ok');
    await b.listOpenEmergencies();
    await b.silenceAlarm();
    await b.alarmStatus();
    await b.getSettings();
    await b.setSettings(settings);
    await b.sendTestAlert();
    await b.connectionStatus();
    await b.pickFile();
    await b.attachmentPreview('c1');
    await b.openAttachment('c1');
    expect(invoke.mock.calls).toEqual([
      ['get_session', undefined],
      ['login', { serverUrl: 'http://h:1', username: 'u', password: 'p' }],
      ['logout', undefined],
      ['list_conversations', undefined],
      ['list_contacts', undefined],
      ['load_messages', { ...key, beforeSeq: 10, limit: 50 }],
      ['send_message', { ...key, content: 'hi', isEmergency: false, attachmentPath: '/f' }],
      ['retry_message', { clientId: 'c1' }],
      ['mark_read', { ...key, messageIds: ['m1'] }],
      ['set_typing', { ...key, typing: true }],
      ['acknowledge_emergency', { emergencyId: 'e1' }],
      ['resolve_emergency', { emergencyId: 'e1', note: 'ok' }],
      ['list_open_emergencies', undefined],
      ['silence_alarm', undefined],
      ['alarm_status', undefined],
      ['get_settings', undefined],
      ['set_settings', { settings }],
      ['send_test_alert', undefined],
      ['connection_status', undefined],
      ['pick_file', undefined],
      ['attachment_preview', { clientId: 'c1' }],
      ['open_attachment', { clientId: 'c1' }],
    ]);
  });

  it('turns rejections into BackendError with a code', async () => {
    const b = createTauriBackend();
    invoke.mockRejectedValueOnce({ code: 'unauthorized', message: 'Wrong username or password' });
    await expect(b.login({ serverUrl: 'x', username: 'u', password: 'p' })).rejects.toMatchObject({
      code: 'unauthorized',
      message: 'Wrong username or password',
    });
    invoke.mockRejectedValueOnce('plain string');
    await expect(b.logout()).rejects.toBeInstanceOf(BackendError);
    expect(BackendError.from(42)).toMatchObject({ code: 'internal', message: '42' });
  });

  it('delivers event payloads and unlistens even before registration finished', async () => {
    const unlisten = vi.fn();
    let deliver: ((e: { payload: unknown }) => void) | null = null;
    listen.mockImplementation(async (_name: string, cb: (e: { payload: unknown }) => void) => {
      deliver = cb;
      return unlisten;
    });
    const b = createTauriBackend();
    const got: unknown[] = [];
    const stop = b.on('presence', (p) => got.push(p));
    expect(listen.mock.calls[0][0]).toBe('presence');
    await Promise.resolve();
    deliver!({ payload: { userId: 'u', online: true } });
    expect(got).toEqual([{ userId: 'u', online: true }]);
    stop();
    expect(unlisten).toHaveBeenCalledTimes(1);

    const early = b.on('message', () => {});
    early();
    await Promise.resolve();
    await Promise.resolve();
    expect(unlisten).toHaveBeenCalledTimes(2);
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
