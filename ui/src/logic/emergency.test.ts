import { describe, expect, it } from 'vitest';
import { DOCTOR, DOCTOR2, PATIENT, PATIENT2, emergency, msg } from '../test/fixtures';
import type { Emergency } from '../types';
import { LOCKED_PRESS_NOTE } from '../generated/bindings';
import {
  bannerTitle,
  emergencyStatus,
  escalatedWhileWaiting,
  formatAge,
  latestEmergency,
  newestPress,
  newestPressWritten,
  openEmergencies,
  patientWords,
  previewText,
  resolutionRows,
  upsertEmergency,
  waitingSince,
} from './emergency';

const e = (
  id: string,
  state: Emergency['state'],
  raisedAt: string,
  extra: Partial<Emergency> = {},
): Emergency =>
  emergency({
    id,
    messageId: `m-${id}`,
    patientId: 'p1',
    doctorId: 'd1',
    patientName: 'Pat',
    state,
    raisedAt,
    ...extra,
  });

describe('emergency lists', () => {
  it('open ones: longest waiting first, resolved dropped', () => {
    const list = [
      e('a', 'ACKNOWLEDGED', '2026-01-01T08:00:00Z'),
      e('b', 'RAISED', '2026-01-01T09:00:00Z'),
      e('c', 'RAISED', '2026-01-01T07:00:00Z'),
      e('d', 'RESOLVED', '2026-01-01T06:00:00Z'),
    ];
    expect(openEmergencies(list).map((x) => x.id)).toEqual(['c', 'a', 'b']);
  });

  it('banner rows never move when one is acknowledged (the next Acknowledge stays put)', () => {
    const before = [
      e('a', 'RAISED', '2026-01-01T08:00:00Z'),
      e('b', 'RAISED', '2026-01-01T08:00:00Z'),
      e('c', 'RAISED', '2026-01-01T09:00:00Z'),
    ];
    const order = openEmergencies(before).map((x) => x.id);
    for (const taken of order) {
      const after = upsertEmergency(before, {
        ...before.find((x) => x.id === taken)!,
        state: 'ACKNOWLEDGED',
      });
      expect(openEmergencies(after).map((x) => x.id)).toEqual(order);
      // Arrival order in the list does not matter either.
      expect(openEmergencies([...after].reverse()).map((x) => x.id)).toEqual(order);
    }
  });

  it('says how long ago, and cuts a long text on a word for the preview', () => {
    const now = Date.parse('2026-01-01T10:00:00Z');
    expect(formatAge('2026-01-01T09:59:55Z', now)).toBe('just now');
    expect(formatAge('2026-01-01T09:59:40Z', now)).toBe('20 s ago');
    expect(formatAge('2026-01-01T09:57:00Z', now)).toBe('3 min ago');
    expect(formatAge('2026-01-01T07:55:00Z', now)).toBe('2 h 5 min ago');
    expect(formatAge('2026-01-01T08:00:00Z', now)).toBe('2 h ago');
    // A weekend is said in days.
    expect(formatAge('2025-12-30T10:00:00Z', now)).toBe('2 d ago');
    expect(formatAge('2025-12-29T07:00:00Z', now)).toBe('3 d 3 h ago');
    expect(formatAge('2025-12-31T09:00:00Z', now)).toBe('25 h ago');
    expect(formatAge('nonsense', now)).toBe('');
    expect(previewText('  chest   pain\n now ')).toEqual({ text: 'chest pain now', cut: false });
    const long = previewText('word '.repeat(60), 20);
    expect(long.cut).toBe(true);
    expect(long.text).toBe('word word word word…');
  });

  it('upserts by id and finds the latest of a conversation', () => {
    let list = upsertEmergency([], e('a', 'RAISED', '2026-01-01T08:00:00Z'));
    list = upsertEmergency(list, e('b', 'RAISED', '2026-01-01T09:00:00Z'));
    list = upsertEmergency(list, e('a', 'RESOLVED', '2026-01-01T08:00:00Z'));
    expect(list).toHaveLength(2);
    expect(latestEmergency(list, { patientId: 'p1', doctorId: 'd1' })?.id).toBe('b');
    expect(latestEmergency(list, { patientId: 'p9', doctorId: 'd1' })).toBeNull();
    // Her open emergency raised with another doctor is told in this conversation too, over a
    // resolved one of this conversation; resolved elsewhere, it is not.
    const resolvedHere = e('a', 'RESOLVED', '2026-01-01T08:00:00Z');
    const elsewhere = { ...e('c', 'ACKNOWLEDGED', '2026-01-01T07:00:00Z'), doctorId: 'd2' };
    expect(latestEmergency([resolvedHere, elsewhere], { patientId: 'p1', doctorId: 'd1' })?.id).toBe('c');
    expect(latestEmergency([resolvedHere], { patientId: 'p1', doctorId: 'd1' })?.id).toBe('a');
    const closed = { ...elsewhere, state: 'RESOLVED' as const };
    expect(latestEmergency([closed], { patientId: 'p1', doctorId: 'd1' })).toBeNull();
  });
});

