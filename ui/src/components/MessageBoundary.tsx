// One message that cannot be drawn (a bug meeting text nobody foresaw) shows as plain text in its
// place (read once on screen, like any message); without it React would unmount the whole
// window, emergency banner included. A change to the message (an edit, an unsend) draws it again.

import { Component, type ReactNode } from 'react';

interface Props {
  children: ReactNode;
  /** Changes when the message does: the boundary tries again. */
  resetKey: string;
  /** What the message says, shown as text when it cannot be drawn. */
  text: string;
}

interface State {
  failed: boolean;
  resetKey: string;
}

export class MessageBoundary extends Component<Props, State> {
  constructor(props: Props) {
    super(props);
    this.state = { failed: false, resetKey: props.resetKey };
  }

  static getDerivedStateFromError(): Partial<State> {
    return { failed: true };
  }

  static getDerivedStateFromProps(props: Props, state: State): Partial<State> | null {
    return props.resetKey === state.resetKey ? null : { failed: false, resetKey: props.resetKey };
  }

  componentDidCatch(error: unknown): void {
    console.error('a message could not be shown', error);
  }

  render(): ReactNode {
    if (this.state.failed)
      return (
        <div className="bubble-unshown" data-testid="message-unshown">
          <p>This message could not be shown as usual; its text:</p>
          <p className="bubble-unshown-text">{this.props.text}</p>
        </div>
      );
    return this.props.children;
  }
}
