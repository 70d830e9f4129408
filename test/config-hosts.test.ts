/**
 * `seed-mcp config <host>` for every MCP host: the printed entry parses in the host's format, and
 * --install against a temp home writes the absolute node + script entry where the host reads it,
 * keeps what was there, backs it up, and leaves a broken file alone. The written entry starts
 * `seed-mcp serve` without PATH.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { HOSTS } from '../src/local/host-config/hosts.js';
import { runCli, tempDirs } from './support/cli.js';

const newDir = tempDirs('seed-mcp-hosts-');

const base = {
  SEED_MCP_TOKEN_STORE: 'file',
  SEED_MCP_ISSUER: 'https://login.example.com',
  SEED_MCP_CLIENT_ID: 'seed-cli',
};

/** A temp home: every host's default file lands under it. */
function home(): { dir: string; env: Record<string, string> } {
  const dir = newDir();
  return {
    dir,
    env: { ...base, HOME: dir, SEED_MCP_CONFIG_DIR: join(dir, 'seed'), XDG_CONFIG_HOME: join(dir, 'xdg'), APPDATA: join(dir, 'appdata'), CODEX_HOME: join(dir, 'codex') },
  };
}

/** Where each host's file is under the temp home on Linux. */
const LINUX_PATHS: Record<string, string> = {
  claude: 'xdg/Claude/claude_desktop_config.json',
  'claude-code': '.claude.json',
  cursor: '.cursor/mcp.json',
  vscode: 'xdg/Code/User/mcp.json',
  windsurf: '.codeium/windsurf/mcp_config.json',
  codex: 'codex/config.toml',
};

const typed = new Set(['claude-code', 'vscode']);

const parse = (format: 'json' | 'toml', text: string): any => (format === 'toml' ? parseToml(text) : JSON.parse(text));
const format = (f: 'json' | 'toml', doc: Record<string, unknown>): string => (f === 'toml' ? stringifyToml(doc) : JSON.stringify(doc, null, 2));

function expectEntry(entry: any, id: string, env: Record<string, string>): void {
  expect(isAbsolute(entry.command)).toBe(true);
  expect(existsSync(entry.command)).toBe(true);
  expect(entry.command).toBe(process.execPath);
  expect(entry.args).toHaveLength(2);
  expect(isAbsolute(entry.args[0])).toBe(true);
  expect(entry.args[0]).toMatch(/[\\/]bin[\\/]seed-mcp\.js$/);
  expect(existsSync(entry.args[0])).toBe(true);
  expect(entry.args[1]).toBe('serve');
  expect(entry.env).toEqual(env);
  if (typed.has(id)) expect(entry.type).toBe('stdio');
  else expect(entry.type).toBeUndefined();
}

const entryEnv = { SEED_MCP_ISSUER: 'https://login.example.com', SEED_MCP_CLIENT_ID: 'seed-cli', SEED_MCP_UPSTREAM: 'https://mcp.example.com/mcp' };