describe('patientWords', () => {
  it("takes off only the app's own line, at the end after a blank line", () => {
    expect(patientWords(`I fell\n\n${LOCKED_PRESS_NOTE}\n`)).toEqual({
      said: 'I fell',
      aside: LOCKED_PRESS_NOTE,
    });
    // Her words are hers, also when they quote it.
    expect(patientWords(`${LOCKED_PRESS_NOTE} I fell`)).toEqual({
      said: `${LOCKED_PRESS_NOTE} I fell`,
      aside: null,
    });
    expect(patientWords('(I fell)')).toEqual({ said: '(I fell)', aside: null });
    // A press an earlier version sent.
    const earlier = "(Sent from the lock screen of the patient's app, without their password.)";
    expect(patientWords(`I fell\n\n${earlier}`)).toEqual({ said: 'I fell', aside: earlier });
  });
});

describe('emergencyStatus (what the patient sees)', () => {
  it('walks sending -> received -> Dr. X is on it -> resolved', () => {
    const pending = msg({ seq: null, isEmergency: true, createdAt: '2026-01-01T10:00:00Z' });
    expect(emergencyStatus(null, pending)?.tone).toBe('sending');
    expect(emergencyStatus(null, { ...pending, status: 'FAILED' })?.tone).toBe('failed');
    const raised = e('a', 'RAISED', '2026-01-01T10:00:01Z');
    const soon = { now: Date.parse('2026-01-01T10:00:11Z'), clinic: null, online: true };
    expect(emergencyStatus(raised, null, soon)).toEqual({
      tone: 'raised',
      text: 'Emergency received - alerting the doctors (raised 10 s ago)',
      afterOpen: 'The clinic is alerting the doctors (raised 10 s ago)',
    });
    const ack = { ...raised, state: 'ACKNOWLEDGED' as const, acknowledgedByName: 'Dr. Dana Doe' };
    expect(emergencyStatus(ack, null)?.text).toBe('Dr. Dana Doe is on it');
    expect(emergencyStatus({ ...ack, state: 'RESOLVED', resolutionNote: 'Called back' }, null)?.text).toBe(
      'Resolved: Called back',
    );
    // Who resolved it (not always who took it), with or without a note.
    const resolved = { ...ack, state: 'RESOLVED' as const, resolvedByName: 'Dr. Minh Nguyen' };
    expect(emergencyStatus({ ...resolved, resolutionNote: 'Called back' }, null)?.text).toBe(
      'Resolved by Dr. Minh Nguyen: Called back',
    );
    expect(emergencyStatus({ ...resolved, resolutionNote: null }, null)?.text).toBe(
      'Resolved by Dr. Minh Nguyen',
    );
    expect(emergencyStatus(null, null)).toBeNull();
  });

  it('pressed again after a doctor took it: waiting since then, not since the first press', () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const reopened = {
      ...e('a', 'RAISED', '2026-01-01T08:00:00Z'),
      reopenedAt: '2026-01-01T10:00:00Z',
    };
    const at = (iso: string) => ({ now: Date.parse(iso), clinic, online: true });
    expect(emergencyStatus(reopened, null, at('2026-01-01T10:00:12Z'))).toEqual({
      tone: 'raised',
      text: 'Emergency received - alerting the doctors (raised again 12 s ago)',
      afterOpen: 'The clinic is alerting the doctors (raised again 12 s ago)',
    });
    expect(emergencyStatus(reopened, null, at('2026-01-01T10:00:40Z'))?.text).toBe(
      'No doctor has answered yet (raised again 40 s ago); the clinic keeps alerting them.',
    );
    expect(waitingSince(reopened)).toBe('2026-01-01T10:00:00Z');
    // It had escalated before a doctor took it: kept, but nobody has failed to answer it since.
    const escalatedBefore = { ...reopened, escalatedAt: '2026-01-01T08:02:00Z' };
    expect(escalatedWhileWaiting(escalatedBefore)).toBe(false);
    expect(emergencyStatus(escalatedBefore, null, at('2026-01-01T10:00:05Z'))?.tone).toBe('raised');
    const escalatedSince = { ...reopened, escalatedAt: '2026-01-01T10:02:00Z' };
    expect(escalatedWhileWaiting(escalatedSince)).toBe(true);
    expect(emergencyStatus(escalatedSince, null, at('2026-01-01T10:02:05Z'))?.tone).toBe('unanswered');
    // A press not sent, older than what the emergency waits since, does not hide it.
    const older = { status: 'FAILED' as const, createdAt: '2026-01-01T09:00:00Z' };
    expect(emergencyStatus(reopened, older, at('2026-01-01T10:00:05Z'))?.tone).toBe('raised');
    const newer = { status: 'FAILED' as const, createdAt: '2026-01-01T10:00:03Z' };
    expect(emergencyStatus(reopened, newer, at('2026-01-01T10:00:05Z'))?.tone).toBe('failed');
    expect(waitingSince({ ...reopened, reopenedAt: undefined })).toBe('2026-01-01T08:00:00Z');
  });

  it('tells the patient to call the clinic number when offline, not sent, or unanswered', () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const at = (iso: string, online = true) => ({ now: Date.parse(iso), clinic, online });
    const pending = msg({ seq: null, isEmergency: true, createdAt: '2026-01-01T10:00:00Z' });
    const offline = emergencyStatus(null, pending, at('2026-01-01T10:02:00Z', false));
    expect(offline?.call).toBe('+44 20 7946 0000');
    expect(offline?.text).toContain('You are offline');
    expect(offline?.text).toContain('written 2 min ago');
    expect(emergencyStatus(null, pending, at('2026-01-01T10:00:01Z'))?.call).toBeUndefined();
    expect(emergencyStatus(null, { ...pending, status: 'FAILED' }, at('2026-01-01T10:00:01Z'))?.call).toBe(
      '+44 20 7946 0000',
    );

    const raised = e('a', 'RAISED', '2026-01-01T10:00:00Z');
    // Within one repeat interval: alerting, no number yet.
    expect(emergencyStatus(raised, null, at('2026-01-01T10:00:29Z'))?.tone).toBe('raised');
    // Nobody acknowledged after the repeat interval: say so, with the time, and the number.
    const unanswered = emergencyStatus(raised, null, at('2026-01-01T10:03:10Z'));
    expect(unanswered?.tone).toBe('unanswered');
    expect(unanswered?.text).toContain('No doctor has answered yet (raised 3 min ago)');
    expect(unanswered?.call).toBe('+44 20 7946 0000');
    // Once a doctor has it, the number goes away.
    const ack = { ...raised, state: 'ACKNOWLEDGED' as const, acknowledgedByName: 'Dr. Dana Doe' };
    expect(emergencyStatus(ack, null, at('2026-01-01T10:03:10Z'))?.call).toBeUndefined();
    // Without a clinic number, the words still say where to turn.
    expect(emergencyStatus(raised, null, { ...at('2026-01-01T10:03:10Z'), clinic: null })?.call).toBe(
      'your local emergency number',
    );
  });

  it("an emergency that waited on the patient's device says when it was written", () => {
    const clinic = { emergencyPhone: '+44 20 7946 0000', emergencyRepeatSecs: 30 };
    const at = (iso: string) => ({ now: Date.parse(iso), clinic, online: true });
    const raised = { ...e('a', 'RAISED', '2026-01-01T10:00:00Z'), writtenAt: '2026-01-01T09:48:00Z' };
    expect(emergencyStatus(raised, null, at('2026-01-01T10:00:10Z'))).toEqual({
      tone: 'raised',
      text: 'Emergency received - alerting the doctors (you wrote it 12 min ago; it reached the clinic 10 s ago)',
      afterOpen:
        'The clinic is alerting the doctors (you wrote it 12 min ago; it reached the clinic 10 s ago)',
    });
    // The repeat interval counts from when the clinic had it, not from when it was written.
    const unanswered = emergencyStatus(raised, null, at('2026-01-01T10:00:40Z'));
    expect(unanswered?.tone).toBe('unanswered');
    expect(unanswered?.text).toBe(
      'No doctor has answered yet (you wrote it 12 min ago; it reached the clinic 40 s ago); the clinic keeps alerting them.',
    );
    expect(emergencyStatus(raised, null, at('2026-01-01T10:00:20Z'))?.tone).toBe('raised');
    // After a press written once it had reached the clinic (it joined or reopened the
    // emergency) the first one's times are not it; one written with it offline is.
    const later = { ...at('2026-01-01T10:00:40Z'), newestPress: '2026-01-01T10:00:30Z' };
    expect(emergencyStatus(raised, null, later)?.text).toContain('(raised 40 s ago)');
    const together = { ...at('2026-01-01T10:00:40Z'), newestPress: '2026-01-01T09:48:20Z' };
    expect(emergencyStatus(raised, null, together)?.text).toContain('you wrote it 12 min ago');
  });

  it("an emergency's newest press: the one that raised it or a later one, never an older one", () => {
    const e1 = e('a', 'RAISED', '2026-01-01T10:00:00Z', { messageId: 'm-2' });
    const press = (seq: number, id: string, createdAt: string, isEmergency = true) =>
      msg({ seq, id, createdAt, isEmergency });
    const before = press(1, 'm-1', '2026-01-01T09:00:00Z');
    const raising = press(2, 'm-2', '2026-01-01T10:00:00Z');
    const plain = press(3, 'm-3', '2026-01-01T10:01:00Z', false);
    const later = press(4, 'm-4', '2026-01-01T10:02:00Z');
    expect(newestPress([], e1)).toBeNull();
    expect(newestPress([before], e1)).toBeNull();
    expect(newestPress([before, raising, plain], e1)?.id).toBe('m-2');
    expect(newestPress([later, before, raising, plain], e1)?.id).toBe('m-4');
  });

  it('a press is written, at the earliest, a minute before the clinic had it unless it says', () => {
    const press = (createdAt: string, writtenAt: string | null = null, id: string | null = 'm-1') =>
      msg({ isEmergency: true, id, seq: id ? 1 : null, createdAt, writtenAt });
    expect(newestPressWritten([])).toBeNull();
    expect(newestPressWritten([press('2026-01-01T10:00:00Z')])).toBe('2026-01-01T09:59:00.000Z');
    expect(
      newestPressWritten([
        press('2026-01-01T10:00:00Z'),
        press('2026-01-01T10:05:00Z', '2026-01-01T09:50:00Z'),
      ]),
    ).toBe('2026-01-01T09:50:00Z');
    // A press not yet sent is not one the clinic has.
    expect(
      newestPressWritten([press('2026-01-01T10:00:00Z'), press('2026-01-01T10:09:00Z', null, null)]),
    ).toBe('2026-01-01T09:59:00.000Z');
  });

  it('a new pending emergency wins over an older resolved one', () => {
    const old = e('a', 'RESOLVED', '2026-01-01T09:00:00Z');
    const pending = msg({ seq: null, isEmergency: true, createdAt: '2026-01-01T10:00:00Z' });
    expect(emergencyStatus(old, pending)?.tone).toBe('sending');
  });
});

