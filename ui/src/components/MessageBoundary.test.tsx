import { render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { MessageBoundary } from './MessageBoundary';

function Bubble({ text }: { text: string }) {
  if (text.includes('boom')) throw new Error('unforeseen text');
  return <p>{text}</p>;
}

function Row({ text }: { text: string }) {
  return (
    <MessageBoundary resetKey={text} text={text}>
      <Bubble text={text} />
    </MessageBoundary>
  );
}

describe('MessageBoundary', () => {
  it('shows one message that cannot be drawn as text, keeps the others, and tries again once it changes', () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const { rerender } = render(
      <div>
        <Row text="a boom of a message" />
        <Row text="the next message" />
      </div>,
    );
    expect(screen.getByTestId('message-unshown')).toHaveTextContent('a boom of a message');
    expect(screen.getByText('the next message')).toBeInTheDocument();
    rerender(
      <div>
        <Row text="edited to something plain" />
        <Row text="the next message" />
      </div>,
    );
    expect(screen.queryByTestId('message-unshown')).toBeNull();
    expect(screen.getByText('edited to something plain')).toBeInTheDocument();
  });
});
