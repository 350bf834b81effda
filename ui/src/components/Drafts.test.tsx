import { act, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { DOCTOR, DOCTOR2, PATIENT, emergency, history, setup } from '../test/fixtures';
import { renderApp } from '../test/render';

describe('what is being written', () => {
  it('stays with its conversation when another is opened, and comes back after a lock without staying in the page', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await s.user.type(screen.getByTestId('message-input'), 'Half written question');
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    expect(screen.getByTestId('message-input')).toHaveValue('');
    await s.user.type(screen.getByTestId('message-input'), 'For the other doctor');
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR.username}`));
    expect(screen.getByTestId('message-input')).toHaveValue('Half written question');

    await act(() => s.store.lockNow());
    expect(await screen.findByTestId('lock-screen')).toBeInTheDocument();
    expect(document.body.innerHTML).not.toContain('Half written');
    const [kept] = s.fake.callsOf('keep_drafts') as { drafts: Record<string, string> }[];
    expect(Object.values(kept.drafts).sort()).toEqual(['For the other doctor', 'Half written question']);
    // A second lock event while locked hands nothing over again (it would forget the first).
    await act(() => s.store.lockNow());
    expect(s.fake.callsOf('keep_drafts')).toHaveLength(1);

    await s.user.type(screen.getByTestId('unlock-secret'), 'password');
    await s.user.click(screen.getByTestId('unlock-submit'));
    expect(await screen.findByTestId('chat-layout')).toBeInTheDocument();
    expect(await screen.findByDisplayValue('Half written question')).toBeInTheDocument();
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    expect(screen.getByTestId('message-input')).toHaveValue('For the other doctor');
    // Sent: nothing left to keep.
    await s.user.type(screen.getByTestId('message-input'), '{Enter}');
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR.username}`));
    await s.user.click(screen.getByTestId(`conversation-${DOCTOR2.username}`));
    expect(screen.getByTestId('message-input')).toHaveValue('');
  });

  it('are forgotten when the session ends (IT ended it): the next sign-in starts empty', async () => {
    const s = await renderApp(setup({ as: PATIENT, messages: history(3) }));
    await s.user.click(await screen.findByTestId(`conversation-${DOCTOR.username}`));
    await s.user.type(screen.getByTestId('message-input'), 'Clinical detail half written');
    act(() => s.fake.emit({ type: 'session', session: null, reason: 'Your session was ended.' }));
    expect(await screen.findByTestId('login-form')).toBeInTheDocument();
    expect(s.store.draft(`${PATIENT.id}|${DOCTOR.id}`)).toBe('');
    await act(() => s.store.lockNow().catch(() => undefined));
    expect(s.fake.callsOf('keep_drafts')).toEqual([]);
  });

  it("a doctor's resolution note being written comes back after a lock, its box open", async () => {
    const taken = emergency({
      state: 'ACKNOWLEDGED',
      acknowledgedBy: DOCTOR.id,
      raisedAt: new Date().toISOString(),
    });
    const s = await renderApp(setup({ as: DOCTOR, emergencies: [taken] }));
    const banner = await screen.findByTestId('emergency-banner');
    await s.user.click(within(banner).getByTestId('emergency-resolve'));
    await s.user.type(within(banner).getByTestId('emergency-resolve-note'), 'Called Alice, ambulance sent.');
    await act(() => s.store.lockNow());
    expect(document.body.innerHTML).not.toContain('ambulance');
    await s.user.type(screen.getByTestId('unlock-secret'), 'password');
    await s.user.click(screen.getByTestId('unlock-submit'));
    const note = await screen.findByTestId('emergency-resolve-note');
    expect(note).toHaveValue('Called Alice, ambulance sent.');
    await s.user.click(screen.getByTestId('emergency-resolve-submit'));
    expect(s.fake.callsOf('resolve_emergency')).toEqual([
      { emergencyId: 'e1', note: 'Called Alice, ambulance sent.' },
    ]);
  });
});
