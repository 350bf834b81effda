import { describe, expect, it } from 'vitest';
import { DOCTOR, PATIENT, sessionOf } from '../test/fixtures';
import type { Conversation } from '../types';
import { keyOf, keyWith, sameKey, totalUnread } from './conversations';

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