describe('resolutionRows', () => {
  const iso = (min: number) => new Date(Date.UTC(2026, 0, 1, 10, min)).toISOString();
  const press = (seq: number | null, min: number, patientId = PATIENT.id) =>
    msg({ seq, createdAt: iso(min), isEmergency: true, messageType: 'EMERGENCY', patientId });
  const resolved = emergency({ raisedAt: iso(10), state: 'RESOLVED', resolvedAt: iso(20) });

  it('places a resolution under the newest press from its raise to its resolution, and nowhere else', () => {
    const items = [
      press(1, 5), // an earlier emergency's
      press(2, 10), // raised it
      msg({ seq: 3, createdAt: iso(12) }),
      press(4, 15), // joined it
      press(5, 16, PATIENT2.id), // another patient's (a doctor's other conversation is not here)
      press(6, 25), // after the resolution: a new emergency
      press(null, 18), // not sent yet
    ];
    expect([...resolutionRows(items, [resolved]).rows]).toEqual([[3, [resolved]]]);
    expect(resolutionRows(items, [{ ...resolved, resolvedAt: null }]).rows.size).toBe(0);
    expect(resolutionRows([msg({ seq: 9, createdAt: iso(15) })], [resolved]).rows.size).toBe(0);
  });

  it("keeps the record in the conversation of the doctor who took one raised in another's", () => {
    const taken = { ...resolved, acknowledgedBy: DOCTOR2.id, resolvedBy: DOCTOR2.id };
    const theirs = [
      msg({ seq: 1, createdAt: iso(5), doctorId: DOCTOR2.id }), // before the emergency
      msg({ seq: 2, createdAt: iso(12), doctorId: DOCTOR2.id, senderId: DOCTOR2.id }), // the reply
      msg({ seq: 3, createdAt: iso(30), doctorId: DOCTOR2.id }), // after it
    ];
    expect([...resolutionRows(theirs, [taken], DOCTOR2.id, false).rows]).toEqual([[1, [taken]]]);
    // Nothing of theirs yet: first, once the start is loaded.
    expect(resolutionRows([], [taken], DOCTOR2.id, false).first).toEqual([taken]);
    expect(resolutionRows([], [taken], DOCTOR2.id, true).first).toEqual([]);
    // Not in a third doctor's conversation, nor for one the conversation's doctor did not take.
    expect(resolutionRows(theirs, [taken], 'd3', false)).toEqual({ rows: new Map(), first: [] });
    const other = { ...resolved, acknowledgedBy: 'd3', resolvedBy: 'd3' };
    expect(resolutionRows(theirs, [other], DOCTOR2.id, false)).toEqual({ rows: new Map(), first: [] });
    // Its own conversation places it under its press as before.
    expect(resolutionRows([press(2, 10)], [taken], DOCTOR.id, false).rows.get(0)).toEqual([taken]);
  });

  it('keeps every resolution that falls under the same message, oldest first (a tester lost all but one)', () => {
    const later = {
      ...resolved,
      id: 'e-later',
      raisedAt: iso(40),
      resolvedAt: iso(45),
      acknowledgedBy: DOCTOR2.id,
      resolvedBy: 'd3',
    };
    const taken = { ...resolved, acknowledgedBy: DOCTOR2.id, resolvedBy: DOCTOR2.id };
    const theirs = [msg({ seq: 1, createdAt: iso(5), doctorId: DOCTOR2.id })];
    // Both were taken by this doctor with nothing written here in between.
    expect([...resolutionRows(theirs, [later, taken], DOCTOR2.id, false).rows]).toEqual([
      [0, [taken, later]],
    ]);
    expect(resolutionRows([], [later, taken], DOCTOR2.id, false).first).toEqual([taken, later]);
  });
});

describe('bannerTitle', () => {
  it('counts the open emergencies and, when some are taken, those still needing a doctor', () => {
    const taken = emergency({ id: 'e-taken', state: 'ACKNOWLEDGED' });
    const waiting = emergency({ id: 'e-waiting' });
    expect(bannerTitle([waiting])).toBe('Emergency');
    expect(bannerTitle([taken, waiting])).toBe('2 emergencies · 1 needs a doctor');
    expect(bannerTitle([taken, waiting, emergency({ id: 'e3' })])).toBe('3 emergencies · 2 need a doctor');
    expect(bannerTitle([waiting, emergency({ id: 'e3' })])).toBe('2 emergencies');
    expect(bannerTitle([taken, { ...taken, id: 'e-t2' }])).toBe('2 emergencies');
  });
});
