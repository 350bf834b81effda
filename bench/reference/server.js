// The seed's stack as a benchmark baseline: an HTTP server with Socket.io 4 (the seed's events,
// events.js) and a few REST routes (/healthz, login, history) over SQLite (store.js).
//
//   node server.js --db FILE [--listen HOST:PORT] [--synchronous full|normal]
//
// Prints "listening on http://HOST:PORT" once it accepts connections (the generator reads it).

'use strict';

const http = require('node:http');
const { Server } = require('socket.io');
const { attach } = require('./events');
const store = require('./store');

const MAX_BODY_BYTES = 256 * 1024;
const TOKEN_TTL_SECS = 30 * 24 * 3600;

function parseArgs(argv) {
  const args = { listen: '127.0.0.1:8471', synchronous: null };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--db') args.db = value;
    else if (flag === '--listen') args.listen = value;
    else if (flag === '--synchronous') {
      if (!['full', 'normal'].includes(value)) throw new Error('--synchronous is full or normal');
      args.synchronous = value;
    } else throw new Error(`unknown option ${flag}`);
  }
  if (!args.db) throw new Error('--db FILE is needed');
  return args;
}

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error('body over 256 KiB'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(Object.assign(new Error('malformed JSON'), { status: 400 }));
      }
    });
    req.on('error', reject);
  });
}

function bearer(db, req) {
  const header = req.headers.authorization ?? '';
  return header.startsWith('Bearer ') ? db.userByToken(header.slice(7)) : undefined;
}

async function route(db, req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/healthz') {
    db.db.prepare('SELECT 1').get();
    return reply(res, 200, { status: 'ok' });
  }
  if (req.method === 'POST' && url.pathname === '/api/auth/login') {
    const body = await readJson(req);
    const user = db.login(body.username, body.password);
    if (!user) return reply(res, 401, { code: 'unauthorized', message: 'wrong credentials' });
    return reply(res, 200, { token: db.issueToken(user.id, TOKEN_TTL_SECS), user });
  }
  if (req.method === 'GET' && url.pathname === '/api/chat/messages') {
    const user = bearer(db, req);
    if (!user) return reply(res, 401, { code: 'unauthorized', message: 'sign in first' });
    const patientId = url.searchParams.get('patientId');
    const doctorId = url.searchParams.get('doctorId');
    if (user.id !== patientId && user.id !== doctorId) {
      return reply(res, 403, { code: 'forbidden', message: 'not your conversation' });
    }
    const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 50) || 50, 1), 500);
    return reply(res, 200, db.history(patientId, doctorId, limit));
  }
  return reply(res, 404, { code: 'not_found', message: 'no such endpoint' });
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const db = store.open(args.db, args.synchronous);
  // On record in the server log: what durability the benchmark actually ran with.
  const mode = db.db.pragma('journal_mode', { simple: true });
  const sync = ['OFF', 'NORMAL', 'FULL', 'EXTRA'][db.db.pragma('synchronous', { simple: true })];
  process.stderr.write(`reference server: journal_mode=${mode} synchronous=${sync}\n`);
  const server = http.createServer((req, res) => {
    route(db, req, res).catch((err) => {
      if (!res.headersSent) {
        const code = err.status === 413 ? 'too_large' : err.status ? 'bad_request' : 'internal';
        reply(res, err.status ?? 500, { code, message: err.message });
      }
    });
  });
  // Socket.io takes the requests under /socket.io/ before this handler sees them.
  const io = new Server(server, { serveClient: false, maxHttpBufferSize: 256 * 1024 });
  attach(io, db);
  const at = args.listen.lastIndexOf(':');
  server.listen(Number(args.listen.slice(at + 1)), args.listen.slice(0, at), () => {
    const { address, port } = server.address();
    process.stdout.write(`listening on http://${address}:${port}\n`);
  });
  const stop = () => {
    io.close(); // also closes the HTTP server
    db.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
