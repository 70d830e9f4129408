/**
 * `seed-mcp demo`: the demo IdP and the real `seed-mcp cloud` server side by side on 127.0.0.1,
 * over the bundled example documents and in gateway mode in front of a small "tickets" MCP server
 * of the demo's own (on an ephemeral 127.0.0.1 port, reached with the gateway's service token), plus a saved `demo` profile so that the printed commands
 * work as they are. Everything here returns data; the CLI command prints it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { serveEntry, type HostEntry } from '../local/host-config/entry.js';
import { PROFILE_RE } from '../local/paths.js';
import { configFilePath, readProfileConfig, writeProfileConfig, type ProfileConfig } from '../local/profile-config.js';
import { DEFAULT_SCOPES, resolveLocalSettings } from '../local/settings.js';
import { lockDemoData } from './data-lock.js';
import type { DemoUser } from './interactions.js';

/** The demo's public native client. Not a secret: public clients have none. */
export const DEMO_CLIENT_ID = 'seed-mcp-demo';
/** The demo user. Its password is published on purpose: it is printed and shown on the login page. */
export const DEMO_USER: DemoUser = { login: 'demo', password: 'demo', name: 'Demo User', email: 'demo@example.com' };
/** The scopes of the document tools: what the demo's access tokens carry. */
export const DOCUMENT_SCOPES = ['checklist.list', 'checklist.read', 'process.read', 'process.search'];
/** The MCP server's port unless `--port`; the IdP takes the one below. */
export const DEFAULT_MCP_PORT = 4741;
export const DEFAULT_PROFILE = 'demo';

/** Where everything of one demo run is, before anything starts. */
export interface DemoPlan {
  profile: string;
  mcpPort: number;
  idpPort: number;
  /** `http://127.0.0.1:<idpPort>`. */
  issuer: string;
  /** `http://127.0.0.1:<mcpPort>`. */
  baseUrl: string;
  /** `http://127.0.0.1:<mcpPort>/mcp`: the MCP endpoint, also the tokens' audience. */
  mcpUrl: string;
  clientId: string;
  /** What `login` asks for: the usual OIDC scopes and the document tools' scopes. */
  scopes: string;
}

export interface PlanInput {
  /** The MCP server's port; default {@link DEFAULT_MCP_PORT}. */
  port?: number | string;
  /** The IdP's port; default `port - 1`. */
  idpPort?: number | string;
  /** `--host`: only loopback is accepted. */
  host?: string;
  profile?: string;
}

function portOf(name: string, value: number | string, min: number): number {
  const n = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > 65535) {
    throw new SeedError('USAGE', `could not use ${name} ${value}: it must be a port number between ${min} and 65535`, { hint: `for example ${name} ${DEFAULT_MCP_PORT}` });
  }
  return n;
}

/**
 * Checks the flags and names the ports and URLs of a demo run. The demo binds 127.0.0.1 and
 * nothing else: its IdP has a published password.
 */
export function planDemo(input: PlanInput = {}): DemoPlan {
  if (input.host !== undefined && !['127.0.0.1', 'localhost'].includes(input.host.trim().toLowerCase())) {
    throw new SeedError('USAGE', `could not use --host ${input.host}: the demo listens on 127.0.0.1 only`, {
      hint: 'its identity provider signs anyone in with the published demo password; for a server others can reach, run `seed-mcp cloud` with your own identity provider',
    });
  }
  const mcpPort = portOf('--port', input.port ?? DEFAULT_MCP_PORT, input.idpPort === undefined ? 2 : 1);
  const idpPort = input.idpPort === undefined ? mcpPort - 1 : portOf('--idp-port', input.idpPort, 1);
  if (idpPort === mcpPort) throw new SeedError('USAGE', `could not use --idp-port ${idpPort}: it is the MCP server's port too`, { hint: 'give the two servers different ports' });
  const profile = input.profile ?? DEFAULT_PROFILE;
  if (!PROFILE_RE.test(profile)) {
    throw new SeedError('USAGE', `could not use profile "${profile}": use letters, digits, '.', '_' or '-' (64 at most)`, {
      hint: 'pass --profile with a simple name such as `demo`',
    });
  }
  const baseUrl = `http://127.0.0.1:${mcpPort}`;
  return {
    profile,
    mcpPort,
    idpPort,
    issuer: `http://127.0.0.1:${idpPort}`,
    baseUrl,
    mcpUrl: `${baseUrl}/mcp`,
    clientId: DEMO_CLIENT_ID,
    scopes: [DEFAULT_SCOPES, ...DOCUMENT_SCOPES].join(' '),
  };
}

