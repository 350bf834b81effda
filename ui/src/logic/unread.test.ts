import { describe, expect, it } from 'vitest';
import { DOCTOR, PATIENT, msg } from '../test/fixtures';
import { firstUnread, isUnread } from './unread';

describe('unread messages', () => {
  it('are the other person’s messages to me not read yet', () => {
    expect(isUnread(msg({ seq: 1, senderId: PATIENT.id, status: 'DELIVERED' }), DOCTOR.id)).toBe(true);
    expect(isUnread(msg({ seq: 2, senderId: PATIENT.id, status: 'READ' }), DOCTOR.id)).toBe(false);
  });

  it('never include my own messages, taken back ones, or another doctor’s conversation', () => {
    expect(isUnread(msg({ seq: 1, senderId: DOCTOR.id }), DOCTOR.id)).toBe(false);
    const retracted = msg({ seq: 2, retracted: { by: PATIENT.id, at: '2026-01-01T09:00:00Z' } });
    expect(isUnread(retracted, DOCTOR.id)).toBe(false);
    expect(isUnread(msg({ seq: 3, senderId: PATIENT.id }), 'u-another-doctor')).toBe(false);
  });

  it('start at the oldest one', () => {
    const items = [
      msg({ seq: 1, status: 'READ' }),
      msg({ seq: 2, senderId: DOCTOR.id }),
      msg({ seq: 3 }),
      msg({ seq: 4 }),
    ];
    expect(firstUnread(items, DOCTOR.id)?.id).toBe('m3');
    expect(firstUnread(items.slice(0, 2), DOCTOR.id)).toBeNull();
  });
});
