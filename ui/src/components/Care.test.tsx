// The care relation in the UI: a doctor taking another doctor's patient's emergency moves to
// their own conversation with the patient (panel and composer); the patient picker; a refused
// send keeps the text; patients see "Do not disturb", and nothing is claimed while offline.

import { act, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { BackendError } from '../backend';
import { DOCTOR, DOCTOR2, PATIENT, emergency, msg, setup } from '../test/fixtures';
import { renderApp } from '../test/render';

describe('a doctor taking another doctor’s patient', () => {
  it('reads the emergency, acknowledges, and then writes in a conversation of their own', async () => {
    const sos = msg({ seq: 1, id: 'm1', content: 'I fell and cannot stand up', isEmergency: true });
    const s = await renderApp(setup({ as: DOCTOR2, messages: [sos], emergencies: [emergency()] }));
    // Not in the list before: not this doctor's patient.
    expect(screen.queryByTestId('conversation-pat')).toBeNull();
    const banner = screen.getByTestId('emergency-banner');
    await s.user.click(within(banner).getByTestId('emergency-open-chat'));
    // The other doctor's conversation is for reading only: no composer to lose text in. It is
    // named after its patient, and says whose it is.
    expect(await screen.findByTestId('not-your-conversation')).toBeInTheDocument();
    expect(screen.queryByTestId('message-input')).toBeNull();
    expect(screen.getByTestId('chat-title')).toHaveTextContent(PATIENT.name);
    expect(screen.getByTestId('chat-elsewhere')).toHaveTextContent(
      "The patient's conversation with another doctor",
    );

    await s.user.click(within(banner).getByTestId('emergency-acknowledge'));
    // Now the own conversation is open, with the patient's details and a composer.
    expect(await screen.findByTestId('conversation-pat')).toHaveAttribute('data-active', 'true');
    expect(screen.getByTestId('chat-title')).toHaveTextContent(PATIENT.name);
    expect(screen.getByTestId('patient-blood-group')).toHaveTextContent('AB-');
    await s.user.type(screen.getByTestId('message-input'), 'I am calling you now{Enter}');
    expect(s.fake.callsOf('send_message').at(-1)).toMatchObject({
      patientId: PATIENT.id,
      doctorId: DOCTOR2.id,
      content: 'I am calling you now',
    });
    // Open chat from now on goes to the own conversation.
    await s.user.click(within(banner).getByTestId('emergency-open-chat'));
    expect(screen.getByTestId('message-input')).toBeInTheDocument();
    // Reading the other doctor's conversation again, it says where to write instead.
    await act(() => s.store.select({ patientId: PATIENT.id, doctorId: DOCTOR.id }));
    expect(await screen.findByTestId('not-your-conversation')).toHaveTextContent(
      "You took the patient's emergency",
    );
    await s.user.click(screen.getByTestId('open-own-conversation'));
    expect(await screen.findByTestId('message-input')).toBeInTheDocument();
  });

  it('moves to the own conversation when the list brings it after the answer', async () => {
    const sos = msg({ seq: 1, id: 'm1', content: 'Help', isEmergency: true });
    const s = await renderApp(setup({ as: DOCTOR2, messages: [sos], emergencies: [emergency()] }));
    await s.user.click(within(screen.getByTestId('emergency-banner')).getByTestId('emergency-open-chat'));
    expect(await screen.findByTestId('not-your-conversation')).toBeInTheDocument();
    await s.user.click(within(screen.getByTestId('emergency-banner')).getByTestId('emergency-acknowledge'));
    await waitFor(() => expect(s.fake.callsOf('acknowledge_emergency')).toHaveLength(1));
    // The shell's list (coalesced) arrives late, with the conversation taking opened.
    const own = ownConversation();
    act(() => s.fake.emit({ type: 'conversations', conversations: [own] }));
    expect(await screen.findByTestId('message-input')).toBeInTheDocument();
    expect(screen.getByTestId('conversation-pat')).toHaveAttribute('data-active', 'true');
  });
});

/** The taking doctor's own conversation with the patient, as the shell's list brings it. */
function ownConversation() {
  return {
    patientId: PATIENT.id,
    doctorId: DOCTOR2.id,
    otherParty: PATIENT,
    lastMessage: null,
    unreadCount: 0,
    hasEmergency: false,
    emergency: null,
  };
}

describe('open chat after taking it', () => {
  it('leads to the own conversation when the list brings it after the click', async () => {
    const sos = msg({ seq: 1, id: 'm1', content: 'Help', isEmergency: true });
    const s = await renderApp(setup({ as: DOCTOR2, messages: [sos], emergencies: [emergency()] }));
    // Taken from the banner with nothing open, then "Open chat" before the list has the
    // conversation taking opened.
    await s.user.click(within(screen.getByTestId('emergency-banner')).getByTestId('emergency-acknowledge'));
    await waitFor(() => expect(s.fake.callsOf('acknowledge_emergency')).toHaveLength(1));
    act(() => s.fake.emit({ type: 'conversations', conversations: [] }));
    await s.user.click(within(screen.getByTestId('emergency-banner')).getByTestId('emergency-open-chat'));
    await waitFor(() =>
      expect(s.store.getState().active).toEqual({ patientId: PATIENT.id, doctorId: DOCTOR.id }),
    );
    const own = ownConversation();
    act(() => s.fake.emit({ type: 'conversations', conversations: [own] }));
    await waitFor(() =>
      expect(s.store.getState().active).toEqual({ patientId: PATIENT.id, doctorId: DOCTOR2.id }),
    );
  });
});

describe('the patient picker', () => {
  it('lets a doctor find any patient of the clinic and opens the conversation', async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    expect(screen.queryByTestId('conversation-quinn')).toBeNull();
    await s.user.click(screen.getByTestId('new-conversation'));
    await s.user.type(screen.getByTestId('patient-search'), 'QUI');
    await s.user.click(await screen.findByTestId('patient-result-quinn'));
    expect(s.fake.callsOf('start_conversation')).toEqual([{ patientId: 'p2' }]);
    expect(await screen.findByTestId('conversation-quinn')).toHaveAttribute('data-active', 'true');
    expect(screen.getByTestId('chat-title')).toHaveTextContent('Quinn Other');
    expect(screen.queryByTestId('patient-picker')).toBeNull();
  });

  it('works by keyboard: Down to a result and Enter opens it; Escape gives the focus back', async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    screen.getByTestId('new-conversation').focus();
    await s.user.keyboard('{Enter}');
    expect(screen.getByTestId('patient-search')).toHaveFocus();
    await s.user.keyboard('{Escape}');
    expect(screen.queryByTestId('patient-picker')).toBeNull();
    expect(screen.getByTestId('new-conversation')).toHaveFocus();
    await s.user.keyboard('{Enter}');
    await s.user.keyboard('QU');
    await screen.findByTestId('patient-result-quinn');
    await s.user.keyboard('{ArrowDown}');
    expect(screen.getByTestId('patient-result-quinn')).toHaveFocus();
    await s.user.keyboard('{ArrowUp}');
    expect(screen.getByTestId('patient-search')).toHaveFocus();
    await s.user.keyboard('{ArrowDown}{Enter}');
    expect(s.fake.callsOf('start_conversation')).toEqual([{ patientId: 'p2' }]);
  });

  it('says when nobody matches', async () => {
    const s = await renderApp(setup({ as: DOCTOR }));
    await s.user.click(screen.getByTestId('new-conversation'));
    await s.user.type(screen.getByTestId('patient-search'), 'zzz');
    expect(await screen.findByText('No patient matches.')).toBeInTheDocument();
    expect(s.fake.callsOf('find_patients').at(-1)).toEqual({ query: 'zzz' });
  });

  it('is not there for patients', async () => {
    await renderApp(setup({ as: PATIENT }));
    await screen.findByTestId('conversation-doc');
    expect(screen.queryByTestId('new-conversation')).toBeNull();
  });
});

