// The root component: login screen, lock screen, or the chat, depending on the session.

import { ChatLayout } from './components/ChatLayout';
import { LockScreen } from './components/LockScreen';
import { LoginScreen } from './components/LoginScreen';
import { useFocusMemory } from './components/useFocusAcrossLock';
import { useLockKeys } from './components/useLockKeys';
import { useTextSizeKeys } from './components/useTextSizeKeys';
import { useChat } from './store/hooks';

export function App() {
  const phase = useChat((s) => s.phase);
  const user = useChat((s) => s.session?.user);
  const locked = useChat((s) => s.lock?.locked === true);
  useLockKeys();
  // Where the focus was when the app locked, for the chat drawn again after the unlock.
  const focusMemory = useFocusMemory();
  useTextSizeKeys();
  if (phase === 'starting')
    return (
      <div className="splash" data-testid="splash">
        Starting…
      </div>
    );
  if (phase === 'login' || !user) return <LoginScreen />;
  if (locked) return <LockScreen />;
  return <ChatLayout me={user} focusMemory={focusMemory} />;
}
