// The whole app on a fake backend, started, with a user to click and type: what component tests
// of a screen render.

import { act, render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { App } from '../App';
import { StoreProvider } from '../store/StoreProvider';
import type { setup } from './fixtures';

export async function renderApp(s: ReturnType<typeof setup>) {
  render(
    <StoreProvider store={s.store}>
      <App />
    </StoreProvider>,
  );
  await act(() => s.store.start());
  return { ...s, user: userEvent.setup() };
}