describe('the composer', () => {
  it('keeps the typed text when the send is refused', async () => {
    const s = await renderApp(setup({ as: PATIENT }));
    await s.user.click(await screen.findByTestId('conversation-doc'));
    vi.spyOn(s.fake, 'sendMessage').mockRejectedValueOnce(
      new BackendError('bad_request', 'not a conversation of yours'),
    );
    await s.user.type(screen.getByTestId('message-input'), 'Please call me back{Enter}');
    expect(await screen.findByText(/Could not send/)).toBeInTheDocument();
    expect(screen.getByTestId('message-input')).toHaveValue('Please call me back');
  });
});

describe('presence as a patient sees it', () => {
  it('shows Do not disturb for a doctor on it, and no guess while this app is offline', async () => {
    const s = await renderApp(setup({ as: PATIENT }));
    await s.user.click(await screen.findByTestId('conversation-doc'));
    expect(screen.getByTestId('peer-status')).toHaveTextContent('Online');
    act(() => s.fake.emit({ type: 'peerAvailability', userId: DOCTOR.id, availability: 'DO_NOT_DISTURB' }));
    expect(screen.getByTestId('peer-status')).toHaveTextContent('Do not disturb');
    act(() => s.fake.setConnection({ state: 'offline' }));
    expect(screen.getByTestId('peer-status')).toHaveTextContent('Status unknown');
    expect(screen.getByTestId('peer-status')).not.toHaveTextContent('Offline');
    expect(within(screen.getByTestId('chat-window')).getByTestId('online-status')).toHaveAttribute(
      'data-status',
      'unknown',
    );
  });
});
