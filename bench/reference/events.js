// The seed's Socket.io events (src/lib/socket.ts in the seed): authenticate, chat rooms per
// patient-doctor pair, personal and role rooms, messages persisted and broadcast, typing, read
// receipts, emergency alerts to every doctor, online/offline presence.

'use strict';

const MAX_CONTENT_BYTES = 16 * 1024;

const chatRoom = (patientId, doctorId) => `chat:${patientId}:${doctorId}`;
const userRoom = (userId) => `user:${userId}`;

function isId(value) {
  return typeof value === 'string' && value.length > 0 && value.length <= 128;
}

/** Whether `user` is the patient or the doctor of the pair, in that role. */
function participant(user, patientId, doctorId) {
  return (
    (user.role === 'PATIENT' && user.id === patientId) ||
    (user.role === 'DOCTOR' && user.id === doctorId)
  );
}

/** Validates a `message:send` body; returns an error sentence or null. */
function invalidMessage(user, input) {
  if (!input || typeof input !== 'object') return 'the message must be an object';
  if (!isId(input.patientId) || !isId(input.doctorId)) return 'patientId and doctorId are needed';
  if (typeof input.content !== 'string') return 'content must be text';
  if (input.content.trim() === '' && !input.fileUrl) return 'content is empty';
  if (Buffer.byteLength(input.content) > MAX_CONTENT_BYTES) return 'content is over 16 KiB';
  if (!participant(user, input.patientId, input.doctorId)) return 'not your conversation';
  if (input.isEmergency === true && user.role !== 'PATIENT') return 'only patients raise emergencies';
  return null;
}

/** Wires the seed's events on `io` over `store`. */
function attach(io, store) {
  // userId -> number of open authenticated sockets (the seed's user-to-socket map).
  const online = new Map();

  io.on('connection', (socket) => {
    const fail = (code, message, clientId) => socket.emit('error', { code, message, clientId });
    const signedIn = () => {
      if (!socket.data.user) fail('unauthorized', 'authenticate first');
      return socket.data.user;
    };

    socket.on('authenticate', (body) => {
      const user = body && typeof body.token === 'string' ? store.userByToken(body.token) : null;
      if (!user) {
        fail('unauthorized', 'bad or expired token');
        socket.disconnect(true);
        return;
      }
      if (socket.data.user) return;
      socket.data.user = user;
      socket.join([userRoom(user.id), `role:${user.role}`]);
      const count = (online.get(user.id) ?? 0) + 1;
      online.set(user.id, count);
      socket.emit('authenticated', { user });
      if (count === 1) socket.broadcast.emit('user:online', { userId: user.id });
    });

    socket.on('join:chat', (body) => {
      const user = signedIn();
      if (!user || !body) return;
      if (!participant(user, body.patientId, body.doctorId)) {
        fail('forbidden', 'not your conversation');
        return;
      }
      socket.join(chatRoom(body.patientId, body.doctorId));
      socket.emit('chat:joined', { patientId: body.patientId, doctorId: body.doctorId });
    });

    socket.on('leave:chat', (body) => {
      if (!signedIn() || !body) return;
      socket.leave(chatRoom(body.patientId, body.doctorId));
      socket.emit('chat:left', { patientId: body.patientId, doctorId: body.doctorId });
    });

    socket.on('message:send', (input, ack) => {
      const user = signedIn();
      if (!user) return;
      const clientId = input && typeof input.clientId === 'string' ? input.clientId : undefined;
      const invalid = invalidMessage(user, input);
      if (invalid) {
        fail(invalid === 'not your conversation' ? 'forbidden' : 'bad_request', invalid, clientId);
        return;
      }
      let saved;
      try {
        saved = store.send(user, input);
      } catch (err) {
        // A foreign key names an unknown user; anything else is a server fault.
        const unknown = err && err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
        fail(unknown ? 'not_found' : 'internal', unknown ? 'no such user' : 'not saved', clientId);
        return;
      }
      const message = { ...saved.message, clientId };
      // The recipient's sockets, the sender's other sockets and whoever joined the chat room;
      // Socket.io sends each socket one copy and skips the sending socket.
      socket
        .to(chatRoom(input.patientId, input.doctorId))
        .to(userRoom(input.patientId))
        .to(userRoom(input.doctorId))
        .emit('message:received', message);
      for (const n of saved.notifications) io.to(userRoom(n.userId)).emit('notification', n);
      if (message.isEmergency) {
        io.to('role:DOCTOR').emit('emergency:alert', { message, patientId: input.patientId });
      }
      if (typeof ack === 'function') ack({ message });
    });

    for (const [event, echo] of [
      ['typing:start', 'typing:started'],
      ['typing:stop', 'typing:stopped'],
    ]) {
      socket.on(event, (body) => {
        const user = signedIn();
        if (!user || !body || !participant(user, body.patientId, body.doctorId)) return;
        socket
          .to(chatRoom(body.patientId, body.doctorId))
          .emit(echo, { patientId: body.patientId, doctorId: body.doctorId, userId: user.id });
      });
    }

    socket.on('message:read', (body) => {
      const user = signedIn();
      if (!user || !body || !isId(body.messageId)) return;
      if (!participant(user, body.patientId, body.doctorId)) {
        fail('forbidden', 'not your conversation');
        return;
      }
      const readAt = new Date().toISOString();
      if (!store.markRead(user.id, body.messageId, body.patientId, body.doctorId, readAt)) return;
      io.to(chatRoom(body.patientId, body.doctorId))
        .to(userRoom(body.patientId))
        .to(userRoom(body.doctorId))
        .emit('message:read:confirmed', {
          messageId: body.messageId,
          patientId: body.patientId,
          doctorId: body.doctorId,
          readerId: user.id,
          readAt,
        });
    });

    socket.on('disconnect', () => {
      const user = socket.data.user;
      if (!user) return;
      const count = (online.get(user.id) ?? 1) - 1;
      if (count > 0) {
        online.set(user.id, count);
        return;
      }
      online.delete(user.id);
      socket.broadcast.emit('user:offline', { userId: user.id });
    });
  });
}

module.exports = { attach };
