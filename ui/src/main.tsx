// Entry point: picks the backend (Tauri, or the in-memory fake with ?fake=1, VITE_FAKE_BACKEND=1,
// or in a plain browser), starts the store, renders the app.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createTauriBackend, runningInTauri, type Backend } from './backend';
import { ChatStore } from './store/chatStore';
import { StoreProvider } from './store/StoreProvider';
import './styles/base.css';
import './styles/layout.css';
import './styles/chat.css';
import './styles/emergency.css';

async function chooseBackend(): Promise<Backend> {
  const params = new URLSearchParams(window.location.search);
  // A plain browser has no shell to talk to: fall back to the fake rather than fail on every call.
  if (params.has('fake') || import.meta.env.VITE_FAKE_BACKEND || !runningInTauri()) {
    // Loaded on demand so the fake and its demo data stay out of the shipped bundle's main chunk.
    const { demoBackend } = await import('./fake/demo');
    return demoBackend(window.location.search);
  }
  return createTauriBackend();
}

async function main() {
  const store = new ChatStore(await chooseBackend());
  const root = document.getElementById('root');
  if (!root) throw new Error('no #root element');
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
