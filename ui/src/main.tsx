// Entry point: picks the backend at build time (the fake only in a preview or test build made
// with VITE_FAKE_BACKEND=1; a product build has no fake in it), starts the store, renders the
// app. A product build opened outside the desktop app shows an error, never demo data.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createTauriBackend, runningInTauri, type Backend } from './backend';
import { NoShell } from './components/NoShell';
import { blockNativeMenu } from './logic/contextMenu';
import { forgetEarlierStorage } from './logic/earlierStorage';
import { ChatStore } from './store/chatStore';
import { StoreProvider } from './store/StoreProvider';
import './styles/base.css';
import './styles/layout.css';
import './styles/chat.css';
import './styles/emergency.css';
import './styles/lock.css';
import './styles/search.css';
import './styles/unread.css';
import './styles/responsive.css';
import './styles/dark.css';

async function chooseBackend(): Promise<Backend | null> {
  // Replaced by a constant at build time, so without the variable the fake is not bundled.
  if (import.meta.env.VITE_FAKE_BACKEND === '1') {
    const { demoBackend } = await import('./fake/demo');
    return demoBackend(window.location.search);
  }
  return runningInTauri() ? createTauriBackend() : null;
}

async function main() {
  // The browser's Reload/Back menu has no place in the app (text fields keep cut/copy/paste).
  blockNativeMenu();
  forgetEarlierStorage();
  const root = document.getElementById('root');
  if (!root) throw new Error('no #root element');
  const backend = await chooseBackend();
  if (!backend) {
    createRoot(root).render(<NoShell />);
    return;
  }
  const store = new ChatStore(backend);
  createRoot(root).render(
    <StrictMode>
      <StoreProvider store={store}>
        <App />
      </StoreProvider>
    </StrictMode>,
  );
  await store.start();
}

void main();
