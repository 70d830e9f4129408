import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as LegacyStdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN } from './cli.js';

export interface ServeClient {
  client: Client | LegacyClient;
  /** What the server printed on stderr so far. */
  stderr(): string;
  close(): Promise<void>;
}

function baseEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env };
  for (const k of ['DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR']) if (process.env[k] && !(k in env)) out[k] = process.env[k]!;
  return out;
}

/**
 * Spawns `seed-mcp serve ARGS` with the SDK's stdio client: v2 (`modern`, negotiates 2026-07-28)
 * or v1 (`legacy`, the `initialize` handshake).
 */
export async function connectServe(era: 'modern' | 'legacy', args: string[], env: Record<string, string>): Promise<ServeClient> {
  const params = { command: process.execPath, args: [BIN, ...args], env: baseEnv(env), stderr: 'pipe' as const };
  let stderr = '';
  if (era === 'modern') {
    const transport = new StdioClientTransport(params);
    const client = new Client({ name: 'seed-mcp-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    const connected = client.connect(transport);
    transport.stderr?.on('data', (d: Buffer) => (stderr += d));
    await connected;
    return { client, stderr: () => stderr, close: () => client.close() };
  }
  const transport = new LegacyStdioClientTransport(params);
  const client = new LegacyClient({ name: 'seed-mcp-test-legacy', version: '1.0.0' });
  const connected = client.connect(transport);
  transport.stderr?.on('data', (d: Buffer) => (stderr += d));
  await connected;
  return { client, stderr: () => stderr, close: () => client.close() };
}

/** The text of a tool result's first content block. */
export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? '').join('\n');
}
