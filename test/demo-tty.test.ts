/**
 * `seed-mcp demo`'s ink view as a person sees it: the CLI in a real pseudo-terminal (util-linux
 * `script`), so stdout and stderr are TTYs and it draws the view instead of plain lines; then
 * Ctrl-C typed into that terminal, which the terminal delivers as SIGINT.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from './support/cli.js';
import { startInPty } from './support/pty.js';
import { freePort } from './support/ports.js';

const newDir = tempDirs('seed-mcp-demo-tty-');

describe('seed-mcp demo in a real terminal', () => {
  it('shows the URLs, the demo credentials and the next commands, and stops on Ctrl-C', async () => {
    const configDir = newDir();
    const mcpPort = await freePort();
    let idpPort = await freePort();
    while (idpPort === mcpPort) idpPort = await freePort();
    const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
    const issuer = `http://127.0.0.1:${idpPort}`;
    const pty = startInPty(['demo', '--port', String(mcpPort), '--idp-port', String(idpPort), '--data-dir', join(configDir, 'state')], {
      SEED_MCP_CONFIG_DIR: configDir,
      SEED_MCP_TOKEN_STORE: 'file',
    });
    await pty.waitFor(/Ctrl-C stops it\./);
    const screen = pty.text();
    const shown = `the terminal showed:\n${screen}`;

    // The view drawn by ink, not the plain lines of a non-terminal run.
    expect(screen, shown).not.toContain('[DEMO] MCP server:');
    expect(screen, shown).toContain('DEMO  seed-mcp demo — not for production');
    expect(screen, shown).toMatch(new RegExp(`Identity provider +${issuer}\\n`));
    expect(screen, shown).toMatch(new RegExp(`MCP server +${mcpUrl.replace(/[.]/g, '\\.')}\\n`));
    expect(screen, shown).toMatch(/Demo user +demo {2}password demo\n/);
    expect(screen, shown).toMatch(/Gateway child +tickets at http:\/\/127\.0\.0\.1:\d+\/mcp\n/);
    expect(screen, shown).toContain(`saved in ${join(configDir, 'config.json')}`);
    expect(screen, shown).toContain('Next, in a second terminal:');
    // Each command on one unbroken line, ready to paste.
    for (const command of [
      `seed-mcp login --profile demo ${mcpUrl}`,
      'seed-mcp status --profile demo',
      'seed-mcp token --profile demo',
      `seed-mcp serve --profile demo --upstream ${mcpUrl}`,
      'seed-mcp config claude --profile demo',
    ]) {
      expect(screen, shown).toMatch(new RegExp(`^ +${command.replace(/[.]/g, '\\.')}\\n`, 'm'));
    }
    expect(screen, shown).toContain('DEMO running. Ctrl-C stops it.');
    // The badge is drawn in colour: black on yellow.
    expect(pty.raw()).toMatch(/\x1b\[43m.*\x1b\[30m.* DEMO |\x1b\[30m.*\x1b\[43m.* DEMO /);
    // Log lines share the terminal, each marked as the demo's.
    for (const line of screen.split('\n').filter((l) => l.includes('seed-mcp info:') || l.includes('seed-mcp warn:'))) {
      expect(line, shown).toMatch(/^(\^C)?\[DEMO\] seed-mcp /);
    }

    pty.type('\x03');
    expect(await pty.done, `the terminal showed:\n${pty.text()}`).toBe(0);
    expect(pty.text()).toContain('[DEMO] stopped: the identity provider and the MCP server are closed');
  });
});
