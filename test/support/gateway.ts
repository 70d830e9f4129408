/**
 * Gateway tests' common parts: `seed-mcp cloud` in process on a port chosen before the IdP starts
 * (the IdP must know the gateway's resources), with its JSON log kept, and MCP clients of both SDK
 * generations that carry a bearer token.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { loadCloudConfig } from '../../src/cloud/config.js';
import { startCloud, type CloudDeps, type RunningCloud } from '../../src/cloud/start.js';
import { createLogger } from '../../src/shared/logger.js';
import { freePort } from './ports.js';

/** A free port on 127.0.0.1 and the gateway's base URL on it. */
export async function reserveBaseUrl(): Promise<{ port: number; baseUrl: string }> {
  const port = await freePort();
  return { port, baseUrl: `http://127.0.0.1:${port}` };
}

export interface StartedGateway {
  cloud: RunningCloud;
  /** Every JSON log line the server wrote. */
  logLines: string[];
}

/** Starts cloud on `port` with `env` (BASE_URL and RATE_LIMIT_ENABLED=false added), logging at debug. */
export async function startGatewayCloud(port: number, baseUrl: string, env: Record<string, string>, deps: Partial<CloudDeps> = {}): Promise<StartedGateway> {
  const logLines: string[] = [];
  const cloud = await startCloud(
    { ...loadCloudConfig({ BASE_URL: baseUrl, RATE_LIMIT_ENABLED: 'false', ...env }), port, host: '127.0.0.1' },
    { logger: createLogger({ format: 'json', level: 'debug', write: (l) => logLines.push(l) }), version: 'test', collectDefaultMetrics: false, ...deps },
  );
  return { cloud, logLines };
}

/** An SDK v2 client (negotiating its era) connected to `url` with `token`. */
export async function modernMcpClient(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'gateway-test', version: '1' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

/** An SDK v1 client (the initialize era) connected to `url` with `token`. */
export async function legacyMcpClient(url: string, token: string): Promise<V1Client> {
  const client = new V1Client({ name: 'gateway-test-v1', version: '1' });
  await client.connect(new V1StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}
