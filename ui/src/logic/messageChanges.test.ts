import { describe, expect, it } from 'vitest';
import { msg } from '../test/fixtures';
import {
  canEdit,
  canUnsend,
  editedText,
  replyBeforeEdit,
  tombstoneText,
  unsendLabel,
} from './messageChanges';
import { DOCTOR, PATIENT } from '../test/fixtures';

const windows = { unsendSecs: 86_400, retractSecs: 900, editSecs: 86_400, maxEdits: 10 };
const sent = Date.UTC(2026, 0, 1, 9, 0, 0);
const at = (minutes: number) => sent + minutes * 60_000;
const mineAt = (extra = {}) => msg({ seq: 1, createdAt: new Date(sent).toISOString(), ...extra });

describe('unsend and edit', () => {
  it('patients unsend within 24 hours, doctors retract within 15 minutes', () => {
    const message = mineAt();
    const base = { message, mine: true, windows };
    expect(canUnsend({ ...base, role: 'PATIENT', now: at(23 * 60) })).toBe(true);
    expect(canUnsend({ ...base, role: 'PATIENT', now: at(24 * 60) })).toBe(false);
    expect(canUnsend({ ...base, role: 'DOCTOR', now: at(14) })).toBe(true);
    expect(canUnsend({ ...base, role: 'DOCTOR', now: at(15) })).toBe(false);
    // Later a doctor corrects by editing.
    expect(canEdit({ ...base, role: 'DOCTOR', now: at(60) })).toBe(true);
    expect(unsendLabel('PATIENT')).toBe('Unsend');
    expect(unsendLabel('DOCTOR')).toBe('Retract');
  });

  it('never for the other side, emergencies, tombstones, pending or unsent sends, or without windows', () => {
    const now = at(1);
    const ctx = (message = mineAt(), mine = true, w: typeof windows | null = windows) => ({
      message,
      mine,
      windows: w,
      role: 'PATIENT' as const,
      now,
    });
    const refused = [
      ctx(mineAt(), false),
      ctx(mineAt({ isEmergency: true, messageType: 'EMERGENCY' })),
      ctx(mineAt({ retracted: { by: 'p', at: new Date(now).toISOString() }, content: '' })),
      ctx(mineAt({ pendingChange: { kind: 'edit', clientId: 'x', content: 'new' } })),
      ctx(msg({ seq: null })),
      ctx(mineAt(), true, null),
    ];
    for (const c of refused) {
      expect(canUnsend(c)).toBe(false);
      expect(canEdit(c)).toBe(false);
    }
    expect(canUnsend(ctx())).toBe(true);
  });

  it('at most ten edits', () => {
    const base = { mine: true, windows, role: 'PATIENT' as const, now: at(1) };
    const edited = (version: number) => mineAt({ edited: { at: new Date(at(1)).toISOString(), version } });
    expect(canEdit({ ...base, message: edited(10) })).toBe(true);
    expect(canEdit({ ...base, message: edited(11) })).toBe(false);
  });

  it('says who took a message back, and when it was edited', () => {
    const when = new Date(Date.UTC(2026, 0, 1, 9, 5)).toISOString();
    const now = new Date(Date.UTC(2026, 0, 1, 12));
    expect(tombstoneText('Alice Martin', 'PATIENT', when, now)).toMatch(
      /^Message unsent by Alice Martin at /,
    );
    expect(tombstoneText('Dr. Patel', 'DOCTOR', when, now)).toMatch(/^Message retracted by Dr. Patel at /);
    expect(editedText(when, now)).toMatch(/^edited /);
  });
});

describe('an edit after a reply', () => {
  const iso = (minutes: number) => new Date(at(minutes)).toISOString();
  const hers = msg({ seq: 1, createdAt: iso(0), edited: { at: iso(10), version: 2 } });
  const reply = msg({ seq: 2, createdAt: iso(5), senderId: DOCTOR.id });
  const laterReply = msg({ seq: 3, createdAt: iso(20), senderId: DOCTOR.id });
  const hersAgain = msg({ seq: 2, createdAt: iso(5) });

  it('is told when the other side wrote between the message and its edit', () => {
    expect(replyBeforeEdit(hers, [hers, reply], DOCTOR.id)).toBe('me');
    expect(replyBeforeEdit(hers, [hers, reply], PATIENT.id)).toBe('other');
    expect(editedText(iso(10), new Date(at(60)), 'me')).toMatch(/^edited after your reply, /);
    expect(editedText(iso(10), new Date(at(60)), 'other')).toMatch(/^edited after a reply, /);
  });

  it('is not told for a reply after the edit, her own next message, or no edit', () => {
    expect(replyBeforeEdit(hers, [hers, laterReply], DOCTOR.id)).toBeNull();
    expect(replyBeforeEdit(hers, [hers, hersAgain], DOCTOR.id)).toBeNull();
    const plain = msg({ seq: 1, createdAt: iso(0) });
    expect(replyBeforeEdit(plain, [plain, reply], DOCTOR.id)).toBeNull();
    const gone = { ...hers, retracted: { by: PATIENT.id, at: iso(30) } };
    expect(replyBeforeEdit(gone, [gone, reply], DOCTOR.id)).toBeNull();
  });
});
