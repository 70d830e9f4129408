import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../../shared/logger.js';
import { createServerFactory } from '../../shared/mcp/server-factory.js';
import { builtinTools } from '../../shared/tools/registry.js';
import { createBrowser } from '../browser.js';
import type { LocalSettings } from '../settings.js';
import { createTokenSource, type TokenSource, type TokenSourceDeps } from '../token-source.js';
import { lazyTokenStore } from '../token-store/lazy.js';
import type { TokenStore } from '../token-store/types.js';
import { createBridge } from './bridge.js';
import { createLocalAuth } from './local-auth.js';
import { createLoginStarter } from './login-on-demand.js';

export interface ServeOptions {
  settings: LocalSettings;
  version: string;
  loginMode: 'browser' | 'never';
  grant: 'authorization_code' | 'client_credentials';
  /** Static headers for the upstream (`--header`). */
  headers: Record<string, string>;
  stdin: Readable;
  stdout: Writable;
  logger: Logger;
  openStore: () => Promise<TokenStore>;
  signal: AbortSignal;
  onRefresh?: TokenSourceDeps['onRefresh'];
  /** How long a request waits for a browser sign-in it started (default: local-auth's). */
  signInWaitMs?: number;
  onToolCall?: (tool: string, status: 'success' | 'error', seconds: number) => void;
  onUpstreamError?: (kind: 'unreachable' | 'auth' | 'protocol') => void;
  /**
   * `SEED_MCP_DEBUG_HEAP`: every this many seconds, write `seed-mcp heap {…process.memoryUsage()}`
   * to stderr (the soak benchmark, bench/soak.mjs, reads it). Off when undefined.
   */
  debugHeapSec?: number;
}

/**
 * `serve`: the stdio MCP server a desktop app starts. Answers at once (both protocol eras, via the
 * SDK's `serveStdio`); the token store, token refresh and any sign-in happen on the first tool call
 * that needs them. stdout carries JSON-RPC only; everything else goes to the logger (stderr).
 * Resolves when the client closes stdin or the process is told to stop.
 */
export async function runServe(options: ServeOptions): Promise<void> {
  const { settings, logger } = options;
  const store = lazyTokenStore(options.openStore);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal.addEventListener('abort', onAbort, { once: true });

  let tokens: TokenSource;
  let starter: ReturnType<typeof createLoginStarter> | undefined;
  if (settings.enterprise) {
    // Enterprise-managed authorization: an ID token exchanged for an ID-JAG, no browser.
    const { createEnterpriseSource } = await import('../enterprise.js');
    tokens = createEnterpriseSource(settings, { store, logger, onRefresh: options.onRefresh });
  } else if (options.grant === 'client_credentials') {
    const { createClientCredentialsSource } = await import('../client-credentials.js');
    tokens = createClientCredentialsSource(settings, { onRefresh: options.onRefresh });
  } else {
    tokens = createTokenSource(settings, { store, logger, onRefresh: options.onRefresh });
    const source = tokens;
    starter = createLoginStarter({
      settings,
      store,
      logger,
      browser: () => createBrowser({ command: settings.browserCommand, logger }),
      signal: stop.signal,
      onSignedIn: () => source.invalidate(),
    });
  }
  const auth = createLocalAuth({
    profile: settings.profile,
    tokens,
    loginMode: options.loginMode,
    starter,
    logger,
    issuer: settings.issuer,
    // Scopes chosen per server at sign-in (discovered, none given) are known from the tokens held.
    requestedScopes: settings.discovered && settings.scopeSource === 'default' ? undefined : settings.scopes,
    signInWaitMs: options.signInWaitMs,
  });
  const info = { name: 'seed-mcp', version: options.version };
  const upstream = settings.upstream
    ? createBridge({ url: settings.upstream, headers: options.headers, auth, logger, clientInfo: info, onUpstreamError: options.onUpstreamError })
    : undefined;
  const factory = createServerFactory({
    info,
    mode: 'local',
    tools: builtinTools(),
    callerFrom: (_ctx, o) => auth.caller(o),
    upstream,
    logger,
    onToolCall: options.onToolCall,
  });

  const { serveStdio, StdioServerTransport } = await import('@modelcontextprotocol/server/stdio');
  const transport = new StdioServerTransport(options.stdin, options.stdout);
  const closed = new Promise<void>((resolve) => {
    options.stdin.once('end', resolve);
    options.stdin.once('close', resolve);
    stop.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const handle = serveStdio(factory, { transport, onerror: (err) => logger.warn(`stdio: ${err.message}`) });
  const heapDebug = options.debugHeapSec ? await debugHeap(options.debugHeapSec) : undefined;
  logger.debug(`serving MCP on stdio (profile ${settings.profile}${settings.upstream ? `, upstream ${settings.upstream}` : ''})`);
  await closed;
  // The client is gone: end a pending browser sign-in and the upstream connection, so the
  // process exits instead of lingering on an open loopback port.
  stop.abort();
  heapDebug?.();
  options.signal.removeEventListener('abort', onAbort);
  await Promise.allSettled([handle.close(), upstream?.close()]);
}

/**
 * `SEED_MCP_DEBUG_HEAP=N`: every N seconds, `seed-mcp heap {…}` on stderr with
 * `process.memoryUsage()` and `heapUsedAfterMajorGc`, the heap in use just after the last full
 * collection (the live heap, without the sawtooth of garbage between collections). For the soak
 * benchmark; costs nothing when unset. Returns a stop function.
 */
async function debugHeap(everySec: number): Promise<() => void> {
  const { PerformanceObserver, constants } = await import('node:perf_hooks');
  let heapUsedAfterMajorGc: number | undefined;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) heapUsedAfterMajorGc = process.memoryUsage().heapUsed;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const timer = setInterval(() => process.stderr.write(`seed-mcp heap ${JSON.stringify({ ...process.memoryUsage(), heapUsedAfterMajorGc })}\n`), everySec * 1000).unref();
  return () => {
    clearInterval(timer);
    observer.disconnect();
  };
}
