import { act, fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { DOCTOR, PATIENT, emergency, history, setup } from '../test/fixtures';
import { renderApp } from '../test/render';

describe('before a conversation is chosen', () => {
  it("a patient's pane has the Emergency button: it goes to her doctor without choosing one", async () => {
    const s = await renderApp(setup({ messages: history(2) }));
    expect(await screen.findByTestId('chat-empty')).toHaveTextContent('Choose a doctor on the left');
    await s.user.click(screen.getByTestId('emergency-button'));
    await s.user.type(screen.getByTestId('emergency-text'), 'I fell in the kitchen');
    await s.user.click(screen.getByTestId('emergency-confirm-send'));
    await waitFor(() =>
      expect(
        s.fake.messages.filter((m) => m.isEmergency && m.content === 'I fell in the kitchen'),
      ).toHaveLength(1),
    );
    expect(s.fake.callsOf('raise_emergency')).toHaveLength(1);
    expect(screen.queryByTestId('emergency-confirm')).toBeNull();
    // Its conversation opens: the status line there says where it stands.
    expect(await screen.findByTestId('chat-window')).toBeInTheDocument();
    expect(s.store.getState().active).toEqual({ patientId: PATIENT.id, doctorId: DOCTOR.id });
    expect(await screen.findByTestId('emergency-status')).toBeInTheDocument();
  });

  it('says where her open emergency stands and opens its conversation', async () => {
    const taken = emergency({
      state: 'ACKNOWLEDGED',
      acknowledgedBy: DOCTOR.id,
      acknowledgedByName: DOCTOR.name,
    });
    const s = await renderApp(setup({ messages: history(2), emergencies: [taken] }));
    expect(await screen.findByTestId('chat-empty-emergency')).toHaveTextContent(
      `${DOCTOR.name} is on your emergency.`,
    );
    await s.user.click(screen.getByTestId('chat-empty-open-emergency'));
    expect(await screen.findByTestId('chat-window')).toBeInTheDocument();
    expect(s.store.getState().active).toEqual({ patientId: PATIENT.id, doctorId: DOCTOR.id });
  });

  it('an emergency too long for the server cannot be sent, and says to shorten it or call', async () => {
    const s = await renderApp(setup({ messages: history(2) }));
    await s.user.click(await screen.findByTestId('emergency-button'));
    fireEvent.change(screen.getByTestId('emergency-text'), { target: { value: 'x'.repeat(16_385) } });
    expect(screen.getByTestId('emergency-confirm-send')).toBeDisabled();
    expect(screen.getByTestId('emergency-text-too-long')).toHaveTextContent('shorten it, or call');
    fireEvent.change(screen.getByTestId('emergency-text'), { target: { value: 'x'.repeat(16_384) } });
    expect(screen.getByTestId('emergency-confirm-send')).toBeEnabled();
    expect(screen.queryByTestId('emergency-text-too-long')).toBeNull();
  });

  it("a doctor's pane has no Emergency button", async () => {
    await renderApp(setup({ as: DOCTOR }));
    expect(await screen.findByTestId('chat-empty')).toHaveTextContent('Choose a patient on the left.');
    await act(async () => {});
    expect(screen.queryByTestId('emergency-button')).toBeNull();
  });
});
