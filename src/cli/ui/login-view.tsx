import { Box, render, Text } from 'ink';
import Spinner from 'ink-spinner';
import type { LoginProgress } from '../../local/login.js';

interface ViewState {
  event?: LoginProgress;
  done?: string;
}

function LoginView({ state }: { state: ViewState }) {
  if (state.done) {
    return <Text color="green">✔ {state.done}</Text>;
  }
  const e = state.event;
  if (!e || e.type === 'discovering') {
    return (
      <Text>
        <Spinner type="dots" /> Discovering the identity provider{e ? ` at ${e.target}` : ''}…
      </Text>
    );
  }
  if (e.type === 'device') {
    return (
      <Box flexDirection="column">
        <Text>
          Open <Text bold>{e.verificationUri}</Text> and enter the code <Text bold color="cyan">{e.userCode}</Text>
        </Text>
        {e.verificationUriComplete ? <Text dimColor>or open {e.verificationUriComplete}</Text> : null}
        <Text>
          <Spinner type="dots" /> Waiting for approval (Ctrl-C to cancel)…
        </Text>
      </Box>
    );
  }
  if (e.type === 'authorize') {
    return (
      <Box flexDirection="column">
        <Text>{e.browserOpened ? 'Opened the browser to sign in. If it did not open, visit:' : 'Open this URL in a browser to sign in:'}</Text>
        <Text color="cyan">{e.url}</Text>
        <Text>
          <Spinner type="dots" /> Waiting for you to finish signing in (Ctrl-C to cancel)…
        </Text>
      </Box>
    );
  }
  return (
    <Text>
      <Spinner type="dots" /> Exchanging the authorization code…
    </Text>
  );
}

/** The interactive login view, on stderr so that stdout stays free. Business logic never sees JSX. */
export function renderLogin(stream: NodeJS.WritableStream) {
  let state: ViewState = {};
  const instance = render(<LoginView state={state} />, { stdout: stream as NodeJS.WriteStream, exitOnCtrlC: false, patchConsole: false });
  const rerender = (next: ViewState) => {
    state = next;
    instance.rerender(<LoginView state={state} />);
  };
  return {
    update: (event: LoginProgress) => rerender({ event }),
    async done(line: string) {
      rerender({ done: line });
      instance.unmount();
      await instance.waitUntilExit();
    },
    async close() {
      instance.clear();
      instance.unmount();
      await instance.waitUntilExit();
    },
  };
}
