import type { LoginProgress } from '../../local/login.js';

function labelFor(event: LoginProgress | undefined): string {
  if (!event || event.type === 'discovering') return `Discovering the identity provider${event ? ` at ${event.target}` : ''}…`;
  if (event.type === 'exchanging') return 'Exchanging the authorization code…';
  if (event.type === 'device') return 'Waiting for approval (Ctrl-C to cancel)…';
  if (event.type === 'issuer-changed') return 'Saving the profile…';
  return 'Waiting for you to finish signing in (Ctrl-C to cancel)…';
}

/**
 * The interactive login view, on stderr so that stdout stays free. ink draws only the live
 * spinner line; what must stay readable and copyable — the URL, the device code, the result — is
 * written as plain lines, because ink hard-wraps long text at the terminal width and a wrapped URL
 * no longer pastes. Business logic never sees JSX.
 *
 * ink is ESM-only and loaded with `import()` here, so the CommonJS bundle never `require`s it.
 */
export async function renderLogin(stream: NodeJS.WritableStream) {
  const [{ render, Text }, { default: Spinner }] = await Promise.all([import('ink'), import('ink-spinner')]);
  const Waiting = ({ label }: { label: string }) => (
    <Text>
      <Spinner type="dots" /> {label}
    </Text>
  );
  const mount = (event?: LoginProgress) => render(<Waiting label={labelFor(event)} />, { stdout: stream as NodeJS.WriteStream, exitOnCtrlC: false, patchConsole: false });
  let instance = mount();
  const stop = async () => {
    instance.clear();
    instance.unmount();
    await instance.waitUntilExit();
  };
  return {
    update(event: LoginProgress) {
      if (event.type === 'authorize' || event.type === 'device') {
        instance.clear();
        instance.unmount();
        if (event.type === 'authorize') {
          stream.write(
            `${event.browserOpened ? 'Opened the browser to sign in. If it did not open, visit:' : 'Open this URL in a browser to sign in:'}\n\x1b[36m${event.url}\x1b[39m\n`,
          );
        } else {
          stream.write(
            `Open \x1b[1m${event.verificationUri}\x1b[22m and enter the code \x1b[1;36m${event.userCode}\x1b[0m\n${event.verificationUriComplete ? `  (or open ${event.verificationUriComplete})\n` : ''}`,
          );
        }
        instance = mount(event);
        return;
      }
      if (event.type === 'issuer-changed') {
        // A plain line that stays on screen: the spinner line is cleared when the sign-in ends.
        instance.clear();
        instance.unmount();
        stream.write(`\x1b[33missuer for profile ${event.profile} changed: ${event.from} → ${event.to}\x1b[39m\n`);
        instance = mount(event);
        return;
      }
      instance.rerender(<Waiting label={labelFor(event)} />);
    },
    async done(line: string) {
      await stop();
      stream.write(`\x1b[32m✔ ${line}\x1b[39m\n`);
    },
    close: stop,
  };
}
