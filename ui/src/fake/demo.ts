// Demo data and scenarios for the fake backend (`npm run dev`, then open /?as=doctor).
// Query parameters: as=patient|doctor (signed in) or absent (login screen; password "password"),
// scenario=emergency (an open emergency) | offline (no connection, a queued message), open=<username>.

import type { Contact, Emergency, LocalMessage } from '../types';
import { FakeBackend } from './fakeBackend';

const NO_PATIENT_INFO = { dateOfBirth: null, age: null, bloodGroup: null };

export const DEMO_USERS: Contact[] = [
  {
    id: 'p-maria',
    username: 'maria',
    name: 'Maria Santos',
    role: 'PATIENT',
    age: 34,
    bloodGroup: 'A+',
    dateOfBirth: '1992-03-14',
    online: true,
  },
  {
    id: 'p-john',
    username: 'john',
    name: 'John Miller',
    role: 'PATIENT',
    age: 67,
    bloodGroup: 'O-',
    dateOfBirth: '1959-07-02',
    online: false,
  },
  {
    id: 'p-fatima',
    username: 'fatima',
    name: 'Fatima Rahman',
    role: 'PATIENT',
    age: 8,
    bloodGroup: 'B+',
    dateOfBirth: '2018-01-20',
    online: true,
  },
  {
    id: 'd-silva',
    username: 'drsilva',
    name: 'Dr. Ana Silva',
    role: 'DOCTOR',
    online: true,
    ...NO_PATIENT_INFO,
  },
  {
    id: 'd-chen',
    username: 'drchen',
    name: 'Dr. Wei Chen',
    role: 'DOCTOR',
    online: false,
    ...NO_PATIENT_INFO,
  },
  {
    id: 'd-okafor',
    username: 'drokafor',
    name: 'Dr. Ngozi Okafor',
    role: 'DOCTOR',
    online: true,
    ...NO_PATIENT_INFO,
  },
];

const LINES: [boolean, string][] = [
  [true, 'Good morning doctor, the cough is still there after the antibiotics.'],
  [false, 'Good morning Maria. Any fever since yesterday?'],
  [true, 'A little, 37.8 in the evening.'],
  [false, 'Keep taking the full course, and drink plenty of water.'],
  [true, 'Should I come in for a check-up?'],
  [false, 'Yes, Thursday at 10:00 works. Bring your last blood test results.'],
];

let clientCounter = 0;

export function demoMessage(
  patientId: string,
  doctorId: string,
  fromPatient: boolean,
  content: string,
  seq: number,
  minutesAgo: number,
  extra: Partial<LocalMessage> = {},
): LocalMessage {
  const at = new Date(Date.now() - minutesAgo * 60_000).toISOString();
  return {
    id: `m-${seq}`,
    seq,
    clientId: `demo-${++clientCounter}`,
    patientId,
    doctorId,
    senderId: fromPatient ? patientId : doctorId,
    content,
    messageType: 'REGULAR',
    status: 'READ',
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
    ...extra,
  };
}

/** A long history (for paging) between Maria and Dr. Silva, plus a few other conversations. */
export function demoMessages(): LocalMessage[] {
  const out: LocalMessage[] = [];
  let seq = 1;
  for (let i = 0; i < 120; i += 1) {
    const [fromPatient, text] = LINES[i % LINES.length];
    out.push(demoMessage('p-maria', 'd-silva', fromPatient, `${text}`, seq++, (130 - i) * 90));
  }
  out.push(
    demoMessage('p-maria', 'd-silva', false, 'Here is the leaflet about the inhaler.', seq++, 40, {
      messageType: 'FILE',
      fileName: 'inhaler-guide.pdf',
      fileSize: 482_000,
      fileType: 'application/pdf',
      fileUrl: '/files/f1',
    }),
    demoMessage('p-maria', 'd-silva', true, 'Thank you! This is the rash I mentioned.', seq++, 30, {
      messageType: 'FILE',
      fileName: 'rash-photo.jpg',
      fileSize: 1_240_000,
      fileType: 'image/jpeg',
      fileUrl: '/files/f2',
      status: 'READ',
    }),
    demoMessage(
      'p-maria',
      'd-silva',
      false,
      'It looks like a mild allergic reaction. Use the cream twice a day.',
      seq++,
      12,
      { status: 'DELIVERED' },
    ),
    demoMessage('p-maria', 'd-silva', true, 'OK, will do.', seq++, 10, { status: 'DELIVERED' }),
    demoMessage('p-maria', 'd-chen', true, 'Is my prescription ready for pickup?', seq++, 60 * 26, {
      status: 'READ',
    }),
    demoMessage('p-maria', 'd-chen', false, 'Yes, at the front desk from 2 pm.', seq++, 60 * 25, {
      status: 'READ',
    }),
    demoMessage('p-john', 'd-silva', true, 'My blood pressure reading this morning was 150/95.', seq++, 50, {
      status: 'DELIVERED',
    }),
    demoMessage('p-john', 'd-silva', true, 'Should I double the dose?', seq++, 49, { status: 'DELIVERED' }),
    demoMessage('p-fatima', 'd-silva', true, 'Chest pain and trouble breathing!!', seq++, 3, {
      status: 'DELIVERED',
      isEmergency: true,
      messageType: 'EMERGENCY',
    }),
  );
  return out;
}

