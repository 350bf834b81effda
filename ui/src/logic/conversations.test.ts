import { describe, expect, it } from 'vitest';
import { DOCTOR, PATIENT, msg, sessionOf } from '../test/fixtures';
import type { Conversation, Message } from '../types';
import { keepOrder, keyOf, keyWith, matchesFind, preview, sameKey, totalUnread } from './conversations';

describe('conversation keys', () => {
  it('are stable strings and compare by both ids', () => {
    expect(keyOf({ patientId: 'a', doctorId: 'b' })).toBe('a|b');
    expect(sameKey({ patientId: 'a', doctorId: 'b' }, { patientId: 'a', doctorId: 'b' })).toBe(true);
    expect(sameKey({ patientId: 'a', doctorId: 'c' }, { patientId: 'a', doctorId: 'b' })).toBe(false);
    expect(sameKey(null, { patientId: 'a', doctorId: 'b' })).toBe(false);
  });

  it('put the patient first whoever I am', () => {
    expect(keyWith(sessionOf(PATIENT).user, DOCTOR)).toEqual({ patientId: PATIENT.id, doctorId: DOCTOR.id });
    expect(keyWith(sessionOf(DOCTOR).user, PATIENT)).toEqual({ patientId: PATIENT.id, doctorId: DOCTOR.id });
  });

  it('add up the unread counts the core sends', () => {
    const c = (unreadCount: number) => ({ unreadCount }) as Conversation;
    expect(totalUnread([c(2), c(0), c(3)])).toBe(5);
  });
});

describe('the preview under a name', () => {
  const withLast = (other: typeof DOCTOR, last: Partial<Message> | null) =>
    ({
      otherParty: other,
      lastMessage: last && { ...msg({ seq: 1 }), ...last },
    }) as unknown as Conversation;
  const tombstone = { content: '', retracted: { by: PATIENT.id, at: '2026-01-01T10:00:00Z' } };
  const patient = sessionOf(PATIENT).user;
  const doctor = sessionOf(DOCTOR).user;

  it('says what became of an unsent or retracted last message, never a bare "You:"', () => {
    expect(preview(withLast(DOCTOR, { ...tombstone, senderId: PATIENT.id }), patient)).toBe(
      'You unsent a message',
    );
    expect(preview(withLast(PATIENT, { ...tombstone, senderId: PATIENT.id }), doctor)).toBe('Message unsent');
    expect(preview(withLast(PATIENT, { ...tombstone, senderId: DOCTOR.id }), doctor)).toBe(
      'You retracted a message',
    );
    expect(preview(withLast(DOCTOR, { ...tombstone, senderId: DOCTOR.id }), patient)).toBe(
      'Message retracted',
    );
  });

  it('says that a last message of mine was not sent (parked, waiting for Retry or Discard)', () => {
    expect(
      preview(withLast(DOCTOR, { content: 'hi', senderId: PATIENT.id, status: 'FAILED' }), patient),
    ).toBe('Not sent: hi');
    expect(
      preview(withLast(DOCTOR, { content: 'hi', senderId: PATIENT.id, status: 'SENDING' }), patient),
    ).toBe('You: hi');
  });

  it('shows the text or the file, mine with "You:"', () => {
    expect(preview(withLast(DOCTOR, { content: 'hi', senderId: PATIENT.id }), patient)).toBe('You: hi');
    expect(preview(withLast(DOCTOR, { content: '', fileName: 'x.pdf', senderId: DOCTOR.id }), patient)).toBe(
      'Attachment: x.pdf',
    );
    expect(preview(withLast(DOCTOR, null), patient)).toBe('Start a conversation');
    expect(preview(withLast(PATIENT, null), doctor)).toBe('No messages yet');
  });
});

describe('the order held under the pointer', () => {
  const row = (doctorId: string) => ({ patientId: PATIENT.id, doctorId }) as unknown as Conversation;
  it("keeps the rows where they were, new ones after them in the core's order", () => {
    const held = ['a', 'b', 'c'].map((d) => keyOf(row(d)));
    const next = ['c', 'n1', 'a', 'n2', 'b'].map(row);
    expect(keepOrder(held, next).map((c) => c.doctorId)).toEqual(['a', 'b', 'c', 'n1', 'n2']);
    // A row gone is gone.
    expect(keepOrder(held, ['b', 'a'].map(row)).map((c) => c.doctorId)).toEqual(['a', 'b']);
  });
});

describe('finding a row by name', () => {
  const row = (name: string, username: string) =>
    ({ otherParty: { ...PATIENT, name, username } }) as unknown as Conversation;
  const jose = row('José María Núñez', 'jose.nunez');

  it('matches words at the start of the name, without accents or case, or in the username', () => {
    expect(matchesFind(jose, '')).toBe(true);
    expect(matchesFind(jose, 'jose')).toBe(true);
    expect(matchesFind(jose, 'NUÑ')).toBe(true);
    expect(matchesFind(jose, 'maria nu')).toBe(true);
    expect(matchesFind(jose, 'ria')).toBe(false);
    expect(matchesFind(jose, 'e.nu')).toBe(true);
    expect(matchesFind(jose, 'maria smith')).toBe(false);
    expect(matchesFind(row("Aoife O'Brien", 'aoife'), 'brien')).toBe(true);
  });
});