describe.each(HOSTS.map((h) => [h.id, h] as const))('config %s', (id, host) => {
  it('prints the entry in the host’s own format', async () => {
    const { env } = home();
    const r = await runCli(['config', id, '--upstream', 'https://mcp.example.com/mcp'], env);
    expect(r.code, r.stderr).toBe(0);
    const doc = parse(host.format, r.stdout);
    expect(Object.keys(doc)).toEqual([host.serversKey]);
    expect(Object.keys(doc[host.serversKey])).toEqual(['seed-mcp']);
    expectEntry(doc[host.serversKey]['seed-mcp'], id, entryEnv);
  });

  it('--install creates, then merges into, the default file, keeping the rest and a backup', async () => {
    expect(process.platform, 'this test checks the Linux default paths: run the tests on Linux, as .ci/run does (Debian 12)').toBe('linux');
    const { dir, env } = home();
    const file = join(dir, LINUX_PATHS[id]!);
    const r0 = await runCli(['config', id, '--install', '--profile', 'work', '--upstream', 'https://mcp.example.com/mcp'], env);
    expect(r0.code, r0.stderr).toBe(0);
    expect(r0.stdout).toContain(`Added "seed-mcp-work" in ${file}.`);
    expect(readdirSync(dirname(file)).filter((f) => f.includes('.bak-'))).toEqual([]); // nothing to back up
    expectEntry(parse(host.format, readFileSync(file, 'utf8'))[host.serversKey]['seed-mcp-work'], id, { SEED_MCP_PROFILE: 'work', ...entryEnv });

    // A file with other keys and servers: they stay, the previous file is backed up once.
    const original = { theme: 'dark', nested: { keep: [1, 2] }, [host.serversKey]: { other: { command: 'other-server', args: ['--x'] } } };
    writeFileSync(file, format(host.format, original));
    const r = await runCli(['config', id, '--install', '--profile', 'work', '--upstream', 'https://mcp.example.com/mcp'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Added "seed-mcp-work" in .+ \(previous file kept as .+\.bak-\d{8}T\d{6}\)\. /);
    if (host.format === 'toml') expect(r.stdout).toContain('Comments and formatting of the previous file are not kept');
    const merged = parse(host.format, readFileSync(file, 'utf8'));
    expect(merged.theme).toBe('dark');
    expect(merged.nested).toEqual({ keep: [1, 2] });
    expect(merged[host.serversKey].other).toEqual({ command: 'other-server', args: ['--x'] });
    expectEntry(merged[host.serversKey]['seed-mcp-work'], id, { SEED_MCP_PROFILE: 'work', ...entryEnv });
    const backups = readdirSync(dirname(file)).filter((f) => f.startsWith(`${basename(file)}.bak-`));
    expect(backups).toHaveLength(1);
    expect(parse(host.format, readFileSync(join(dirname(file), backups[0]!), 'utf8'))).toEqual(original);

    // Again: replaced in place, a second backup (never over the first, even within one second).
    const again = await runCli(['config', id, '--install', '--profile', 'work'], env);
    expect(again.stdout).toMatch(/^Updated "seed-mcp-work"/);
    expect(Object.keys(parse(host.format, readFileSync(file, 'utf8'))[host.serversKey])).toEqual(['other', 'seed-mcp-work']);
    expect(readdirSync(dirname(file)).filter((f) => f.startsWith(`${basename(file)}.bak-`))).toHaveLength(2);
  });

  it('leaves a file that does not parse byte-identical and says what to do (exit 2)', async () => {
    const { dir, env } = home();
    const file = join(dir, 'sub', `broken.${host.format}`);
    mkdirSync(dirname(file));
    const broken = host.format === 'toml' ? '[mcp_servers.x\ncommand = "a"\n' : '{ "servers": { oops';
    writeFileSync(file, broken);
    const r = await runCli(['config', id, '--install', '--file', file], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`it is not valid ${host.format.toUpperCase()}, so it was left untouched`);
    expect(r.stderr).toContain(`→ fix the file (or move it away), then run \`seed-mcp config ${id} --install\` again`);
    expect(readFileSync(file, 'utf8')).toBe(broken);
    expect(readdirSync(dirname(file))).toEqual([basename(file)]);
  });
});

describe('host config paths', () => {
  it('follow each platform', () => {
    const paths = Object.fromEntries(
      HOSTS.map((h) => [
        h.id,
        {
          linux: h.defaultPath({ XDG_CONFIG_HOME: '/x', CODEX_HOME: '/c' }, 'linux'),
          darwin: h.defaultPath({}, 'darwin'),
          win32: h.defaultPath({ APPDATA: 'C:\\AppData' }, 'win32'),
        },
      ]),
    );
    const h = homedir();
    expect(paths.claude).toEqual({
      linux: '/x/Claude/claude_desktop_config.json',
      darwin: join(h, 'Library', 'Application Support', 'Claude', 'claude_desktop_config.json'),
      win32: join('C:\\AppData', 'Claude', 'claude_desktop_config.json'),
    });
    expect(paths.vscode).toEqual({
      linux: '/x/Code/User/mcp.json',
      darwin: join(h, 'Library', 'Application Support', 'Code', 'User', 'mcp.json'),
      win32: join('C:\\AppData', 'Code', 'User', 'mcp.json'),
    });
    expect(paths['claude-code']!.darwin).toBe(join(h, '.claude.json'));
    expect(paths.cursor!.win32).toBe(join(h, '.cursor', 'mcp.json'));
    expect(paths.windsurf!.linux).toBe(join(h, '.codeium', 'windsurf', 'mcp_config.json'));
    expect(paths.codex!.linux).toBe('/c/config.toml');
    expect(HOSTS.find((x) => x.id === 'codex')!.defaultPath({}, 'linux')).toBe(join(h, '.codex', 'config.toml'));
  });
});

describe('the written entry', () => {
  it('starts `seed-mcp serve` with only its own env: no PATH, no npx', async () => {
    const { dir, env } = home();
    const r = await runCli(['config', 'codex', '--install'], env);
    expect(r.code, r.stderr).toBe(0);
    const entry = (parseToml(readFileSync(join(dir, 'codex', 'config.toml'), 'utf8')) as any).mcp_servers['seed-mcp'];
    const child = spawn(entry.command, entry.args, {
      env: { ...entry.env, HOME: dir, SEED_MCP_CONFIG_DIR: join(dir, 'seed'), SEED_MCP_TOKEN_STORE: 'memory' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    try {
      const answers = new Map<number, any>();
      let buffer = '';
      let wake: () => void = () => {};
      child.stdout.on('data', (d: Buffer) => {
        buffer += d;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          const msg = JSON.parse(line);
          if (typeof msg.id === 'number') answers.set(msg.id, msg);
        }
        wake();
      });
      const send = (msg: unknown) => child.stdin.write(JSON.stringify({ jsonrpc: '2.0', ...(msg as object) }) + '\n');
      const answer = (id: number) =>
        new Promise<any>((res, rej) => {
          const timer = setTimeout(() => rej(new Error(`no answer to ${id}; stderr:\n${stderr}`)), 15_000);
          wake = () => {
            if (answers.has(id)) {
              clearTimeout(timer);
              res(answers.get(id));
            }
          };
          wake();
        });
      send({ id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'hosts-test', version: '1.0.0' } } });
      expect((await answer(1)).result.serverInfo.name).toBeTruthy();
      send({ method: 'notifications/initialized' });
      send({ id: 2, method: 'tools/list', params: {} });
      const tools = (await answer(2)).result.tools.map((t: { name: string }) => t.name);
      expect(tools).toContain('seed_ping');
    } finally {
      child.stdin.end();
      child.kill();
    }
  });
});
