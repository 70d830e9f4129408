/** Step-up and sign-in-on-demand decisions of `serve`, with hand-written fakes for the token source and the sign-in starter. */
import { describe, expect, it } from 'vitest';
import { SeedError } from '../src/shared/errors.js';
import { silentLogger } from '../src/shared/logger.js';
import { ToolError } from '../src/shared/tools/types.js';
import { createLocalAuth, MAX_STEP_UPS } from '../src/local/serve/local-auth.js';
import type { LoginStart, LoginStarter } from '../src/local/serve/login-on-demand.js';
import type { TokenSource } from '../src/local/token-source.js';
import type { StoredTokens } from '../src/local/token-store/types.js';

const tokens: StoredTokens = {
  version: 1,
  issuer: 'https://idp.test',
  clientId: 'c',
  accessToken: 'a.b.c',
  tokenType: 'bearer',
  scope: 'openid profile',
  obtainedAt: 0,
  subject: 'alice',
};

function fakeStarter(answers: LoginStart[]): LoginStarter & { calls: Array<string | undefined> } {
  const calls: Array<string | undefined> = [];
  return {
    calls,
    async start(scopes) {
      calls.push(scopes);
      return answers.shift() ?? 'recent';
    },
  };
}
const source = (get: TokenSource['get']): TokenSource => ({ get, invalidate() {} });
const message = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ToolError);
  return (err as Error).message;
};

describe('local auth', () => {
  it('steps up with the union of scopes, then stops after the retry limit', async () => {
    const starter = fakeStarter(['started', 'recent']);
    const auth = createLocalAuth({ profile: 'work', tokens: source(async () => tokens), loginMode: 'browser', starter, logger: silentLogger });
    await auth.accessToken(); // learns the granted scopes
    expect(await message(auth.stepUp('mcp:admin'))).toContain('a browser window opened');
    expect(starter.calls[0]).toBe('mcp:admin openid profile');
    expect(await message(auth.stepUp('mcp:admin'))).toContain('Sign-in in progress');
    expect(MAX_STEP_UPS).toBe(2);
    expect(await message(auth.stepUp('mcp:admin'))).toBe(
      'The server still refuses this request after 2 sign-ins with the scopes "mcp:admin openid profile" (insufficient_scope). Ask its operator to grant you access.',
    );
    expect(starter.calls).toHaveLength(2);
  });

  it('with --login never, a step-up names the command and scopes to sign in with', async () => {
    const auth = createLocalAuth({ profile: 'work', tokens: source(async () => tokens), loginMode: 'never', starter: fakeStarter([]), logger: silentLogger });
    await auth.accessToken();
    expect(await message(auth.stepUp('mcp:admin'))).toContain('Run `seed-mcp login --profile work --scope "mcp:admin openid profile"` in a terminal');
  });

  it('turns "not signed in" into one sign-in start, and other failures into their message and hint', async () => {
    const starter = fakeStarter(['started']);
    const notSignedIn = createLocalAuth({
      profile: 'p',
      tokens: source(async () => {
        throw new SeedError('NOT_SIGNED_IN', 'could not get a token: profile "p" is not signed in');
      }),
      loginMode: 'browser',
      starter,
      logger: silentLogger,
      issuer: 'https://idp.test',
    });
    expect(await message(notSignedIn.caller())).toBe(
      'Sign-in required: a browser window opened to sign in at https://idp.test (profile p). Finish signing in there, then retry this request.',
    );
    expect(await message(notSignedIn.caller({ signIn: false }))).toContain('not signed in (profile p)');
    expect(starter.calls).toHaveLength(1);

    const down = createLocalAuth({
      profile: 'p',
      tokens: source(async () => {
        throw new SeedError('IDP_UNREACHABLE', 'could not refresh the token: the identity provider is unreachable (ECONNREFUSED)', { hint: 'check the network' });
      }),
      loginMode: 'browser',
      starter,
      logger: silentLogger,
    });
    expect(await message(down.accessToken())).toBe('could not refresh the token: the identity provider is unreachable (ECONNREFUSED) → check the network');
    expect(starter.calls).toHaveLength(1);
  });
});
