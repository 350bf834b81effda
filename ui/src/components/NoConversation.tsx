// The pane before a conversation is chosen. A patient's has the Emergency button too (it goes to
// the doctor of her open emergency, else of her newest conversation: the shell chooses), and
// says where an open emergency stands, with a way into its conversation.

import { openEmergencies } from '../logic/emergency';
import { useChat, useStore } from '../store/hooks';
import type { User } from '../types';
import { EmergencyButton } from './EmergencyButton';

export function NoConversation({ me }: { me: User }) {
  const store = useStore();
  const emergencies = useChat((s) => s.emergencies);
  if (me.role === 'DOCTOR') {
    return (
      <section className="chat card chat-empty" data-testid="chat-empty">
        <p>Choose a patient on the left.</p>
      </section>
    );
  }
  const open = openEmergencies(emergencies)
    .filter((e) => e.patientId === me.id)
    .at(-1);
  return (
    <section className="chat card chat-empty" data-testid="chat-empty">
      <div className="chat-empty-patient">
        {/* First, so a small window or a large text size never hides it. Once queued, its
            conversation opens: her status line there says where it stands. */}
        <EmergencyButton onSend={(text) => store.raiseEmergency(text, true)} />
        <p>In an emergency, press it: your doctors are alerted at once.</p>
        {open && (
          <p
            className={`emergency-status tone-${open.state === 'ACKNOWLEDGED' ? 'acknowledged' : 'raised'}`}
            role="status"
            data-testid="chat-empty-emergency"
          >
            {open.state === 'ACKNOWLEDGED'
              ? `${open.acknowledgedByName ?? 'A doctor'} is on your emergency.`
              : 'Your emergency is open: your doctors have been alerted.'}{' '}
            <button
              type="button"
              className="link-button"
              data-testid="chat-empty-open-emergency"
              onClick={() => void store.select({ patientId: open.patientId, doctorId: open.doctorId })}
            >
              Open the conversation
            </button>
          </p>
        )}
        <p>Choose a doctor on the left to start chatting.</p>
      </div>
    </section>
  );
}