function demoEmergency(messages: LocalMessage[]): Emergency {
  const m = messages[messages.length - 1];
  return {
    id: 'e-1',
    messageId: m.id ?? 'm-x',
    patientId: m.patientId,
    doctorId: m.doctorId,
    patientName: 'Fatima Rahman',
    state: 'RAISED',
    raisedAt: m.createdAt,
    escalatedAt: null,
    alertedAt: null,
    alertedDoctors: 1,
    acknowledgedBy: null,
    acknowledgedByName: null,
    acknowledgedAt: null,
    resolvedBy: null,
    resolvedAt: null,
    resolutionNote: null,
  };
}

/** The fake backend for the given URL search string. */
export function demoBackend(search: string): FakeBackend {
  const params = new URLSearchParams(search);
  const as = params.get('as');
  const scenario = params.get('scenario');
  const messages = demoMessages();
  const user = DEMO_USERS.find((u) => u.id === (as === 'doctor' ? 'd-silva' : 'p-maria'));
  const emergencies = scenario === 'emergency' ? [demoEmergency(messages)] : [];
  const offline = scenario === 'offline';
  if (offline) {
    messages.push({
      ...demoMessage('p-maria', 'd-silva', as !== 'doctor', 'Written while the network was down.', 0, 1),
      id: null,
      seq: null,
      status: 'SENDING',
    });
  }
  const fake = new FakeBackend({
    users: DEMO_USERS,
    session:
      as && user
        ? {
            serverUrl: 'http://192.168.1.10:8470',
            user: { id: user.id, username: user.username, name: user.name, role: user.role },
          }
        : null,
    messages: scenario === 'emergency' ? messages : messages.filter((m) => !m.isEmergency),
    emergencies,
    connection: offline
      ? {
          state: 'connecting',
          attempt: 3,
          queued: 1,
          lastError: 'The clinic server cannot be reached: nothing is listening on port 8470.',
        }
      : { state: 'online', queued: 0 },
    ackDelayMs: 700,
    ringing: scenario === 'emergency' ? emergencies.map((e) => e.id) : [],
  });
  if (scenario === 'emergency') setTimeout(() => fake.upsertEmergency(emergencies[0], true), 50);
  // ?open=<username> opens that conversation, the way a click on a notification would.
  const open = DEMO_USERS.find((u) => u.username === params.get('open'));
  if (open && user)
    setTimeout(() => {
      const key =
        user.role === 'PATIENT'
          ? { patientId: user.id, doctorId: open.id }
          : { patientId: open.id, doctorId: user.id };
      fake.emit({ type: 'openConversation', ...key });
    }, 100);
  wireBrowserDrop(fake);
  return fake;
}

/** In a plain browser, turn HTML drag-and-drop of files into the fake's native-drop events. */
function wireBrowserDrop(fake: FakeBackend): void {
  if (typeof window === 'undefined') return;
  window.addEventListener('dragover', (e) => {
    e.preventDefault();
    fake.drop({ kind: 'over' });
  });
  window.addEventListener('dragleave', () => fake.drop({ kind: 'leave' }));
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    const files = [...(e.dataTransfer?.files ?? [])].map((f) => ({
      path: `browser://${f.name}`,
      name: f.name,
      size: f.size,
      mimeType: f.type || 'application/octet-stream',
    }));
    fake.drop({ kind: 'drop', files });
  });
}
