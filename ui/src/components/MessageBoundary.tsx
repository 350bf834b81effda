// One message that cannot be drawn (a bug meeting text nobody foresaw) shows as such, in its
// place; without it React would unmount the whole window, emergency banner included.

import { Component, type ReactNode } from 'react';

export class MessageBoundary extends Component<{ children: ReactNode }, { failed: boolean }> {
  state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  componentDidCatch(error: unknown): void {
    console.error('a message could not be shown', error);
  }

  render(): ReactNode {
    if (this.state.failed)
      return (
        <p className="bubble-unshown" data-testid="message-unshown">
          This message could not be shown.
        </p>
      );
    return this.props.children;
  }
}
