import { createServer } from 'node:net';
import { isSeedError } from '../shared/errors.js';
import { discoverFromResource } from './oidc/discover-resource.js';
import { discoverIssuer } from './oidc/issuer.js';
import type { LocalSettings } from './settings.js';
import { tokensDir } from './token-store/file.js';
import { probeKeychain } from './token-store/keychain.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** false when the check did not apply (e.g. no upstream configured). */
  ran: boolean;
  detail: string;
  /**
   * true when the check passed but not as it should: things work, in a way the person should know
   * about and may want to fix (shown ⚠ with the fix; the exit code stays 0).
   */
  warning?: boolean;
  /** What to do when it failed or warned. */
  fix?: string;
}

export interface DoctorDeps {
  /** Test seam: the keychain probe. */
  probe?: typeof probeKeychain;
  now?: () => number;
}

const MAX_SKEW_SEC = 60;

/** Runs every local-mode check and reports each one; never throws. */
export async function runDoctor(settings: LocalSettings, deps: DoctorDeps = {}): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const probe = deps.probe ?? probeKeychain;

  if (settings.tokenStore === 'auto' || settings.tokenStore === 'keychain') {
    const result = await probe({});
    const auto = settings.tokenStore === 'auto';
    checks.push(
      result.ok
        ? { name: 'keychain', ok: true, ran: true, detail: 'OS keychain answers' }
        : {
            name: 'keychain',
            // `auto` still works, with tokens in a file: a warning, not a failure.
            ok: auto,
            ...(auto ? { warning: true } : {}),
            ran: true,
            detail: `OS keychain unavailable (${result.reason})${auto ? `; tokens go to a 0600 file in ${tokensDir(settings.configDir)} instead` : ''}`,
            fix: keychainFix(auto),
          },
    );
  } else {
    checks.push({ name: 'keychain', ok: true, ran: false, detail: `not used (SEED_MCP_TOKEN_STORE=${settings.tokenStore})` });
  }

  // A profile that names its server (after `seed-mcp demo`, or `serve --upstream URL`) finds its
  // IdP there, as `login` does: the saved issuer of a discovered profile may be out of date.
  let issuer = settings.issuer;
  let namedBy: string | undefined;
  if (settings.upstream && (!issuer || settings.discovered)) {
    try {
      const found = await discoverFromResource(settings.upstream, { timeoutMs: 10_000 });
      if (found.authorizationServers[0]) {
        issuer = found.authorizationServers[0];
        namedBy = settings.upstream;
      }
    } catch {
      // The upstream check below says why it cannot be reached; the saved issuer, if any, is checked.
    }
  }
  // A discovered authorization server needs no client id: seed-mcp registers itself there.
  if (!issuer || (!settings.clientId && !settings.discovered && !namedBy)) {
    checks.push({
      name: 'identity provider',
      ok: false,
      ran: true,
      detail: `no ${!issuer ? 'issuer' : 'client id'} configured for profile "${settings.profile}"`,
      fix: 'run `seed-mcp login --issuer URL --client-id ID` (or `seed-mcp login MCP_URL`), or set SEED_MCP_ISSUER / SEED_MCP_CLIENT_ID',
    });
  } else {
    try {
      const started = performance.now();
      const config = await discoverIssuer({
        issuer,
        clientId: settings.clientId ?? 'seed-mcp',
        profile: settings.profile,
        assumePkce: settings.assumePkce,
        defaultEndpoints: settings.defaultEndpoints,
        timeoutMs: 10_000,
      });
      const ms = Math.round(performance.now() - started);
      checks.push({
        name: 'identity provider',
        ok: true,
        ran: true,
        detail: `${issuer} discovered in ${ms} ms (PKCE S256${config.serverMetadata().device_authorization_endpoint ? ', device flow' : ''})${namedBy ? `, named by ${namedBy}` : ''}`,
      });
      checks.push(await clockSkew(issuer, deps.now));
    } catch (err) {
      checks.push({
        name: 'identity provider',
        ok: false,
        ran: true,
        detail: isSeedError(err) ? err.message : String(err),
        fix: isSeedError(err) ? err.hint : undefined,
      });
    }
  }

  checks.push(await loopbackPort(settings.port));

  if (settings.upstream) {
    try {
      const res = await fetch(settings.upstream, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
      checks.push({
        name: 'upstream',
        ok: res.status < 500,
        ran: true,
        detail: `${settings.upstream} answered HTTP ${res.status}`,
        ...(res.status >= 500 ? { fix: 'the upstream MCP server fails; ask its operator' } : {}),
      });
    } catch (err) {
      checks.push({
        name: 'upstream',
        ok: false,
        ran: true,
        detail: `${settings.upstream} is unreachable (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name})`,
        fix: 'check the URL, VPN and HTTPS_PROXY',
      });
    }
  } else {
    checks.push({ name: 'upstream', ok: true, ran: false, detail: 'no upstream configured (SEED_MCP_UPSTREAM)' });
  }
  return checks;
}

/** What to do about a keychain that does not answer, on this platform. */
function keychainFix(auto: boolean): string {
  const start =
    process.platform === 'darwin'
      ? 'unlock the login keychain (Keychain Access)'
      : process.platform === 'win32'
        ? 'check that Credential Manager is available for this user'
        : 'run an unlocked Secret Service on the session D-Bus (gnome-keyring or KeePassXC: install one, e.g. `sudo apt-get install gnome-keyring`, and log in to a desktop session, which unlocks it)';
  return `${start}; or keep tokens in the 0600 file on purpose: set SEED_MCP_TOKEN_STORE=file${auto ? ' (this silences the warning)' : ''}`;
}

async function clockSkew(issuer: string, now?: () => number): Promise<DoctorCheck> {
  try {
    const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
    const date = res.headers.get('date');
    if (!date) return { name: 'clock', ok: true, ran: false, detail: 'the IdP sent no Date header to compare with' };
    const skew = Math.round(((now?.() ?? Date.now()) - Date.parse(date)) / 1000);
    const ok = Math.abs(skew) <= MAX_SKEW_SEC;
    return {
      name: 'clock',
      ok,
      ran: true,
      detail: `local clock is ${Math.abs(skew)} s ${skew >= 0 ? 'ahead of' : 'behind'} the IdP`,
      ...(ok ? {} : { fix: 'synchronise the system clock (NTP); tokens look expired or not yet valid otherwise' }),
    };
  } catch {
    return { name: 'clock', ok: true, ran: false, detail: 'could not compare with the IdP' };
  }
}

async function loopbackPort(port: number): Promise<DoctorCheck> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolve({ name: 'loopback port', ok: false, ran: true, detail: `cannot listen on 127.0.0.1:${port} (${err.code})`, fix: 'pass another --port, or omit it for a free one' }),
    );
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve({ name: 'loopback port', ok: true, ran: true, detail: `can listen on 127.0.0.1:${port === 0 ? `${bound} (random)` : bound}` }));
    });
  });
}
