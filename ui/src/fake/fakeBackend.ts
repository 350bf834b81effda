// An in-memory Backend: the test double for Vitest, and the data source of `npm run dev` with
// `?fake=1` so the UI can be looked at in a browser without Rust. It imitates the shell's
// behaviour (optimistic sends, acks, outbox while offline, emergencies), not its internals.

import { BackendError, type Backend, type Unlisten } from '../backend';
import { keyOf, sameKey } from '../logic/conversations';
import { fileKind } from '../logic/format';
import { DEFAULT_SETTINGS } from '../logic/settings';
import type {
  ConnectionStatus,
  Contact,
  Conversation,
  ConversationKey,
  Emergency,
  FileDropEvent,
  LocalMessage,
  PickedFile,
  SendMessageArgs,
  Session,
  Settings,
  User,
} from '../types';
import { Emitter } from './emitter';

export interface FakeOptions {
  /** Everyone known to the fake server (the signed-in user included). */
  users: Contact[];
  /** Signed in from the start (as if restored from the keyring). */
  session?: Session | null;
  messages?: LocalMessage[];
  emergencies?: Emergency[];
  connection?: ConnectionStatus;
  settings?: Settings;
  /** Acks sends after this many ms; null leaves them SENDING until ack() is called. */
  ackDelayMs?: number | null;
  alerting?: boolean;
}

export interface FakeCall {
  command: string;
  args: unknown;
}

const PASSWORD = 'password';

export class FakeBackend implements Backend {
  readonly events = new Emitter();
  readonly calls: FakeCall[] = [];
  private readonly dropHandlers = new Set<(e: FileDropEvent) => void>();
  session: Session | null;
  users: Contact[];
  messages: LocalMessage[];
  emergencies: Emergency[];
  connection: ConnectionStatus;
  settings: Settings;
  alerting: boolean;
  private nextSeq: number;
  private nextId = 1;

  private readonly opts: FakeOptions;

  constructor(opts: FakeOptions) {
    this.opts = opts;
    this.users = opts.users;
    this.session = opts.session ?? null;
    this.messages = opts.messages ?? [];
    this.emergencies = opts.emergencies ?? [];
    this.connection = opts.connection ?? { state: 'online', queued: 0 };
    this.settings = opts.settings ?? DEFAULT_SETTINGS;
    this.alerting = opts.alerting ?? false;
    this.nextSeq = Math.max(0, ...this.messages.map((m) => m.seq ?? 0)) + 1;
  }

  private record(command: string, args: unknown = null): void {
    this.calls.push({ command, args });
  }

  callsOf(command: string): unknown[] {
    return this.calls.filter((c) => c.command === command).map((c) => c.args);
  }

  private me(): User {
    if (!this.session) throw new BackendError('not_logged_in', 'Not logged in');
    return this.session.user;
  }

  async getSession() {
    this.record('get_session');
    return this.session;
  }

