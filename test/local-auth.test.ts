/** Step-up and sign-in-on-demand decisions of `serve`, with hand-written fakes for the token source and the sign-in starter. */
import { describe, expect, it } from 'vitest';
import { SeedError } from '../src/shared/errors.js';
import { silentLogger } from '../src/shared/logger.js';
import { ToolError } from '../src/shared/tools/types.js';
import { createLocalAuth, MAX_STEP_UPS, scopeUnion, stepUpScopes, type LocalAuthOptions } from '../src/local/serve/local-auth.js';
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
    // The browser never finishes here: every sign-in is still pending when the answer is due.
    async settled() {
      return false;
    },
  };
}
const source = (get: TokenSource['get']): TokenSource => ({ get, invalidate() {} });
/** Local auth of profile `work` over `tokens`, in browser mode unless told otherwise. */
const workAuth = (over: Partial<LocalAuthOptions>) => createLocalAuth({ profile: 'work', tokens: source(async () => tokens), loginMode: 'browser', logger: silentLogger, ...over });
const message = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ToolError);
  return (err as Error).message;
};

describe('local auth', () => {
  it('merges scope lists in order of first appearance, without duplicates', () => {
    expect(scopeUnion('openid profile', ' profile  email ', undefined, '', 'openid mcp:admin')).toBe('openid profile email mcp:admin');
    expect(scopeUnion()).toBe('');
    // The token response left out openid and offline_access: asked before, they stay.
    expect(stepUpScopes('openid profile email offline_access', 'profile mcp:read', 'mcp:admin')).toBe('openid profile email offline_access mcp:read mcp:admin');
    expect(stepUpScopes('openid', 'openid mcp:admin', 'mcp:admin')).toBe('openid mcp:admin');
    expect(stepUpScopes(undefined, 'openid profile', undefined)).toBe('openid profile');
  });

  it('steps up with the scopes asked before, held and challenged, then stops after the retry limit', async () => {
    const starter = fakeStarter(['started', 'recent', 'started']);
    // The IdP's token response named no openid / offline_access.
    const held = { ...tokens, scope: 'profile mcp:read' };
    const auth = workAuth({ tokens: source(async () => held), starter, requestedScopes: 'openid profile email offline_access' });
    await auth.accessToken(); // learns the granted scopes
    const union = 'openid profile email offline_access mcp:read mcp:admin';
    expect(await message(auth.stepUp('mcp:admin'))).toContain(`a browser window opened to sign in (profile work) with the scopes "${union}"`);
    expect(starter.calls[0]).toBe(union);
    // While that sign-in is pending: no new browser, and no try counted.
    expect(await message(auth.stepUp('mcp:admin'))).toContain('Sign-in in progress');
    expect(await message(auth.stepUp('mcp:admin'))).toContain('a browser window opened');
    expect(MAX_STEP_UPS).toBe(2);
    const limit = `The server still refuses this request (insufficient_scope) after 2 sign-ins with the scopes "${union}": your account is probably not allowed those scopes. Ask the server's operator or your identity provider's admin to grant them, then run \`seed-mcp login --profile work --scope "${union}"\` in a terminal and retry.`;
    expect(await message(auth.stepUp('mcp:admin'))).toBe(limit);
    expect(await message(auth.stepUp('mcp:admin'))).toBe(limit);
    expect(starter.calls).toEqual([union, union, union]);
  });

  it('with --login never, a step-up names the command and scopes to sign in with', async () => {
    const starter = fakeStarter([]);
    const auth = workAuth({ loginMode: 'never', starter, requestedScopes: 'openid offline_access' });
    await auth.accessToken();
    const text = await message(auth.stepUp('mcp:admin'));
    expect(text).toContain('Run `seed-mcp login --profile work --scope "openid offline_access profile mcp:admin"` in a terminal');
    expect(text).not.toMatch(/browser window opened|in progress/);
    expect(starter.calls).toEqual([]);
  });

  it('when no browser could open, names the command with the union and never says one opened', async () => {
    const starter = fakeStarter(['no-browser', 'no-browser']);
    const auth = workAuth({ starter, requestedScopes: 'openid offline_access' });
    await auth.accessToken();
    for (let i = 0; i < 2; i++) {
      const text = await message(auth.stepUp('mcp:admin'));
      expect(text).toContain('no browser could be opened to sign in. Run `seed-mcp login --profile work --scope "openid offline_access profile mcp:admin"` in a terminal');
      expect(text).not.toMatch(/browser window opened|in progress/);
    }
    // Failed launches are no sign-ins: the limit is not reached.
    expect(starter.calls).toHaveLength(2);
  });

  it('uses tokens with the asked scopes stored elsewhere at once instead of signing in again', async () => {
    const starter = fakeStarter(['started']);
    let stored = tokens;
    let invalidated = 0;
    const auth = workAuth({ tokens: { get: async () => stored, invalidate: () => void invalidated++ }, starter });
    expect(await auth.accessToken()).toBe('a.b.c');
    // Another process (or a terminal) signed in with mcp:admin.
    stored = { ...tokens, accessToken: 'd.e.f', scope: 'openid profile mcp:admin' };
    await expect(auth.stepUp('mcp:admin')).resolves.toBeUndefined();
    expect(invalidated).toBe(1);
    expect(starter.calls).toEqual([]);
    // The same token refused again: now a sign-in starts.
    expect(await message(auth.stepUp('mcp:admin'))).toContain('a browser window opened');
    expect(starter.calls).toEqual(['openid profile mcp:admin']);
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
