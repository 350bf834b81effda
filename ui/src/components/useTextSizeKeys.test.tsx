import { act, fireEvent, render } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { StoreProvider } from '../store/StoreProvider';
import { setup } from '../test/fixtures';
import { useTextSizeKeys } from './useTextSizeKeys';

function Keys() {
  useTextSizeKeys();
  return null;
}

describe('the text size keys', () => {
  it("wait for the computer's settings: before them a key would save the defaults over them", async () => {
    const settings = { showMessageContent: true, startOnLogin: true, textSize: 'large' as const };
    const { fake, store } = setup({ settings });
    render(
      <StoreProvider store={store}>
        <Keys />
      </StoreProvider>,
    );
    fireEvent.keyDown(window, { key: '=', ctrlKey: true });
    expect(fake.callsOf('set_settings')).toEqual([]);
    await act(() => store.start());
    fireEvent.keyDown(window, { key: '=', ctrlKey: true });
    await act(async () => {});
    expect(fake.callsOf('set_settings')).toEqual([
      { settings: { showMessageContent: true, startOnLogin: true, textSize: 'larger' } },
    ]);
  });
});
