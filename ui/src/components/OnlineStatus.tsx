// A green (online) or grey (offline) dot with an accessible label.

export function OnlineStatus({ online, label }: { online: boolean; label?: string }) {
  const text = `${label ? `${label} is ` : ''}${online ? 'online' : 'offline'}`;
  return (
    <span
      className={`online-dot ${online ? 'is-online' : 'is-offline'}`}
      data-testid="online-status"
      data-online={online}
      role="img"
      aria-label={text}
      title={text}
    />
  );
}
