import { describe, expect, it } from 'vitest';
import { DOCTOR, DOCTOR2, PATIENT, PATIENT2, msg, sessionOf } from '../test/fixtures';
import type { Conversation, Emergency } from '../types';
import {
  applyEmergency,
  applyMessage,
  clearUnread,
  keyOf,
  sortConversations,
  totalUnread,
  withContacts,
} from './conversations';

const doctor = sessionOf(DOCTOR).user;

function conv(other: typeof PATIENT, lastAt: string | null, extra: Partial<Conversation> = {}): Conversation {
  return {
    patientId: other.id,
    doctorId: DOCTOR.id,
    otherParty: other,
    lastMessage: lastAt ? msg({ seq: 1, patientId: other.id, createdAt: lastAt }) : null,
    unreadCount: 0,
    hasEmergency: false,
    ...extra,
  };
}

const emergency: Emergency = {
  id: 'e1',
  messageId: 'm1',
  patientId: PATIENT2.id,
  doctorId: DOCTOR.id,
  patientName: PATIENT2.name,
  state: 'RAISED',
  raisedAt: '2026-01-01T08:00:00Z',
};

describe('sortConversations', () => {
  it('puts open emergencies first, then the most recent', () => {
    const recent = conv(PATIENT, '2026-01-02T10:00:00Z');
    const old = conv(PATIENT2, '2026-01-01T10:00:00Z', { hasEmergency: true });
    const never = conv({ ...PATIENT, id: 'p3', name: 'Aaron' }, null);
    expect(sortConversations([never, recent, old]).map((c) => c.otherParty.id)).toEqual([
      PATIENT2.id,
      PATIENT.id,
      'p3',
    ]);
  });
});

describe('withContacts', () => {
  it('adds contacts without a conversation, for the right role pairing', () => {
    const patient = sessionOf(PATIENT).user;
    const list = withContacts(
      [conv(PATIENT, '2026-01-02T10:00:00Z')].map((c) => ({ ...c, otherParty: DOCTOR })),
      [DOCTOR, DOCTOR2],
      patient,
    );
    expect(list).toHaveLength(2);
    expect(list[1]).toMatchObject({
      patientId: PATIENT.id,
      doctorId: DOCTOR2.id,
      unreadCount: 0,
      hasEmergency: false,
    });
  });
});

describe('applyMessage', () => {
  const base = [conv(PATIENT, '2026-01-01T10:00:00Z'), conv(PATIENT2, '2026-01-01T11:00:00Z')];

  it('counts a new incoming message as unread and moves the conversation up', () => {
    const m = msg({ seq: 7, patientId: PATIENT.id, senderId: PATIENT.id, createdAt: '2026-01-01T12:00:00Z' });
    const next = applyMessage(base, m, doctor, null);
    expect(next[0].otherParty.id).toBe(PATIENT.id);
    expect(next[0].unreadCount).toBe(1);
    expect(next[0].lastMessage?.clientId).toBe(m.clientId);
    expect(totalUnread(next)).toBe(1);
  });

  it('does not count it while the conversation is open, or my own, or an update', () => {
    const m = msg({ seq: 7, patientId: PATIENT.id, senderId: PATIENT.id, createdAt: '2026-01-01T12:00:00Z' });
    expect(applyMessage(base, m, doctor, { patientId: PATIENT.id, doctorId: DOCTOR.id })[0].unreadCount).toBe(
      0,
    );
    const mine = { ...m, senderId: DOCTOR.id };
    expect(applyMessage(base, mine, doctor, null)[0].unreadCount).toBe(0);
    const once = applyMessage(base, m, doctor, null);
    const again = applyMessage(once, { ...m, status: 'DELIVERED' }, doctor, null);
    expect(again[0].unreadCount).toBe(1);
  });

  it('ignores older messages (history) and unknown conversations', () => {
    const list = [conv(PATIENT, '2026-01-01T10:00:00Z')];
    list[0] = { ...list[0], lastMessage: msg({ seq: 50, patientId: PATIENT.id }) };
    const older = msg({ seq: 3, patientId: PATIENT.id, senderId: PATIENT.id });
    expect(applyMessage(list, older, doctor, null)[0].unreadCount).toBe(0);
    const stranger = msg({ seq: 99, patientId: 'nobody' });
    expect(applyMessage(list, stranger, doctor, null)).toEqual(list);
  });

  it('clearUnread zeroes one conversation', () => {
    const list = [conv(PATIENT, null, { unreadCount: 4 }), conv(PATIENT2, null, { unreadCount: 2 })];
    const next = clearUnread(list, { patientId: PATIENT.id, doctorId: DOCTOR.id });
    expect(next.map((c) => c.unreadCount)).toEqual([0, 2]);
  });
});

describe('applyEmergency', () => {
  it('raises a conversation to the top and drops it back when resolved', () => {
    const base = [conv(PATIENT, '2026-01-02T10:00:00Z'), conv(PATIENT2, '2026-01-01T10:00:00Z')];
    const raised = applyEmergency(base, emergency);
    expect(raised[0]).toMatchObject({ patientId: PATIENT2.id, hasEmergency: true });
    const resolved = applyEmergency(raised, { ...emergency, state: 'RESOLVED' });
    expect(resolved[0].patientId).toBe(PATIENT.id);
    expect(resolved[1]).toMatchObject({ hasEmergency: false, emergency: null });
  });

  it('keys are stable strings', () => {
    expect(keyOf({ patientId: 'a', doctorId: 'b' })).toBe('a|b');
  });
});
