import { render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { MessageBoundary } from './MessageBoundary';

function Broken(): never {
  throw new Error('unforeseen text');
}

describe('MessageBoundary', () => {
  it('shows one message that cannot be drawn as such, and keeps the others', () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    render(
      <div>
        <MessageBoundary>
          <Broken />
        </MessageBoundary>
        <MessageBoundary>
          <p>the next message</p>
        </MessageBoundary>
      </div>,
    );
    expect(screen.getByTestId('message-unshown')).toHaveTextContent('This message could not be shown.');
    expect(screen.getByText('the next message')).toBeInTheDocument();
  });
});
