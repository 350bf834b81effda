// Shared test data: small users, messages, and a FakeBackend + ChatStore ready to use.

import { FakeBackend, type FakeOptions } from '../fake/fakeBackend';
import { ChatStore } from '../store/chatStore';
import type { Contact, Emergency, LocalMessage, Session } from '../types';

const NO_PATIENT_INFO = { dateOfBirth: null, age: null, bloodGroup: null };

export const PATIENT: Contact = {
  id: 'p1',
  username: 'pat',
  name: 'Pat Patient',
  role: 'PATIENT',
  age: 40,
  bloodGroup: 'AB-',
  dateOfBirth: null,
  online: true,
};
export const PATIENT2: Contact = {
  id: 'p2',
  username: 'quinn',
  name: 'Quinn Other',
  role: 'PATIENT',
  age: 70,
  bloodGroup: 'O+',
  dateOfBirth: null,
  online: false,
};
export const DOCTOR: Contact = {
  id: 'd1',
  username: 'doc',
  name: 'Dr. Dana Doe',
  role: 'DOCTOR',
  ...NO_PATIENT_INFO,
  online: true,
};
export const DOCTOR2: Contact = {
  id: 'd2',
  username: 'doc2',
  name: 'Dr. Eli Roe',
  role: 'DOCTOR',
  ...NO_PATIENT_INFO,
  online: false,
};
export const USERS = [PATIENT, PATIENT2, DOCTOR, DOCTOR2];

export function sessionOf(c: Contact): Session {
  return {
    serverUrl: 'http://127.0.0.1:8470',
    user: { id: c.id, username: c.username, name: c.name, role: c.role },
  };
}

let n = 0;

/** A message; `seq` null makes it pending (no id yet). */
export function msg(partial: Partial<LocalMessage> & { seq: number | null }): LocalMessage {
  n += 1;
  const at = partial.createdAt ?? new Date(Date.UTC(2026, 0, 1, 9, 0, n)).toISOString();
  return {
    id: partial.seq === null ? null : `m${partial.seq}`,
    clientId: `c${n}`,
    patientId: PATIENT.id,
    doctorId: DOCTOR.id,
    senderId: PATIENT.id,
    content: `hello ${n}`,
    messageType: 'REGULAR',
    status: partial.seq === null ? 'SENDING' : 'SENT',
    isEmergency: false,
    fileUrl: null,
    fileName: null,
    fileSize: null,
    fileType: null,
    resolvedAt: null,
    deliveredAt: null,
    readAt: null,
    error: null,
    errorCode: null,
    localFilePath: null,
    retracted: null,
    edited: null,
    writtenAt: null,
    pendingChange: null,
    changeNotice: null,
    onItsWay: false,
    createdAt: at,
    updatedAt: at,
    ...partial,
  };
}

/** An emergency of PATIENT with DOCTOR, RAISED unless said otherwise. */
export function emergency(partial: Partial<Emergency> = {}): Emergency {
  return {
    id: 'e1',
    messageId: 'm1',
    patientId: PATIENT.id,
    doctorId: DOCTOR.id,
    patientName: PATIENT.name,
    state: 'RAISED',
    raisedAt: '2026-01-01T10:00:00Z',
    escalatedAt: null,
    alertedAt: null,
    alertedDoctors: 0,
    acknowledgedBy: null,
    acknowledgedByName: null,
    acknowledgedAt: null,
    resolvedBy: null,
    resolvedAt: null,
    resolutionNote: null,
    ...partial,
  };
}

/** `count` acked messages alternating between the two participants, seq 1..count. */
export function history(count: number): LocalMessage[] {
  return Array.from({ length: count }, (_, i) =>
    msg({ seq: i + 1, senderId: i % 2 ? DOCTOR.id : PATIENT.id, status: 'READ', content: `line ${i + 1}` }),
  );
}

export function setup(opts: Partial<FakeOptions> & { as?: Contact | null } = {}) {
  const { as = PATIENT, ...rest } = opts;
  const fake = new FakeBackend({
    users: USERS,
    session: as ? sessionOf(as) : null,
    ackDelayMs: null,
    ...rest,
  });
  const store = new ChatStore(fake);
  return { fake, store };
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}