  async login(args: { serverUrl: string; username: string; password: string }) {
    this.record('login', { ...args, password: '***' });
    const user = this.users.find((u) => u.username === args.username);
    if (!/^https?:\/\//.test(args.serverUrl))
      throw new BackendError('bad_request', 'The server address must start with http:// or https://');
    if (!user || args.password !== PASSWORD)
      throw new BackendError('unauthorized', 'Wrong username or password');
    const { id, username, name, role } = user;
    this.session = { serverUrl: args.serverUrl, user: { id, username, name, role } };
    return this.session;
  }

  async logout() {
    this.record('logout');
    this.session = null;
  }

  async listContacts() {
    this.record('list_contacts');
    const me = this.me();
    const want = me.role === 'PATIENT' ? 'DOCTOR' : 'PATIENT';
    return this.users.filter((u) => u.role === want);
  }

  async listConversations(): Promise<Conversation[]> {
    this.record('list_conversations');
    const me = this.me();
    const byKey = new Map<string, LocalMessage[]>();
    for (const m of this.messages) {
      if (m.patientId !== me.id && m.doctorId !== me.id) continue;
      byKey.set(keyOf(m), [...(byKey.get(keyOf(m)) ?? []), m]);
    }
    return [...byKey.values()].flatMap((list) => {
      const last = list[list.length - 1];
      const otherId = last.patientId === me.id ? last.doctorId : last.patientId;
      const other = this.users.find((u) => u.id === otherId);
      if (!other) return [];
      const emergency = this.emergencies.find((e) => sameKey(e, last) && e.state !== 'RESOLVED');
      return [
        {
          patientId: last.patientId,
          doctorId: last.doctorId,
          otherParty: other,
          lastMessage: last,
          unreadCount: list.filter((m) => m.senderId !== me.id && m.status !== 'READ').length,
          hasEmergency: !!emergency,
          emergency: emergency ?? null,
        },
      ];
    });
  }

  async loadMessages(args: ConversationKey & { beforeSeq?: number; limit: number }) {
    this.record('load_messages', args);
    const list = this.messages.filter(
      (m) => sameKey(m, args) && (args.beforeSeq === undefined || (m.seq ?? Infinity) < args.beforeSeq),
    );
    return list.slice(Math.max(0, list.length - args.limit));
  }

  async sendMessage(args: SendMessageArgs): Promise<LocalMessage> {
    this.record('send_message', args);
    const me = this.me();
    const now = new Date().toISOString();
    const file = args.attachmentPath ? describePath(args.attachmentPath) : null;
    const msg: LocalMessage = {
      id: null,
      seq: null,
      clientId: `fake-${this.nextId++}`,
      patientId: args.patientId,
      doctorId: args.doctorId,
      senderId: me.id,
      content: args.content,
      messageType: args.isEmergency ? 'EMERGENCY' : file ? 'FILE' : 'REGULAR',
      status: 'SENDING',
      isEmergency: args.isEmergency,
      fileName: file?.name ?? null,
      fileSize: file?.size ?? null,
      fileType: file?.mimeType ?? null,
      localFilePath: args.attachmentPath ?? null,
      createdAt: now,
      updatedAt: now,
    };
    this.messages.push(msg);
    this.setQueued();
    this.scheduleAck();
    return msg;
  }

  private setQueued(): void {
    const queued = this.messages.filter((m) => m.status === 'SENDING').length;
    this.setConnection({ ...this.connection, queued });
  }

  private scheduleAck(): void {
    const delay = this.opts.ackDelayMs;
    if (delay === null || delay === undefined || this.connection.state !== 'online') return;
    setTimeout(() => this.ackAll(), delay);
  }

  /** Acks every SENDING message (as the server would once connected). */
  ackAll(): void {
    for (const m of this.messages.filter((x) => x.status === 'SENDING')) this.ack(m.clientId);
  }

  /** Acks one send: id, seq, SENT; an emergency message also raises its emergency. */
  ack(clientId: string): void {
    const idx = this.messages.findIndex((m) => m.clientId === clientId);
    if (idx < 0) return;
    const seq = this.nextSeq++;
    const m: LocalMessage = { ...this.messages[idx], id: `m-${seq}`, seq, status: 'SENT', error: null };
    this.messages.splice(idx, 1);
    this.messages.push(m);
    this.events.emit('message', { message: m });
    this.setQueued();
    if (m.isEmergency && m.id) {
      const sender = this.users.find((u) => u.id === m.senderId);
      this.upsertEmergency({
        id: `e-${seq}`,
        messageId: m.id,
        patientId: m.patientId,
        doctorId: m.doctorId,
        patientName: sender?.name ?? 'Patient',
        state: 'RAISED',
        raisedAt: m.createdAt,
      });
    }
  }

  /** Makes a pending send FAILED (as the shell does on a permanent refusal). */
  fail(clientId: string, error: string): void {
    const m = this.messages.find((x) => x.clientId === clientId);
    if (!m) return;
    Object.assign(m, { status: 'FAILED', error });
    this.events.emit('message', { message: { ...m } });
    this.setQueued();
  }

  /** Another user's message arriving live. */
  receive(msg: LocalMessage): void {
    this.messages.push(msg);
    this.events.emit('message', { message: msg });
  }

  setConnection(status: ConnectionStatus): void {
    const wasOnline = this.connection.state === 'online';
    this.connection = status;
    this.events.emit('connection', status);
    if (!wasOnline && status.state === 'online') this.scheduleAck();
  }

  upsertEmergency(e: Emergency, alerting = this.session?.user.role === 'DOCTOR'): void {
    this.emergencies = [...this.emergencies.filter((x) => x.id !== e.id), e];
    this.alerting = alerting && e.state === 'RAISED';
    this.events.emit('emergency', { emergency: e, alerting: this.alerting });
  }

  async retryMessage(clientId: string) {
    this.record('retry_message', { clientId });
    const m = this.messages.find((x) => x.clientId === clientId);
    if (!m) throw new BackendError('not_found', 'No such message');
    Object.assign(m, { status: 'SENDING', error: null });
    this.events.emit('message', { message: { ...m } });
    this.setQueued();
    this.scheduleAck();
  }

  async markRead(key: ConversationKey, messageIds: string[]) {
    this.record('mark_read', { ...key, messageIds });
    for (const m of this.messages) if (m.id && messageIds.includes(m.id)) m.status = 'READ';
  }

  async setTyping(key: ConversationKey, typing: boolean) {
    this.record('set_typing', { ...key, typing });
  }

  private changeEmergency(id: string, patch: Partial<Emergency>): void {
    const e = this.emergencies.find((x) => x.id === id);
    if (!e) throw new BackendError('not_found', 'No such emergency');
    this.upsertEmergency({ ...e, ...patch }, false);
  }

  async acknowledgeEmergency(emergencyId: string) {
    this.record('acknowledge_emergency', { emergencyId });
    const me = this.me();
    this.changeEmergency(emergencyId, {
      state: 'ACKNOWLEDGED',
      acknowledgedBy: me.id,
      acknowledgedByName: me.name,
      acknowledgedAt: new Date().toISOString(),
    });
  }

  async resolveEmergency(emergencyId: string, note: string) {
    this.record('resolve_emergency', { emergencyId, note });
    this.changeEmergency(emergencyId, {
      state: 'RESOLVED',
      resolvedBy: this.me().id,
      resolvedAt: new Date().toISOString(),
      resolutionNote: note || null,
    });
  }

  async listOpenEmergencies() {
    this.record('list_open_emergencies');
    return this.emergencies.filter((e) => e.state !== 'RESOLVED');
  }

  async silenceAlarm() {
    this.record('silence_alarm');
    this.alerting = false;
    this.events.emit('alarm', { alerting: false });
  }

  async alarmStatus() {
    this.record('alarm_status');
    return { alerting: this.alerting };
  }

  async getSettings() {
    this.record('get_settings');
    return this.settings;
  }

  async setSettings(settings: Settings) {
    this.record('set_settings', { settings });
    this.settings = settings;
    return settings;
  }

  async sendTestAlert() {
    this.record('send_test_alert');
  }

  async connectionStatus() {
    this.record('connection_status');
    return this.connection;
  }

  async pickFile(): Promise<PickedFile | null> {
    this.record('pick_file');
    return describePath('/home/demo/Documents/blood-test-results.pdf');
  }

  async attachmentPreview(clientId: string) {
    this.record('attachment_preview', { clientId });
    const m = this.messages.find((x) => x.clientId === clientId);
    if (!m?.fileName || fileKind(m.fileName, m.fileType) !== 'image') return null;
    return demoImage(m.fileName);
  }

  async openAttachment(clientId: string) {
    this.record('open_attachment', { clientId });
  }

  on: Backend['on'] = (event, handler) => this.events.on(event, handler);

  onFileDrop(handler: (e: FileDropEvent) => void): Unlisten {
    this.dropHandlers.add(handler);
    return () => this.dropHandlers.delete(handler);
  }

  /** Simulates the window's native drag-and-drop. */
  drop(e: FileDropEvent): void {
    for (const h of this.dropHandlers) h(e);
  }
}

const MIME: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  pdf: 'application/pdf',
  txt: 'text/plain',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
};

/** What the shell's describe_file would say about a path (sizes are made up). */
export function describePath(path: string): PickedFile {
  const name = path.split(/[\\/]/).pop() ?? path;
  const ext = name.split('.').pop()?.toLowerCase() ?? '';
  return {
    path,
    name,
    size: 180_000 + name.length * 1000,
    mimeType: MIME[ext] ?? 'application/octet-stream',
  };
}

/** A small generated picture, so image previews have something to show. */
function demoImage(label: string): string {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160"><rect width="240" height="160" fill="#cbd5e1"/><circle cx="120" cy="70" r="34" fill="#64748b"/><text x="120" y="140" font-family="sans-serif" font-size="14" text-anchor="middle" fill="#1e293b">${label.replace(/[<&>]/g, '')}</text></svg>`;
  return `data:image/svg+xml;utf8,${encodeURIComponent(svg)}`;
}
