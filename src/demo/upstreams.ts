/**
 * The demo's gateway wiring (README "Gateway"): the service client secret the gateway
 * authenticates with at the demo IdP, and the `UPSTREAMS_FILE` naming the demo's tickets child.
 * Both live in the demo data dir (0600 in 0700); the secret is never printed or logged.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The gateway's confidential client at the demo IdP (client credentials only). */
export const DEMO_GATEWAY_CLIENT_ID = 'seed-mcp-demo-gateway';
/** Its secret, in the data dir. */
export const GATEWAY_SECRET_FILE = 'gateway-client-secret';
/** The upstreams file the demo's cloud runs with, in the data dir. */
export const UPSTREAMS_FILE_NAME = 'upstreams.yaml';

async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** The service client's secret: kept from an earlier run, or a new random one (file 0600). */
export async function loadOrCreateGatewaySecret(dataDir: string): Promise<{ secret: string; path: string }> {
  const path = join(dataDir, GATEWAY_SECRET_FILE);
  try {
    const secret = (await readFile(path, 'utf8')).trim();
    if (/^[\w-]{32,}$/.test(secret)) {
      await chmod(path, 0o600);
      return { secret, path };
    }
  } catch {
    // Absent or unreadable: a new one below.
  }
  const secret = randomBytes(32).toString('base64url');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writePrivate(path, `${secret}\n`);
  return { secret, path };
}

export interface DemoUpstreamsInput {
  issuer: string;
  /** The tickets child's MCP URL, also its tokens' audience (resource). */
  childUrl: string;
  childName: string;
}

/** The upstreams file's text: one HTTP child, reached with the gateway's client-credentials token. */
export function demoUpstreamsYaml(input: DemoUpstreamsInput): string {
  return `# Written by \`seed-mcp demo\` at each start: the MCP servers its seed-mcp cloud fronts (README "Gateway").
upstreams:
  - name: ${input.childName}
    url: ${input.childUrl}
    timeout_ms: 10000
    auth:
      # The gateway's own token toward the child; the signed-in user's token never reaches it.
      type: client_credentials
      issuer: ${input.issuer}
      client_id: ${DEMO_GATEWAY_CLIENT_ID}
      client_secret_file: ${GATEWAY_SECRET_FILE}
      resource: ${input.childUrl}
    allowed_issuers: [${input.issuer}]
`;
}

/** Writes the upstreams file into the data dir (0600) and returns its path. */
export async function writeDemoUpstreams(dataDir: string, input: DemoUpstreamsInput): Promise<string> {
  const path = join(dataDir, UPSTREAMS_FILE_NAME);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writePrivate(path, demoUpstreamsYaml(input));
  return path;
}
