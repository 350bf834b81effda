import { act, cleanup, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { DOCTOR, DOCTOR2, PATIENT, emergency, msg, setup } from '../test/fixtures';
import { renderApp } from '../test/render';

const note = 'Take your spray now; I am calling you.';

/** A patient's emergency pressed twice (seq 2 and 4) and resolved with a note; a message after. */
function resolvedClinic(resolvedAt: string | null) {
  const t0 = resolvedAt ? Date.parse(resolvedAt) - 10 * 60_000 : Date.now() - 10 * 60_000;
  const iso = (min: number) => new Date(t0 + min * 60_000).toISOString();
  // The server stamps each press with the resolution's time; no press's stamp is needed to
  // place the note (the sockets are not told of the stamps).
  const press = { isEmergency: true, messageType: 'EMERGENCY' as const, resolvedAt: null };
  const messages = [
    msg({ seq: 1, content: 'before', createdAt: iso(-5) }),
    msg({ seq: 2, content: 'chest pain', createdAt: iso(0), ...press }),
    msg({ seq: 3, senderId: DOCTOR.id, content: 'on my way', createdAt: iso(1) }),
    msg({ seq: 4, content: 'worse now', createdAt: iso(2), ...press }),
    msg({ seq: 5, content: 'thank you', createdAt: iso(11) }),
  ];
  const resolved = emergency({
    messageId: 'm2',
    raisedAt: iso(0),
    state: 'RESOLVED',
    acknowledgedByName: DOCTOR.name,
    resolvedBy: DOCTOR.id,
    resolvedByName: DOCTOR.name,
    resolvedAt,
    resolutionNote: note,
  });
  return { messages, emergencies: [resolved] };
}

describe('an emergency resolved', () => {
  it('stays in the conversation after a restart: who resolved it and the note, once, under the last press', async () => {
    const resolvedAt = new Date(Date.now() - 3 * 3600_000).toISOString();
    const s = await renderApp(setup({ as: PATIENT, ...resolvedClinic(resolvedAt) }));
    await s.user.click(await screen.findByTestId('conversation-doc'));
    const notes = await screen.findAllByTestId('resolution-note');
    expect(notes).toHaveLength(1);
    expect(notes[0]).toHaveTextContent(`Emergency resolved by ${DOCTOR.name} at`);
    expect(within(notes[0]).getByTestId('resolution-text')).toHaveTextContent(note);
    // Under the second press, the one it closed last.
    const row = notes[0].closest('.message-row');
    expect(row).not.toBeNull();
    expect(within(row as HTMLElement).getByTestId('message')).toHaveTextContent('worse now');
    expect(s.fake.callsOf('resolved_emergencies')).toEqual([{ patientId: PATIENT.id, doctorId: DOCTOR.id }]);
    // The status line says it too, within a day of the resolution.
    expect(screen.getByTestId('emergency-status')).toHaveTextContent(`Resolved by ${DOCTOR.name}: ${note}`);
  });

  it("taken by another doctor: the patient's status line opens that doctor's conversation with her", async () => {
    const taken = emergency({
      raisedAt: new Date().toISOString(),
      state: 'ACKNOWLEDGED',
      acknowledgedBy: DOCTOR2.id,
      acknowledgedByName: DOCTOR2.name,
    });
    const press = msg({ seq: 1, content: 'I fell', isEmergency: true, messageType: 'EMERGENCY' });
    const s = await renderApp(setup({ as: PATIENT, messages: [press], emergencies: [taken] }));
    await s.user.click(await screen.findByTestId('conversation-doc'));
    expect(screen.getByTestId('emergency-status')).toHaveTextContent(`${DOCTOR2.name} is on it`);
    await s.user.click(screen.getByTestId('emergency-open-taker'));
    await waitFor(() =>
      expect(s.store.getState().active).toEqual({ patientId: PATIENT.id, doctorId: DOCTOR2.id }),
    );
    expect(screen.getByTestId('chat-title')).toHaveTextContent(DOCTOR2.name);
    // Taken by the conversation's own doctor, it has nothing to open.
    cleanup();
    const own = await renderApp(
      setup({
        as: PATIENT,
        messages: [press],
        emergencies: [{ ...taken, acknowledgedBy: DOCTOR.id, acknowledgedByName: DOCTOR.name }],
      }),
    );
    await own.user.click(await screen.findByTestId('conversation-doc'));
    expect(screen.getByTestId('emergency-status')).toHaveTextContent(`${DOCTOR.name} is on it`);
    expect(screen.queryByTestId('emergency-open-taker')).toBeNull();
  });

  it('stays in the conversation of the doctor who took it from another doctor, also with no message yet', async () => {
    const t0 = Date.now() - 3600_000;
    const iso = (min: number) => new Date(t0 + min * 60_000).toISOString();
    const done = emergency({
      raisedAt: iso(0),
      state: 'RESOLVED',
      acknowledgedBy: DOCTOR2.id,
      acknowledgedByName: DOCTOR2.name,
      resolvedBy: DOCTOR2.id,
      resolvedByName: DOCTOR2.name,
      resolvedAt: iso(20),
      resolutionNote: note,
    });
    const press = msg({
      seq: 1,
      content: 'I fell',
      createdAt: iso(0),
      isEmergency: true,
      messageType: 'EMERGENCY',
    });
    const s = await renderApp(setup({ as: DOCTOR2, messages: [press], emergencies: [done] }));
    // Their own conversation with her, opened as taking the emergency opens it.
    await act(() => s.store.select({ patientId: PATIENT.id, doctorId: DOCTOR2.id }));
    expect(await screen.findByText('No messages yet. Say hello!')).toBeInTheDocument();
    const record = await screen.findByTestId('resolution-note');
    expect(record).toHaveTextContent(`Emergency resolved by ${DOCTOR2.name} at`);
    expect(record).toHaveTextContent(note);
    expect(within(record).getByTestId('resolution-elsewhere')).toHaveTextContent(
      'It was raised in the conversation with another doctor.',
    );
    // A reply of theirs before the resolution: the record goes under it.
    const reply = msg({
      seq: 2,
      content: 'On my way',
      createdAt: iso(5),
      doctorId: DOCTOR2.id,
      senderId: DOCTOR2.id,
    });
    cleanup();
    const again = await renderApp(setup({ as: DOCTOR2, messages: [press, reply], emergencies: [done] }));
    await again.user.click(await screen.findByTestId('conversation-pat'));
    const row = (await screen.findByTestId('resolution-note')).closest('.message-row');
    expect(within(row as HTMLElement).getByTestId('message')).toHaveTextContent('On my way');
  });

  it("a doctor who took it from another doctor's conversation is shown where to read it, and stays there", async () => {
    const raised = emergency({ raisedAt: new Date().toISOString() });
    const press = msg({ seq: 1, id: 'm1', content: 'I fell', isEmergency: true, messageType: 'EMERGENCY' });
    const s = await renderApp(setup({ as: DOCTOR2, messages: [press], emergencies: [raised] }));
    const theirs = { patientId: PATIENT.id, doctorId: DOCTOR.id };
    const own = { patientId: PATIENT.id, doctorId: DOCTOR2.id };
    await act(() => s.store.openEmergency(raised));
    expect(s.store.getState().active).toEqual(theirs);
    await act(() => s.store.acknowledge(raised.id));
    // Taking it opened their own conversation: the list brings it, and the page moves there.
    const listed = [{ ...s.fake.conversationList()[0], ...own }];
    act(() => s.fake.emit({ type: 'conversations', conversations: listed }));
    await waitFor(() => expect(s.store.getState().active).toEqual(own));
    expect(await screen.findByTestId('taken-elsewhere')).toHaveTextContent(
      `You took ${PATIENT.name}'s emergency, raised in their conversation with another doctor.`,
    );
    await s.user.click(screen.getByTestId('taken-elsewhere-open'));
    await waitFor(() => expect(s.store.getState().active).toEqual(theirs));
    expect(await screen.findByTestId('not-your-conversation')).toBeInTheDocument();
    expect(screen.queryByTestId('taken-elsewhere')).toBeNull();
    // The list changes again (a message, a receipt): the doctor stays where they chose to read.
    act(() => s.fake.emit({ type: 'conversations', conversations: listed }));
    await act(async () => {
      await new Promise((r) => setTimeout(r, 20));
    });
    expect(s.store.getState().active).toEqual(theirs);
    // A third doctor's conversation with her says nothing of what this doctor took.
    await act(() => s.store.select({ patientId: PATIENT.id, doctorId: 'doctor-3' }));
    expect(await screen.findByTestId('not-your-conversation')).toBeInTheDocument();
    expect(screen.queryByTestId('taken-elsewhere')).toBeNull();
  });

  it("a doctor with a conversation of their own with her is told there, before anyone took it, that her emergency is in another doctor's", async () => {
    const raised = emergency({ raisedAt: new Date().toISOString() });
    const press = msg({ seq: 1, id: 'm1', content: 'I fell', isEmergency: true, messageType: 'EMERGENCY' });
    const before = msg({ seq: 1, doctorId: DOCTOR2.id, senderId: DOCTOR2.id, content: 'See you on Friday' });
    const s = await renderApp(setup({ as: DOCTOR2, messages: [before, press], emergencies: [raised] }));
    const theirs = { patientId: PATIENT.id, doctorId: DOCTOR.id };
    const own = { patientId: PATIENT.id, doctorId: DOCTOR2.id };
    await screen.findByTestId('conversation-pat');
    // "Open chat" in the banner leads to their own conversation with her, where they can write.
    await s.user.click(within(screen.getByTestId('emergency-banner')).getByTestId('emergency-open-chat'));
    await waitFor(() => expect(s.store.getState().active).toEqual(own));
    const note = await screen.findByTestId('taken-elsewhere');
    expect(note).toHaveTextContent(
      `${PATIENT.name}'s emergency, raised in their conversation with another doctor, is waiting for a doctor: nobody has acknowledged it yet.`,
    );
    // Another doctor takes it: the line says who.
    act(() =>
      s.fake.upsertEmergency({
        ...raised,
        state: 'ACKNOWLEDGED',
        acknowledgedBy: DOCTOR.id,
        acknowledgedByName: DOCTOR.name,
        acknowledgedAt: new Date().toISOString(),
      }),
    );
    await waitFor(() =>
      expect(screen.getByTestId('taken-elsewhere')).toHaveTextContent(
        `${PATIENT.name}'s emergency, raised in their conversation with another doctor, was taken by ${DOCTOR.name}.`,
      ),
    );
    await s.user.click(screen.getByTestId('taken-elsewhere-open'));
    await waitFor(() => expect(s.store.getState().active).toEqual(theirs));
    expect(await screen.findByTestId('not-your-conversation')).toBeInTheDocument();
  });

  it('after a day the status line no longer says it; the conversation still does', async () => {
    const resolvedAt = new Date(Date.now() - 25 * 3600_000).toISOString();
    const s = await renderApp(setup({ as: PATIENT, ...resolvedClinic(resolvedAt) }));
    await s.user.click(await screen.findByTestId('conversation-doc'));
    expect(await screen.findByTestId('resolution-note')).toHaveTextContent(note);
    expect(screen.queryByTestId('emergency-status')).toBeNull();
  });

  it('a doctor resolving it reads it in the conversation at once; it is dropped while locked', async () => {
    const { messages: open, emergencies } = resolvedClinic(null);
    const raised = {
      ...emergencies[0],
      state: 'ACKNOWLEDGED' as const,
      resolvedAt: null,
      resolutionNote: null,
    };
    const s = await renderApp(setup({ as: DOCTOR, messages: open, emergencies: [raised] }));
    await s.user.click(await screen.findByTestId('conversation-pat'));
    expect(screen.queryByTestId('resolution-note')).toBeNull();
    const banner = screen.getByTestId('emergency-banner');
    await s.user.click(within(banner).getByTestId('emergency-resolve'));
    await s.user.type(within(banner).getByTestId('emergency-resolve-note'), 'Called back');
    await s.user.click(within(banner).getByTestId('emergency-resolve-submit'));
    const shown = await screen.findByTestId('resolution-note');
    expect(shown).toHaveTextContent(`Emergency resolved by ${DOCTOR.name} at`);
    expect(shown).toHaveTextContent('Called back');
    expect(JSON.stringify(s.store.getState())).toContain('Called back');
    // A snapshot carries only open emergencies: the resolution stays in the conversation.
    act(() => s.fake.emit({ type: 'snapshot', snapshot: s.fake.snapshot() }));
    expect(await screen.findByTestId('resolution-note')).toHaveTextContent('Called back');
    await act(() => s.store.lockNow());
    expect(JSON.stringify(s.store.getState())).not.toContain('Called back');
  });
});

describe("the banner's Open chat", () => {
  it('goes to the press the banner quotes: the newest once pressed again', async () => {
    const { messages, emergencies } = resolvedClinic(null);
    const reopened = {
      ...emergencies[0],
      state: 'RAISED' as const,
      resolvedAt: null,
      resolutionNote: null,
      reopenedAt: messages[3].createdAt,
    };
    const s = await renderApp(setup({ as: DOCTOR, messages, emergencies: [] }));
    // The alert of the second press carries it.
    act(() => s.fake.upsertEmergency(reopened, false, messages[3]));
    const banner = await screen.findByTestId('emergency-banner');
    expect(within(banner).getByTestId('emergency-text')).toHaveTextContent('worse now');
    await s.user.click(within(banner).getByTestId('emergency-open-chat'));
    await waitFor(() => expect(document.querySelector('[data-highlighted=true]')).not.toBeNull());
    expect(document.querySelector('[data-highlighted=true]')).toHaveTextContent('worse now');
  });
});

describe("the banner's ages", () => {
  it('are drawn again when the emergency changes, so they never lag what changed with it', async () => {
    const raisedAt = new Date(Date.now() - 119_300).toISOString();
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [] }));
    act(() => s.fake.upsertEmergency(emergency({ raisedAt }), false));
    const banner = await screen.findByTestId('emergency-banner');
    expect(within(banner).getByTestId('emergency-age')).toHaveTextContent('raised 1 min ago');
    await new Promise((r) => setTimeout(r, 900));
    // Two minutes in it escalates: the age is drawn again with it, not at the next tick.
    act(() => s.fake.upsertEmergency(emergency({ raisedAt, escalatedAt: new Date().toISOString() }), false));
    await waitFor(() =>
      expect(within(banner).getByTestId('emergency-age')).toHaveTextContent('raised 2 min ago'),
    );
  });
});
