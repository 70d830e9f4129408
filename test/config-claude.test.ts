/** `seed-mcp config claude`: the printed entry, and --install merging into Claude Desktop's config. */
import { chmodSync, existsSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, runCli, tempDirs } from './support/cli.js';

const newDir = tempDirs();

const env = (dir: string) => ({
  SEED_MCP_CONFIG_DIR: dir,
  SEED_MCP_TOKEN_STORE: 'file',
  SEED_MCP_ISSUER: 'https://login.example.com',
  SEED_MCP_CLIENT_ID: 'seed-cli',
});

describe('config claude', () => {
  it('prints exactly the stdio entry for the profile', async () => {
    const dir = newDir();
    const r = await runCli(['config', 'claude', '--profile', 'work', '--upstream', 'https://mcp.example.com/mcp'], env(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      mcpServers: {
        'seed-mcp-work': {
          command: process.execPath,
          args: [realpathSync(BIN), 'serve'],
          env: { SEED_MCP_PROFILE: 'work', SEED_MCP_ISSUER: 'https://login.example.com', SEED_MCP_CLIENT_ID: 'seed-cli', SEED_MCP_UPSTREAM: 'https://mcp.example.com/mcp' },
        },
      },
    });
  });

  it('with nothing but the upstream URL, the entry is `serve --upstream URL` under the profile named after its host, and no note', async () => {
    const dir = newDir();
    const r = await runCli(['config', 'claude', '--upstream', 'https://mcp.example.com/mcp'], { SEED_MCP_CONFIG_DIR: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      mcpServers: {
        'seed-mcp-mcp.example.com': {
          command: process.execPath,
          args: [realpathSync(BIN), 'serve', '--upstream', 'https://mcp.example.com/mcp'],
          env: { SEED_MCP_PROFILE: 'mcp.example.com' },
        },
      },
    });
  });

  it('--install merges into an existing config, keeping other servers and a backup', async () => {
    const dir = newDir();
    const file = join(dir, 'Claude', 'claude_desktop_config.json');
    const original = { globalShortcut: 'Ctrl+Space', mcpServers: { other: { command: 'other-server', args: [] } } };
    const r0 = await runCli(['config', 'claude', '--install', '--file', file], env(dir));
    expect(r0.code, r0.stderr).toBe(0); // no file yet: created
    writeFileSync(file, JSON.stringify(original, null, 2));
    chmodSync(file, 0o644);
    const r = await runCli(['config', 'claude', '--install', '--file', file], env(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Added "seed-mcp" in .+claude_desktop_config\.json \(previous file kept as .+\.bak-\d{8}T\d{6}\)\. Restart Claude Desktop to use it\.\n$/);
    const merged = JSON.parse(readFileSync(file, 'utf8'));
    expect(merged.globalShortcut).toBe('Ctrl+Space');
    expect(merged.mcpServers.other).toEqual(original.mcpServers.other);
    expect(merged.mcpServers['seed-mcp']).toMatchObject({ command: process.execPath, args: [realpathSync(BIN), 'serve'] });
    expect(statSync(file).mode & 0o777).toBe(0o644); // the file keeps its mode
    // Installing again replaces our entry in place.
    await new Promise((res) => setTimeout(res, 1100)); // a new backup name (second resolution)
    const again = await runCli(['config', 'claude', '--install', '--file', file], env(dir));
    expect(again.stdout).toMatch(/^Updated "seed-mcp"/);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).mcpServers)).toEqual(['other', 'seed-mcp']);
    const backups = readdirSync(join(dir, 'Claude'))
      .filter((f) => f.includes('.bak-'))
      .sort();
    expect(backups).toHaveLength(2);
    expect(JSON.parse(readFileSync(join(dir, 'Claude', backups[0]!), 'utf8'))).toEqual(original);
  });

  it('leaves a config that is not valid JSON untouched and says what to do (exit 2)', async () => {
    const dir = newDir();
    const file = join(dir, 'claude_desktop_config.json');
    writeFileSync(file, '{ "mcpServers": { oops');
    const r = await runCli(['config', 'claude', '--install', '--file', file], env(dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('it is not valid JSON, so it was left untouched');
    expect(r.stderr).toContain('→ fix the file');
    expect(readFileSync(file, 'utf8')).toBe('{ "mcpServers": { oops');
    expect(existsSync(`${file}.bak`)).toBe(false);
  });

  it('never puts a secret in the entry', async () => {
    const dir = newDir();
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'very-secret-value');
    const r = await runCli(['config', 'claude'], { ...env(dir), SEED_MCP_CLIENT_SECRET_FILE: secretFile });
    expect(r.stdout).not.toContain('very-secret-value');
    expect(JSON.parse(r.stdout).mcpServers['seed-mcp'].env.SEED_MCP_CLIENT_SECRET_FILE).toBe(secretFile);
  });

  it('installs into the platform’s Claude Desktop config by default', async () => {
    const { hostById } = await import('../src/local/host-config/hosts.js');
    const claudeConfigPath = hostById('claude')!.defaultPath;
    const home = (await import('node:os')).homedir();
    expect(claudeConfigPath({}, 'darwin')).toBe(join(home, 'Library', 'Application Support', 'Claude', 'claude_desktop_config.json'));
    expect(claudeConfigPath({ APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, 'win32')).toBe(join('C:\\Users\\a\\AppData\\Roaming', 'Claude', 'claude_desktop_config.json'));
    expect(claudeConfigPath({ XDG_CONFIG_HOME: '/x' }, 'linux')).toBe('/x/Claude/claude_desktop_config.json');
    // Without --file, the CLI writes there (HOME and XDG_CONFIG_HOME pointed at a temp dir).
    const dir = newDir();
    const r = await runCli(['config', 'claude', '--install'], { ...env(dir), XDG_CONFIG_HOME: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'Claude', 'claude_desktop_config.json'), 'utf8')).mcpServers['seed-mcp'].command).toBe(process.execPath);
  });
});
