/**
 * `seed-mcp cloud` as a plain resource server (no OAuth proxy), in process on a free port of
 * 127.0.0.1, for the attack tests: `BASE_URL` https://mcp.example.test, the example documents, no
 * rate limit, a tool policy that lets anyone call `allowTools`, and its JSON log in `logLines`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCloudConfig } from '../../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../../src/cloud/start.js';
import { createLogger } from '../../src/shared/logger.js';
import { ROOT } from './cli.js';
import { DEFAULT_RESOURCE } from './idp.js';

/** The server's public host name (its `BASE_URL`'s). */
export const RESOURCE_HOST = 'mcp.example.test';

export interface ResourceServerOptions {
  /** `OIDC_ISSUER`. */
  issuer: string;
  /** The tools the policy lets anyone call. */
  allowTools: readonly string[];
  /** More (or other) environment variables. */
  env?: Record<string, string>;
  /** Receives the JSON log lines. */
  logLines: string[];
  /** How long a client may take to send its headers and its request. */
  httpTimeouts?: { headersMs: number; requestMs: number };
}

/** Starts the server; closing it removes its policy file too. */
export async function startResourceServer(options: ResourceServerOptions): Promise<RunningCloud> {
  const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-attacks-'));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, `rules:\n  - tools: [${options.allowTools.join(', ')}]\n    allow: { any: true }\n`);
  const config = {
    ...loadCloudConfig({
      OIDC_ISSUER: options.issuer,
      OIDC_AUDIENCE: DEFAULT_RESOURCE,
      BASE_URL: `https://${RESOURCE_HOST}`,
      CHECKLIST_DIR: join(ROOT, 'examples/documents/checklists'),
      PROCESS_DIR: join(ROOT, 'examples/documents/processes'),
      TOOL_POLICY_FILE: policy,
      RATE_LIMIT_ENABLED: 'false',
      ...options.env,
    }),
    port: 0,
    host: '127.0.0.1',
  };
  let server: RunningCloud;
  try {
    server = await startCloud(config, {
      logger: createLogger({ format: 'json', write: (l) => options.logLines.push(l) }),
      version: 'test',
      collectDefaultMetrics: false,
      ...(options.httpTimeouts ? { httpTimeouts: options.httpTimeouts } : {}),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...server,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
