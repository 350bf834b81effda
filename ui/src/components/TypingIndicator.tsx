// "Dr. X is typing" with three animated dots.

export function TypingIndicator({ names }: { names: string[] }) {
  if (names.length === 0) return null;
  const who = names.length === 1 ? names[0] : `${names.length} people`;
  return (
    <div className="typing" data-testid="typing-indicator" role="status" aria-live="polite">
      <span className="typing-dots" aria-hidden="true">
        <span />
        <span />
        <span />
      </span>
      <span className="typing-text">
        {who} {names.length === 1 ? 'is' : 'are'} typing
      </span>
    </div>
  );
}
