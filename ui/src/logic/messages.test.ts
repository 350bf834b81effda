import { describe, expect, it } from 'vitest';
import { msg } from '../test/fixtures';
import {
  compareMessages,
  hasUnread,
  mergeMessages,
  mergeStatus,
  oldestSeq,
  retryCanHelp,
  upsertMessage,
} from './messages';

describe('upsertMessage', () => {
  it('inserts new messages in seq order, pending ones last', () => {
    const pending = msg({ seq: null });
    const a = msg({ seq: 2 });
    const b = msg({ seq: 1 });
    const list = [pending, a, b].reduce(upsertMessage, []);
    expect(list.map((m) => m.clientId)).toEqual([b.clientId, a.clientId, pending.clientId]);
  });

  it('replaces the optimistic message by clientId when the ack arrives', () => {
    const sending = msg({ seq: null, content: 'hi' });
    const later = msg({ seq: 5 });
    let list = upsertMessage([], sending);
    list = upsertMessage(list, later);
    const acked = { ...sending, id: 'm9', seq: 9, status: 'SENT' as const };
    list = upsertMessage(list, acked);
    expect(list).toHaveLength(2);
    expect(list[1]).toMatchObject({ clientId: sending.clientId, id: 'm9', seq: 9, status: 'SENT' });
  });

  it('matches by id too, and keeps fields the update lacks', () => {
    const a = msg({ seq: 3, localFilePath: '/tmp/a.png' });
    const update = { ...a, clientId: 'other', status: 'DELIVERED' as const, localFilePath: null };
    const list = upsertMessage([a], update);
    expect(list).toHaveLength(1);
    expect(list[0].status).toBe('DELIVERED');
    expect(list[0].localFilePath).toBe('/tmp/a.png');
  });

  it('never moves a server status backwards (READ before a late DELIVERED)', () => {
    const a = msg({ seq: 1, status: 'READ' });
    const list = upsertMessage([a], { ...a, status: 'DELIVERED' });
    expect(list[0].status).toBe('READ');
  });

  it('keeps the error only while FAILED, and a retry goes back to SENDING', () => {
    const a = msg({ seq: null });
    let list = upsertMessage([a], { ...a, status: 'FAILED', error: 'too large' });
    expect(list[0]).toMatchObject({ status: 'FAILED', error: 'too large' });
    list = upsertMessage(list, { ...a, status: 'SENDING' });
    expect(list[0]).toMatchObject({ status: 'SENDING', error: null });
  });
});

describe('mergeStatus', () => {
  it.each([
    ['SENDING', 'SENT', 'SENT'],
    ['SENT', 'SENDING', 'SENT'],
    ['DELIVERED', 'FAILED', 'DELIVERED'],
    ['FAILED', 'SENDING', 'SENDING'],
    ['SENDING', 'FAILED', 'FAILED'],
    ['SENT', 'READ', 'READ'],
  ] as const)('%s + %s -> %s', (current, incoming, expected) => {
    expect(mergeStatus(current, incoming)).toBe(expected);
  });
});

describe('paging helpers', () => {
  it('merges an older page before the loaded ones without duplicates', () => {
    const newer = [msg({ seq: 10 }), msg({ seq: 11 })];
    const older = [msg({ seq: 8 }), msg({ seq: 9 }), newer[0]];
    const list = mergeMessages(newer, older);
    expect(list.map((m) => m.seq)).toEqual([8, 9, 10, 11]);
    expect(oldestSeq(list)).toBe(8);
    expect(oldestSeq([msg({ seq: null })])).toBeUndefined();
  });

  it('merging a page updates known messages by clientId or id', () => {
    const a = msg({ seq: 1, status: 'SENT' });
    const pending = msg({ seq: null });
    const list = mergeMessages(
      [a, pending],
      [
        { ...a, clientId: 'renamed', status: 'READ' },
        { ...pending, id: 'm7', seq: 7, status: 'SENT' },
        msg({ seq: 3 }),
      ],
    );
    expect(list.map((m) => [m.seq, m.status])).toEqual([
      [1, 'READ'],
      [3, 'SENT'],
      [7, 'SENT'],
    ]);
  });

  it('orders pending messages by creation time', () => {
    const a = msg({ seq: null, createdAt: '2026-01-01T10:00:00Z' });
    const b = msg({ seq: null, createdAt: '2026-01-01T10:00:01Z' });
    expect(compareMessages(a, b)).toBeLessThan(0);
    expect(compareMessages(b, a)).toBeGreaterThan(0);
  });
});

describe('hasUnread', () => {
  it('sees acked messages from others that are not READ', () => {
    expect(hasUnread([msg({ seq: 1, senderId: 'd1', status: 'DELIVERED' })], 'p1')).toBe(true);
    expect(
      hasUnread([msg({ seq: 2, senderId: 'd1', status: 'READ' }), msg({ seq: 3, senderId: 'p1' })], 'p1'),
    ).toBe(false);
  });
});

describe('identity', () => {
  it('a peer reusing my clientId is another message; the server id wins when both have one', () => {
    const mine = msg({ seq: null, senderId: 'p1', clientId: 'same' });
    const theirs = msg({ seq: 5, senderId: 'd1', clientId: 'same' });
    const list = upsertMessage(upsertMessage([], mine), theirs);
    expect(list).toHaveLength(2);
    const merged = mergeMessages(list, [{ ...theirs, status: 'READ' }]);
    expect(merged.map((m) => [m.senderId, m.status])).toEqual([
      ['d1', 'READ'],
      ['p1', 'SENDING'],
    ]);
  });
});

describe('Retry', () => {
  it('is offered where trying again can help, and always for an emergency', () => {
    const parked = (errorCode: string | null, isEmergency = false) =>
      msg({ seq: null, status: 'FAILED', errorCode, isEmergency });
    expect(retryCanHelp(parked('unavailable'))).toBe(true);
    expect(retryCanHelp(parked('rate_limited'))).toBe(true);
    expect(retryCanHelp(parked(null))).toBe(true);
    for (const code of ['unsupported_media_type', 'too_large', 'bad_request'])
      expect(retryCanHelp(parked(code))).toBe(false);
    expect(retryCanHelp(parked('bad_request', true))).toBe(true);
  });
});
