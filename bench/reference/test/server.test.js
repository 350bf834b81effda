// The reference server end to end: a real server process on 127.0.0.1 port 0 with a fresh
// SQLite file, real Socket.io clients, and the database read back afterwards.
//
//   cd bench/reference && npm test

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Database = require('better-sqlite3');
const { io: connect } = require('socket.io-client');

const ROOT = path.join(__dirname, '..');
const PASSWORD = 'test-password';
let dir;
let server;
let base;
let accounts;

function account(username) {
  return accounts.find((a) => a.user.username === username);
}

/** The next `event` on `socket` whose payload passes `wanted`. */
function next(socket, event, wanted = () => true, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const listener = (payload) => {
      if (!wanted(payload)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(payload);
    };
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on(event, listener);
  });
}

async function signIn(username) {
  const socket = connect(base, { transports: ['websocket'], reconnection: false });
  await next(socket, 'connect');
  const authenticated = next(socket, 'authenticated');
  socket.emit('authenticate', { token: account(username).token });
  const { user } = await authenticated;
  assert.equal(user.username, username);
  return socket;
}

function sendWithAck(socket, body) {
  return new Promise((resolve) => socket.emit('message:send', body, resolve));
}

function rows(sql, ...params) {
  const db = new Database(path.join(dir, 'ref.db'), { readonly: true });
  try {
    return db.prepare(sql).all(...params);
  } finally {
    db.close();
  }
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinic-ref-test-'));
  const db = path.join(dir, 'ref.db');
  const out = execFileSync(process.execPath, [
    path.join(ROOT, 'seed.js'), '--db', db, '--patients', '2', '--doctors', '2', '--password', PASSWORD,
  ]);
  accounts = out.toString().trim().split('\n').map((line) => JSON.parse(line));
  server = spawn(process.execPath, [path.join(ROOT, 'server.js'), '--db', db, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  base = await new Promise((resolve, reject) => {
    let seen = '';
    server.stdout.on('data', (chunk) => {
      seen += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(seen);
      if (match) resolve(match[1]);
    });
    server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
});

after(() => {
  server.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a bad token is refused and the socket closed', async () => {
  const socket = connect(base, { transports: ['websocket'], reconnection: false });
  await next(socket, 'connect');
  const error = next(socket, 'error');
  const closed = next(socket, 'disconnect');
  socket.emit('authenticate', { token: 'nope' });
  assert.equal((await error).code, 'unauthorized');
  await closed;
});

test('a message is persisted with its notification, acked, and delivered', async () => {
  const p0 = account('p0').user;
  const d0 = account('d0').user;
  const patient = await signIn('p0');
  const doctor = await signIn('d0');
  const received = next(doctor, 'message:received');
  const notified = next(doctor, 'notification');
  const ack = await sendWithAck(patient, {
    clientId: 'c-1', patientId: p0.id, doctorId: d0.id, content: 'hello doctor',
  });
  assert.equal(ack.message.content, 'hello doctor');
  assert.equal(ack.message.clientId, 'c-1');
  const message = await received;
  assert.equal(message.id, ack.message.id);
  assert.equal(message.senderId, p0.id);
  const notification = await notified;
  assert.equal(notification.userId, d0.id);
  assert.equal(notification.type, 'NEW_MESSAGE');

  const stored = rows('SELECT * FROM "Message" WHERE id = ?', message.id);
  assert.equal(stored.length, 1);
  assert.equal(stored[0].status, 'SENT');
  const notes = rows('SELECT * FROM "Notification" WHERE userId = ? AND type = ?', d0.id, 'NEW_MESSAGE');
  assert.equal(notes.length, 1);

  // Read receipt: both sides hear it, the row changes.
  const confirmedToPatient = next(patient, 'message:read:confirmed');
  doctor.emit('message:read', { messageId: message.id, patientId: p0.id, doctorId: d0.id });
  const confirmed = await confirmedToPatient;
  assert.equal(confirmed.readerId, d0.id);
  assert.equal(rows('SELECT status FROM "Message" WHERE id = ?', message.id)[0].status, 'READ');

  // History over REST, participants only.
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    body: JSON.stringify({ username: 'p0', password: PASSWORD }),
  });
  assert.equal(login.status, 200);
  const { token } = await login.json();
  const history = await fetch(`${base}/api/chat/messages?patientId=${p0.id}&doctorId=${d0.id}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.deepEqual((await history.json()).map((m) => m.id), [message.id]);
  const stranger = await fetch(`${base}/api/chat/messages?patientId=${account('p1').user.id}&doctorId=${d0.id}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(stranger.status, 403);
  patient.close();
  doctor.close();
});

test('strangers, bad bodies and unknown users store nothing', async () => {
  const before = rows('SELECT count(*) AS n FROM "Message"')[0].n;
  const p1 = await signIn('p1');
  const errors = [];
  p1.on('error', (e) => errors.push(e));
  const { id: p0 } = account('p0').user;
  const { id: d0 } = account('d0').user;
  p1.emit('message:send', { clientId: 'x1', patientId: p0, doctorId: d0, content: 'not mine' });
  p1.emit('message:send', { clientId: 'x2', patientId: account('p1').user.id, doctorId: d0, content: ' ' });
  p1.emit('message:send', { clientId: 'x3', patientId: account('p1').user.id, doctorId: 'nobody', content: 'hi' });
  p1.emit('message:send', 'not an object');
  await new Promise((resolve) => {
    const wait = () => (errors.length >= 4 ? resolve() : setTimeout(wait, 10));
    wait();
  });
  assert.deepEqual(errors.map((e) => e.code), ['forbidden', 'bad_request', 'not_found', 'bad_request']);
  assert.equal(rows('SELECT count(*) AS n FROM "Message"')[0].n, before);
  p1.close();
});

test('typing reaches the other side of a joined chat', async () => {
  const { id: p0 } = account('p0').user;
  const { id: d0 } = account('d0').user;
  const patient = await signIn('p0');
  const doctor = await signIn('d0');
  const joined = next(doctor, 'chat:joined');
  doctor.emit('join:chat', { patientId: p0, doctorId: d0 });
  await joined;
  const typing = next(doctor, 'typing:started');
  patient.emit('typing:start', { patientId: p0, doctorId: d0 });
  assert.equal((await typing).userId, p0);
  patient.close();
  doctor.close();
});

test('an emergency alerts every doctor and stores a notification for each', async () => {
  const { id: p0 } = account('p0').user;
  const { id: d0 } = account('d0').user;
  const patient = await signIn('p0');
  const doctors = [await signIn('d0'), await signIn('d1')];
  const alerts = doctors.map((d) => next(d, 'emergency:alert'));
  const p1 = account('p1').user.id;
  const online = next(doctors[0], 'user:online', (e) => e.userId === p1);
  const late = await signIn('p1');
  await online;
  const ack = await sendWithAck(patient, {
    clientId: 'e-1', patientId: p0, doctorId: d0, content: 'chest pain', isEmergency: true,
  });
  for (const alert of await Promise.all(alerts)) assert.equal(alert.message.id, ack.message.id);
  assert.equal(ack.message.messageType, 'EMERGENCY');
  const notes = rows('SELECT userId FROM "Notification" WHERE type = ? ORDER BY userId', 'EMERGENCY');
  assert.deepEqual(notes.map((n) => n.userId), [account('d0').user.id, account('d1').user.id].sort());
  // Doctors cannot raise one.
  const refused = next(doctors[0], 'error');
  doctors[0].emit('message:send', { clientId: 'e-2', patientId: p0, doctorId: d0, content: 'x', isEmergency: true });
  assert.equal((await refused).code, 'bad_request');
  for (const s of [patient, late, ...doctors]) s.close();
});

test('WAL with the driver default: synchronous NORMAL, foreign keys on', () => {
  const store = require('../store');
  const db = store.open(path.join(dir, 'modes.db'), null);
  try {
    assert.equal(db.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.db.pragma('synchronous', { simple: true }), 1);
    assert.equal(db.db.pragma('foreign_keys', { simple: true }), 1);
  } finally {
    db.close();
  }
  const full = store.open(path.join(dir, 'modes.db'), 'full');
  assert.equal(full.db.pragma('synchronous', { simple: true }), 2);
  full.close();
});

test('healthz and login', async () => {
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const wrong = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    body: JSON.stringify({ username: 'p0', password: 'wrong' }),
  });
  assert.equal(wrong.status, 401);
  const malformed = await fetch(`${base}/api/auth/login`, { method: 'POST', body: '{' });
  assert.equal(malformed.status, 400);
});
