// The root component: login screen or the chat, depending on the session.

import { ChatLayout } from './components/ChatLayout';
import { LoginScreen } from './components/LoginScreen';
import { useChat } from './store/hooks';

export function App() {
  const phase = useChat((s) => s.phase);
  const user = useChat((s) => s.session?.user);
  if (phase === 'starting')
    return (
      <div className="splash" data-testid="splash">
        Starting…
      </div>
    );
  if (phase === 'login' || !user) return <LoginScreen />;
  return <ChatLayout me={user} />;
}
