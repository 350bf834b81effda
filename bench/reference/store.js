// The reference server's SQLite store: the seed's Prisma models (User, Session, Message,
// Notification) as tables, opened with better-sqlite3 in WAL mode and the driver's defaults
// otherwise (see README.md for exactly what that means on disk).

'use strict';

const crypto = require('node:crypto');
const Database = require('better-sqlite3');

// Prisma's SQLite schema for the seed's models: TEXT primary keys (cuid), foreign keys to User,
// and no secondary index, since the seed's schema declares none.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS "User" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "username" TEXT NOT NULL UNIQUE,
  "name" TEXT NOT NULL,
  "role" TEXT NOT NULL,
  "passwordHash" TEXT NOT NULL,
  "createdAt" TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS "Session" (
  "tokenHash" TEXT NOT NULL PRIMARY KEY,
  "userId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE CASCADE,
  "expiresAt" TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS "Message" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "patientId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  "doctorId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  "senderId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  "content" TEXT NOT NULL,
  "messageType" TEXT NOT NULL DEFAULT 'REGULAR',
  "status" TEXT NOT NULL DEFAULT 'SENT',
  "fileUrl" TEXT,
  "fileName" TEXT,
  "isEmergency" BOOLEAN NOT NULL DEFAULT false,
  "resolvedAt" TEXT,
  "createdAt" TEXT NOT NULL,
  "updatedAt" TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS "Notification" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "userId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  "type" TEXT NOT NULL,
  "title" TEXT NOT NULL,
  "message" TEXT NOT NULL,
  "link" TEXT,
  "read" BOOLEAN NOT NULL DEFAULT false,
  "createdAt" TEXT NOT NULL
);
`;

// cuid v1 (what Prisma's @default(cuid()) makes): "c", time, counter, fingerprint, random. The
// time prefix keeps new ids near the right edge of the primary-key index, as in the seed.
let counter = 0;
const fingerprint = (process.pid % 1296).toString(36).padStart(2, '0') + 'rf';
function cuid() {
  counter = (counter + 1) % 1679616;
  return (
    'c' +
    Date.now().toString(36) +
    counter.toString(36).padStart(4, '0') +
    fingerprint +
    crypto.randomBytes(6).readUIntBE(0, 6).toString(36).padStart(8, '0').slice(-8)
  );
}

function hashToken(token) {
  return crypto.createHash('sha256').update(token).digest('hex');
}

function hashPassword(password) {
  const salt = crypto.randomBytes(16);
  const key = crypto.scryptSync(password, salt, 32);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

function verifyPassword(password, stored) {
  const [kind, salt, key] = String(stored).split('$');
  if (kind !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = crypto.scryptSync(password, Buffer.from(salt, 'base64'), expected.length);
  return crypto.timingSafeEqual(expected, actual);
}

function preview(text) {
  return text.length > 140 ? text.slice(0, 139) + '…' : text;
}

/** Opens (and creates) the database at `path`. `synchronous` is null for the driver's default. */
function open(path, synchronous) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  if (synchronous) db.pragma(`synchronous = ${synchronous}`);
  db.exec(SCHEMA);
  return new Store(db);
}

class Store {
  constructor(db) {
    this.db = db;
    const q = (sql) => db.prepare(sql);
    this.sql = {
      userByToken: q(
        `SELECT u.id, u.username, u.name, u.role FROM "Session" s JOIN "User" u ON u.id = s.userId
         WHERE s.tokenHash = ? AND s.expiresAt > ?`,
      ),
      userByName: q(`SELECT * FROM "User" WHERE username = ?`),
      userById: q(`SELECT id, username, name, role FROM "User" WHERE id = ?`),
      doctors: q(`SELECT id FROM "User" WHERE role = 'DOCTOR'`),
      insertUser: q(
        `INSERT INTO "User" (id, username, name, role, passwordHash, createdAt)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      insertSession: q(`INSERT INTO "Session" (tokenHash, userId, expiresAt) VALUES (?, ?, ?)`),
      insertMessage: q(
        `INSERT INTO "Message" (id, patientId, doctorId, senderId, content, messageType, status,
           fileUrl, fileName, isEmergency, createdAt, updatedAt)
         VALUES (@id, @patientId, @doctorId, @senderId, @content, @messageType, @status,
           @fileUrl, @fileName, @isEmergency, @createdAt, @updatedAt)`,
      ),
      insertNotification: q(
        `INSERT INTO "Notification" (id, userId, type, title, message, link, read, createdAt)
         VALUES (@id, @userId, @type, @title, @message, @link, 0, @createdAt)`,
      ),
      markRead: q(
        `UPDATE "Message" SET status = 'READ', updatedAt = ?
         WHERE id = ? AND patientId = ? AND doctorId = ? AND senderId != ? AND status != 'READ'`,
      ),
      history: q(
        `SELECT * FROM "Message" WHERE rowid IN (SELECT rowid FROM "Message"
           WHERE patientId = ? AND doctorId = ? ORDER BY createdAt DESC, rowid DESC LIMIT ?)
         ORDER BY createdAt, rowid`,
      ),
    };
    // One transaction per message: the message row and its notification rows commit together.
    this.saveMessage = db.transaction((message, notifications) => {
      this.sql.insertMessage.run(message);
      for (const n of notifications) this.sql.insertNotification.run(n);
    });
  }

  userByToken(token) {
    return this.sql.userByToken.get(hashToken(token), new Date().toISOString());
  }

  userById(id) {
    return this.sql.userById.get(id);
  }

  /** The user for a username and password, or undefined. */
  login(username, password) {
    const row = this.sql.userByName.get(String(username).toLowerCase());
    if (!row || !verifyPassword(password, row.passwordHash)) return undefined;
    return { id: row.id, username: row.username, name: row.name, role: row.role };
  }

  /** A new bearer token for `userId`, valid for `ttlSecs`. */
  issueToken(userId, ttlSecs) {
    const token = crypto.randomBytes(32).toString('base64url');
    const expires = new Date(Date.now() + ttlSecs * 1000).toISOString();
    this.sql.insertSession.run(hashToken(token), userId, expires);
    return token;
  }

  /**
   * Accounts `{prefix}{i}` with one shared password hash (hashed once, as for clinic-server's
   * bench accounts) and a token each, in one transaction.
   */
  createUsers(prefix, role, count, password, ttlSecs) {
    const hash = hashPassword(password);
    const now = new Date().toISOString();
    const made = [];
    this.db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const user = { id: cuid(), username: `${prefix}${i}`, name: `Bench ${role} ${i}`, role };
        this.sql.insertUser.run(user.id, user.username, user.name, role, hash, now);
        made.push({ user, token: this.issueToken(user.id, ttlSecs) });
      }
    })();
    return made;
  }

  /**
   * Persists a message and the notifications it causes (one for the recipient; for an emergency
   * one for every doctor), as the seed's POST /api/chat/messages did. Returns both.
   */
  send(sender, input) {
    const now = new Date().toISOString();
    const emergency = input.isEmergency === true;
    const message = {
      id: cuid(),
      patientId: input.patientId,
      doctorId: input.doctorId,
      senderId: sender.id,
      content: input.content,
      messageType: emergency ? 'EMERGENCY' : input.fileUrl ? 'FILE' : 'REGULAR',
      status: 'SENT',
      fileUrl: input.fileUrl ?? null,
      fileName: input.fileName ?? null,
      isEmergency: emergency ? 1 : 0,
      createdAt: now,
      updatedAt: now,
    };
    const recipients = emergency
      ? this.sql.doctors.all().map((d) => d.id)
      : [sender.id === input.patientId ? input.doctorId : input.patientId];
    const notifications = recipients.map((userId) => ({
      id: cuid(),
      userId,
      type: emergency ? 'EMERGENCY' : 'NEW_MESSAGE',
      title: emergency ? `Emergency from ${sender.name}` : `New message from ${sender.name}`,
      message: preview(input.content),
      link: `/chat/${input.patientId}/${input.doctorId}`,
      createdAt: now,
    }));
    this.saveMessage(message, notifications);
    return { message: { ...message, isEmergency: emergency }, notifications };
  }

  /** Marks a message addressed to `readerId` READ; true when it changed. */
  markRead(readerId, messageId, patientId, doctorId, at) {
    return this.sql.markRead.run(at, messageId, patientId, doctorId, readerId).changes > 0;
  }

  history(patientId, doctorId, limit) {
    return this.sql.history
      .all(patientId, doctorId, limit)
      .map((m) => ({ ...m, isEmergency: m.isEmergency === 1 }));
  }

  close() {
    this.db.close();
  }
}

module.exports = { open, cuid };