/**
 * What the demo saves for its profile: the client id and scopes (which discovery cannot tell)
 * and the upstream. The issuer and resource are left for `login` to discover from the MCP URL,
 * except that those of an earlier run on the same ports are kept, so its tokens go on working.
 */
export function demoProfileConfig(plan: DemoPlan, existing: ProfileConfig = {}): ProfileConfig {
  const same = existing.issuer === plan.issuer;
  return {
    ...(same ? { issuer: plan.issuer } : {}),
    clientId: plan.clientId,
    scopes: plan.scopes,
    ...(existing.resource === plan.mcpUrl ? { resource: plan.mcpUrl } : {}),
    upstream: plan.mcpUrl,
    // Still found from the server: a later `login --profile demo URL` discovers again.
    ...(same && existing.discovered ? { discovered: true } : {}),
  };
}

/** How a demo run moved a profile that pointed elsewhere before. */
export interface ProfileChange {
  /** The server (upstream) the profile named before. */
  fromServer?: string;
  /** The issuer it had saved before, if another than this demo's. */
  fromIssuer?: string;
}

/**
 * What changes when the demo saves its profile over `existing`: a profile of another demo (other
 * ports) now points to this one, and that demo's tokens no longer count (`status` exits 2 on
 * them). Undefined when nothing the user relied on changes.
 */
export function demoProfileChange(plan: DemoPlan, existing: ProfileConfig): ProfileChange | undefined {
  const fromServer = existing.upstream !== undefined && existing.upstream !== plan.mcpUrl ? existing.upstream : undefined;
  const fromIssuer = existing.issuer !== undefined && existing.issuer !== plan.issuer ? existing.issuer : undefined;
  return fromServer || fromIssuer ? { ...(fromServer ? { fromServer } : {}), ...(fromIssuer ? { fromIssuer } : {}) } : undefined;
}

/**
 * The default data folder of a demo run: one per pair of ports under `<config dir>/demo`, so that
 * two demos on other ports never share an IdP state.
 */
export function defaultDemoDataDir(configDir: string, plan: DemoPlan): string {
  return join(configDir, 'demo', `${plan.idpPort}-${plan.mcpPort}`);
}

/** The Claude Desktop entry that runs `seed-mcp serve` against the demo (`config claude`'s shape). */
export function demoClaudeConfig(plan: DemoPlan, configDir: string): { mcpServers: Record<string, HostEntry> } {
  // Only the demo's own values: the user's SEED_MCP_* variables belong to their other profiles.
  const settings = resolveLocalSettings(
    { profile: plan.profile, issuer: plan.issuer, clientId: plan.clientId, scope: plan.scopes, resource: plan.mcpUrl, upstream: plan.mcpUrl },
    { SEED_MCP_CONFIG_DIR: configDir },
    {},
  );
  const { name, entry } = serveEntry(settings);
  return { mcpServers: { [name]: entry } };
}

/**
 * The package's example documents: `examples/documents` at the package root, found from this
 * file whether it runs bundled (`dist/cli.cjs`) or from source (`src/demo/`).
 */
export function exampleDocuments(from: string = fileURLToPath(import.meta.url)): { checklistDir: string; processDir: string } {
  let dir = dirname(from);
  for (let i = 0; i < 5; i++) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'seed-mcp') {
          const checklistDir = join(dir, 'examples', 'documents', 'checklists');
          const processDir = join(dir, 'examples', 'documents', 'processes');
          if (statSync(checklistDir).isDirectory() && statSync(processDir).isDirectory()) return { checklistDir, processDir };
        }
      } catch {
        // Keep looking further up.
      }
    }
    dir = dirname(dir);
  }
  throw new SeedError('CONFIG_INVALID', 'could not find the example documents of the seed-mcp package (examples/documents)', {
    hint: 'reinstall seed-mcp (`npm install seed-mcp`); the package ships them',
  });
}

export interface StartDemoOptions {
  plan: DemoPlan;
  /** Keys and IdP state. */
  dataDir: string;
  /** The CLI's config dir: the profile is saved in its config.json. */
  configDir: string;
  version: string;
  /** Every line is marked as the demo's (see the CLI command). */
  logger: Logger;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export interface RunningDemo {
  plan: DemoPlan;
  dataDir: string;
  /** The config.json holding the saved profile. */
  configFile: string;
  profileConfig: ProfileConfig;
  /** Set when the profile pointed to another server or issuer before this run. */
  profileChange?: ProfileChange;
  /** True when the IdP made new signing keys this time. */
  keysCreated: boolean;
  documents: { checklistDir: string; processDir: string };
  /**
   * The gateway child the demo's cloud fronts (UPSTREAMS_FILE in the data dir): its own MCP URL on
   * an ephemeral 127.0.0.1 port, and where the demo serves it (`/mcp/<name>`; on `/mcp` its tools
   * are `<name>_<tool>`).
   */
  child: { name: string; url: string; servedAt: string; upstreamsFile: string };
  /** Stops the MCP server (gracefully), the gateway child and the IdP; the ports are free when it resolves. */
  close(): Promise<void>;
}

/**
 * Starts the demo: checks the profile can be saved, starts the IdP, then `seed-mcp cloud`
 * in-process validating its tokens (the same wiring as `seed-mcp cloud`), then saves the profile.
 * A failure stops whatever had started.
 */
export async function startDemo(options: StartDemoOptions): Promise<RunningDemo> {
  const { plan, logger } = options;
  const documents = exampleDocuments();
  const existing = await readProfileConfig(options.configDir, plan.profile);
  if (existing.clientId && existing.clientId !== plan.clientId) {
    throw new SeedError(
      'USAGE',
      `could not save the demo profile: profile "${plan.profile}" in ${configFilePath(options.configDir)} is another sign-in (client id ${existing.clientId}${existing.issuer ? ` at ${existing.issuer}` : ''})`,
      {
        hint: 'pass --profile NAME to give the demo another profile name',
      },
    );
  }

  const releaseData = await lockDemoData(options.dataDir, { issuer: plan.issuer, mcpUrl: plan.mcpUrl });
  try {
    return await startLocked(options, existing, documents, releaseData);
  } catch (err) {
    await releaseData();
    throw err;
  }
}

async function startLocked(
  options: StartDemoOptions,
  existing: ProfileConfig,
  documents: { checklistDir: string; processDir: string },
  releaseData: () => Promise<void>,
): Promise<RunningDemo> {
  const { plan, logger } = options;
  const [{ startDemoIdp }, { startDemoChild, DEMO_CHILD_NAME }, gateway] = await Promise.all([import('./provider.js'), import('./child.js'), import('./upstreams.js')]);
  // The IdP first, on its planned port, then the gateway child on an ephemeral one (so that the
  // child cannot take the IdP's port): the IdP learns the child's URL, the resource of the
  // gateway's service tokens, once the child listens.
  const { secret } = await gateway.loadOrCreateGatewaySecret(options.dataDir);
  let childUrl = '';
  const servedAt = `${plan.baseUrl}/mcp/${DEMO_CHILD_NAME}`;
  const idp = await startDemoIdp({
    port: plan.idpPort,
    resource: plan.mcpUrl,
    resourceScopes: DOCUMENT_SCOPES,
    clientId: plan.clientId,
    user: DEMO_USER,
    dataDir: options.dataDir,
    logger,
    userResources: [servedAt],
    serviceClient: { clientId: gateway.DEMO_GATEWAY_CLIENT_ID, secret, resource: () => childUrl },
  });
  let child: Awaited<ReturnType<typeof startDemoChild>>;
  try {
    child = await startDemoChild({ port: 0, issuer: plan.issuer, logger });
    childUrl = child.url;
  } catch (err) {
    await idp.close();
    throw err;
  }
  let cloud: { close(): Promise<void> } | undefined;
  try {
    const upstreamsFile = await gateway.writeDemoUpstreams(options.dataDir, { issuer: plan.issuer, childUrl: child.url, childName: DEMO_CHILD_NAME });
    cloud = await startCloud(plan, documents, upstreamsFile, options);
    const profileConfig = demoProfileConfig(plan, existing);
    const profileChange = demoProfileChange(plan, existing);
    await writeProfileConfig(options.configDir, plan.profile, profileConfig);
    let closing: Promise<void> | undefined;
    const running = cloud;
    return {
      plan,
      dataDir: options.dataDir,
      configFile: configFilePath(options.configDir),
      profileConfig,
      ...(profileChange ? { profileChange } : {}),
      keysCreated: idp.keysCreated,
      documents,
      child: { name: DEMO_CHILD_NAME, url: child.url, servedAt, upstreamsFile },
      close() {
        // The MCP server first: it may still be fetching the IdP's keys or calling the child.
        closing ??= running.close().finally(() => Promise.allSettled([child.close(), idp.close()]).then(() => releaseData()));
        return closing;
      },
    };
  } catch (err) {
    await cloud?.close().catch(() => {});
    await Promise.allSettled([child.close(), idp.close()]);
    throw err;
  }
}

/** `seed-mcp cloud` as `runCloud` wires it, from an environment the demo writes itself. */
async function startCloud(
  plan: DemoPlan,
  documents: { checklistDir: string; processDir: string },
  upstreamsFile: string,
  options: StartDemoOptions,
): Promise<{ close(): Promise<void> }> {
  const [{ loadCloudConfig }, { startCloud }] = await Promise.all([import('../cloud/config.js'), import('../cloud/start.js')]);
  // Not the user's environment: a REDIS_URL or TOOL_POLICY_FILE of theirs has no place here.
  const env = {
    AUTH_MODE: 'cloud',
    HOST: '127.0.0.1',
    PORT: String(plan.mcpPort),
    BASE_URL: plan.baseUrl,
    OIDC_ISSUER: plan.issuer,
    RESOURCE_IDENTIFIER: plan.mcpUrl,
    SCOPES_SUPPORTED: DOCUMENT_SCOPES.join(' '),
    CHECKLIST_DIR: documents.checklistDir,
    PROCESS_DIR: documents.processDir,
    // Gateway mode: the demo's tickets child, aggregated on /mcp as tickets_<tool> and alone at
    // /mcp/tickets. No TOOL_POLICY_FILE: the child's scopes and tenancy alone decide.
    UPSTREAMS_FILE: upstreamsFile,
    // The real limits, generous for one person clicking through.
    RATE_LIMIT_ENABLED: 'true',
    METRICS_ENABLED: 'true',
    LOG_LEVEL: options.logLevel,
    LOG_FORMAT: 'pretty',
  };
  const config = loadCloudConfig(env);
  try {
    // startCloud closes what it created when it cannot listen.
    return await startCloud(config, { logger: options.logger, version: options.version });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new SeedError('USAGE', `could not start the demo MCP server on 127.0.0.1:${plan.mcpPort}: ${code === 'EADDRINUSE' ? 'the port is in use' : 'permission denied'}`, {
        hint: 'another program (or another `seed-mcp demo`) uses it: stop it, or pass --port N (the identity provider then takes N-1, or --idp-port)',
        cause: err,
      });
    }
    throw err;
  }
}
