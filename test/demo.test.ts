/**
 * `seed-mcp demo` as a newcomer runs it: the built CLI as a subprocess with its embedded IdP, the
 * real cloud server and, behind it in gateway mode, the demo's own "tickets" MCP server, then — as in a second terminal — `login --profile demo <MCP URL>` through
 * the scripted browser, `status`, `token`, the device flow, `serve --upstream` driven by the SDK's
 * clients over stdio, `config claude`, `--print-claude-config`; the refusals (non-loopback host,
 * port in use, someone else's profile); and Ctrl-C (SIGINT) freeing both ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { Client as SdkClient, StreamableHTTPClientTransport, type Client } from '@modelcontextprotocol/client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveDevice, CookieJar } from './support/scripted-browser.mjs';
import { BIN, logLines, runCli, SCRIPTED_BROWSER, startCli, tempDirs, type CliResult } from './support/cli.js';
import { connectServe, textOf } from './support/mcp-clients.js';
import { freePort } from './support/ports.js';

const newDir = tempDirs('seed-mcp-demo-');
const DOCUMENT_TOOLS = ['list_checklists', 'get_checklist', 'list_processes', 'get_process', 'search_processes'];
/** The gateway child's tools as the demo's /mcp aggregates them. */
const CHILD_TOOLS = ['tickets_list_tickets', 'tickets_who_called'];
const GATEWAY_CLIENT_ID = 'seed-mcp-demo-gateway';

/** True when a server can listen on 127.0.0.1:port again. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

interface RunningDemo {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  waitForStdout(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  done: Promise<CliResult>;
}

/** `seed-mcp demo ARGS` without a terminal, as a subprocess with exactly `env` (plus PATH, HOME). */
function spawnDemo(args: string[], env: Record<string, string>): RunningDemo {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    done,
    waitForStdout(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the demo never printed ${re}; stdout:\n${stdout}\nstderr:\n${stderr}`)), timeoutMs);
        function check() {
          const m = re.exec(stdout);
          if (!m) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        }
        waiters.add(check);
        check();
        void done.then(() => check());
      });
    },
  };
}

let configDir: string;
let dataDir: string;
let mcpPort: number;
let idpPort: number;
let mcpUrl: string;
let issuer: string;
let childUrl: string;
let demo: RunningDemo;
const secrets = new Set<string>();
const printed: string[] = [];

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    SEED_MCP_CONFIG_DIR: configDir,
    SEED_MCP_TOKEN_STORE: 'file',
    BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
    SCRIPTED_BROWSER_LOGIN: 'demo',
    SCRIPTED_BROWSER_PASSWORD: 'demo',
    ...extra,
  };
}

async function cli(args: string[], e = env()): Promise<CliResult> {
  const r = await runCli(args, e);
  printed.push(r.stderr);
  return r;
}

beforeAll(async () => {
  configDir = newDir();
  dataDir = join(newDir(), 'state');
  mcpPort = await freePort();
  do idpPort = await freePort();
  while (idpPort === mcpPort);
  demo = spawnDemo(['--port', String(mcpPort), '--idp-port', String(idpPort), '--data-dir', dataDir], env());
  const m = await demo.waitForStdout(/^\[DEMO\] MCP server: (\S+)$/m);
  mcpUrl = m[1]!;
  issuer = (await demo.waitForStdout(/^\[DEMO\] identity provider: (\S+)$/m))[1]!;
  childUrl = (await demo.waitForStdout(/^\[DEMO\] gateway child: tickets at (\S+) /m))[1]!;
  await demo.waitForStdout(/Ctrl-C stops it/);
});

afterAll(async () => {
  if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
    demo.child.kill('SIGKILL');
    await demo.done;
  }
});

describe('seed-mcp demo', () => {
  it('starts both servers on 127.0.0.1 and says DEMO on every line, with the credentials and the next commands', async () => {
    expect(mcpUrl).toBe(`http://127.0.0.1:${mcpPort}/mcp`);
    expect(issuer).toBe(`http://127.0.0.1:${idpPort}`);
    const lines = demo.stdout().trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(/^\[DEMO\] /);
    expect(lines[0]).toContain('not for production');
    expect(demo.stdout()).toContain('[DEMO] demo user: demo  password: demo');
    expect(demo.stdout()).toContain(`[DEMO]   seed-mcp login --profile demo ${mcpUrl}`);
    expect(demo.stdout()).toContain(`[DEMO]   seed-mcp serve --profile demo --upstream ${mcpUrl}`);
    for (const line of demo.stderr().trimEnd().split('\n').filter(Boolean)) expect(line).toMatch(/^\[DEMO\] /);
    expect(demo.stderr()).not.toMatch(/Unsupported runtime|in-memory adapter|devInteractions/);

    // The profile it saved: enough for `login` to need no flags, and never a secret.
    const saved = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')).profiles.demo;
    expect(saved).toEqual({
      clientId: 'seed-mcp-demo',
      scopes: 'openid profile email offline_access checklist.list checklist.read process.read process.search',
      upstream: mcpUrl,
    });
    expect(demo.stdout()).toContain(`profile "demo" saved in ${join(configDir, 'config.json')}`);

    // Its keys: 0600 in a 0700 dir.
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'idp-keys.json')).mode & 0o777).toBe(0o600);

    // The gateway child: on an ephemeral 127.0.0.1 port, named in the banner, in an upstreams file
    // of the data dir with the gateway's service client, whose secret is a 0600 file never printed.
    expect(childUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(demo.stdout()).toContain(`[DEMO] gateway child: tickets at ${childUrl} (on /mcp as tickets_<tool>, alone at http://127.0.0.1:${mcpPort}/mcp/tickets)`);
    const secret = readFileSync(join(dataDir, 'gateway-client-secret'), 'utf8').trim();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    secrets.add(secret);
    expect(statSync(join(dataDir, 'gateway-client-secret')).mode & 0o777).toBe(0o600);
    const upstreams = readFileSync(join(dataDir, 'upstreams.yaml'), 'utf8');
    expect(statSync(join(dataDir, 'upstreams.yaml')).mode & 0o777).toBe(0o600);
    expect(upstreams).toContain(`url: ${childUrl}`);
    expect(upstreams).toContain(`client_id: ${GATEWAY_CLIENT_ID}`);
    expect(upstreams).toContain('client_secret_file: gateway-client-secret');
    expect(upstreams).not.toContain(secret);
    const childPrm = await (await fetch(`http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp/tickets`)).json();
    expect(childPrm).toMatchObject({ resource: `http://127.0.0.1:${mcpPort}/mcp/tickets`, authorization_servers: [issuer] });
    const ready = await (await fetch(`http://127.0.0.1:${mcpPort}/health/ready`)).json();
    expect(ready.checks.children.children.map((c: { name: string }) => c.name)).toEqual(['tickets']);
    // The child itself wants a bearer token.
    const bare = await fetch(childUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(bare.status).toBe(401);

    // The cloud server's metadata names the demo IdP; the IdP's pages say DEMO.
    const prm = await (await fetch(`http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(prm).toMatchObject({ resource: mcpUrl, authorization_servers: [issuer], scopes_supported: ['checklist.list', 'checklist.read', 'process.read', 'process.search'] });
    const home = await (await fetch(`${issuer}/`)).text();
    expect(home).toContain('<title>This is a demo — seed-mcp DEMO identity provider — not for production</title>');
  });

  it('the login page is marked as a demo and a wrong password shows an error on it', async () => {
    const jar = new CookieJar();
    const challenge = createHash('sha256').update('a-verifier-of-at-least-43-characters-for-pkce-s256').digest('base64url');
    const auth = new URL(`${issuer}/auth`);
    for (const [k, v] of Object.entries({
      client_id: 'seed-mcp-demo',
      response_type: 'code',
      redirect_uri: 'http://127.0.0.1:9/callback',
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 's',
      resource: mcpUrl,
    })) {
      auth.searchParams.set(k, v);
    }
    const first = await fetch(auth, { redirect: 'manual' });
    jar.store(auth, first.headers);
    const pageUrl = new URL(first.headers.get('location')!, auth);
    expect(pageUrl.pathname).toMatch(/^\/interaction\/[\w-]+$/);
    const page = await fetch(pageUrl, { headers: { cookie: jar.header(pageUrl)! } });
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('<title>Sign in — seed-mcp DEMO identity provider — not for production</title>');
    expect(html).toContain('<div class="banner">seed-mcp DEMO identity provider — not for production</div>');
    expect(html).toContain('<input type="hidden" name="prompt" value="login">');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");

    const wrong = await fetch(pageUrl, {
      method: 'POST',
      headers: { cookie: jar.header(pageUrl)!, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt: 'login', login: 'demo', password: 'not-the-password' }),
      redirect: 'manual',
    });
    expect(wrong.status).toBe(403);
    const again = await wrong.text();
    expect(again).toContain('Wrong user name or password. The demo user is &#34;demo&#34; with the password &#34;demo&#34;.');
    expect(again).toContain('name="prompt" value="login"');
    expect(demo.stderr()).toContain('[DEMO] seed-mcp warn: wrong user name or password on the demo IdP');
  });

  it('`login --profile demo <MCP URL>` discovers the demo IdP and signs in through its pages; status and token agree', async () => {
    const browserLog = join(configDir, 'browser.log');
    const login = await cli(['login', '--profile', 'demo', mcpUrl], env({ SCRIPTED_BROWSER_LOG: browserLog }));
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Signed in to ${issuer} as Demo User <demo@example.com> (profile demo)`);
    const [launch] = await logLines(browserLog);
    expect(launch.error, JSON.stringify(launch)).toBeUndefined();
    expect(launch.callbackStatus).toBe(200);
    // The issuer came from the server's metadata, not from the saved profile.
    expect(launch.url.startsWith(`${issuer}/auth?`)).toBe(true);
    expect(new URL(launch.url).searchParams.get('resource')).toBe(mcpUrl);

    const status = await cli(['status', '--profile', 'demo', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      profile: 'demo',
      signedIn: true,
      issuer,
      clientId: 'seed-mcp-demo',
      subject: 'demo',
      name: 'Demo User',
      email: 'demo@example.com',
      resource: mcpUrl,
      canRefresh: true,
    });

    const token = await runCli(['token', '--profile', 'demo'], env());
    expect(token.code, token.stderr).toBe(0);
    const jwt = token.stdout.trim();
    secrets.add(jwt);
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(jwt, jwks, { issuer, audience: mcpUrl });
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    expect(payload.sub).toBe('demo');
    expect(String(payload.scope).split(' ')).toEqual(expect.arrayContaining(['checklist.list', 'checklist.read', 'process.read', 'process.search']));
    const stored = JSON.parse(readFileSync(join(configDir, 'tokens', 'demo.json'), 'utf8'));
    for (const k of ['refreshToken', 'idToken']) if (stored[k]) secrets.add(stored[k]);
    expect(decodeJwt(stored.idToken)).toMatchObject({ iss: issuer, aud: 'seed-mcp-demo', name: 'Demo User' });
  });

  it('Cancel on the demo IdP’s page ends the sign-in with access denied (exit 1)', async () => {
    const r = await cli(['login', '--profile', 'demo-cancel', '--client-id', 'seed-mcp-demo', mcpUrl], env({ SCRIPTED_BROWSER_ACTION: 'deny' }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('✖ could not sign in: access was denied at the identity provider');
  });

  it('signs in with the device flow on the demo IdP’s pages', async () => {
    const running = startCli(
      ['login', '--device', '--profile', 'demo-device', '--client-id', 'seed-mcp-demo', '--scope', 'openid profile offline_access checklist.list', mcpUrl],
      env({ BROWSER: 'false' }),
    );
    const m = await running.waitForStderr(/open (\S+) and enter the code (\S+)\n {2}\(or open (\S+)\)/);
    const approved = await approveDevice(m[3]!, { login: 'demo', password: 'demo' });
    expect(approved.outcome).toBe('approved');
    expect(approved.body).toContain('seed-mcp DEMO identity provider — not for production');
    const r = await running.done;
    printed.push(r.stderr);
    expect(r.code, r.stderr).toBe(0);
    // No `email` scope asked for: the name alone.
    expect(r.stdout).toContain('as Demo User (profile demo-device)');
  }, 30_000);

  for (const era of ['modern', 'legacy'] as const) {
    it(`\`serve --upstream\` bridges an SDK ${era} client to the document tools`, async () => {
      const serve = await connectServe(era, ['serve', '--upstream', mcpUrl, '--profile', 'demo'], env());
      try {
        const client = serve.client as Client;
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['seed_ping', 'whoami', ...DOCUMENT_TOOLS, ...CHILD_TOOLS]));

        // The gateway child's tools, aggregated: the child is called with the gateway's service token, not the user's.
        const tickets = await client.callTool({ name: 'tickets_list_tickets', arguments: { status: 'open' } });
        expect(tickets.isError, textOf(tickets)).toBeFalsy();
        expect((tickets.structuredContent as { count: number }).count).toBe(2);
        expect(textOf(tickets)).toContain('TCK-101');
        const seen = await client.callTool({ name: 'tickets_who_called', arguments: {} });
        expect(seen.isError, textOf(seen)).toBeFalsy();
        expect(seen.structuredContent).toMatchObject({ client_id: GATEWAY_CLIENT_ID, audience: [childUrl] });
        expect((seen.structuredContent as { subject: string }).subject).not.toBe('demo');

        const list = await client.callTool({ name: 'list_checklists', arguments: {} });
        expect(list.isError, textOf(list)).toBeFalsy();
        const listed = list.structuredContent as { count: number; checklists: Array<{ id: string; title: string }> };
        expect(listed.count).toBe(3);
        const id = listed.checklists.find((c) => c.title === 'Engineer onboarding')?.id ?? listed.checklists[0]!.id;

        const one = await client.callTool({ name: 'get_checklist', arguments: { id } });
        expect(one.isError, textOf(one)).toBeFalsy();
        expect(textOf(one)).toContain('# Engineer onboarding');

        const found = await client.callTool({ name: 'search_processes', arguments: { query: 'access review' } });
        expect(found.isError, textOf(found)).toBeFalsy();
        const results = (found.structuredContent as { results: Array<{ id: string }> }).results;
        expect(results.length).toBeGreaterThan(0);

        const who = await client.callTool({ name: 'whoami', arguments: {} });
        expect(textOf(who)).toContain('demo');
        printed.push(serve.stderr());
      } finally {
        await serve.close();
      }
    });
  }

  it('the gateway child refuses the demo user’s token; /mcp/tickets serves it alone to a user signed in for it', async () => {
    // The user's token is for the demo's /mcp, not for the child: only the gateway gets in.
    const userToken = await runCli(['token', '--profile', 'demo'], env());
    expect(userToken.code, userToken.stderr).toBe(0);
    secrets.add(userToken.stdout.trim());
    const refused = await fetch(childUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${userToken.stdout.trim()}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(refused.status).toBe(401);

    // A user token for /mcp/tickets, from a sign-in that discovered it from the gateway's metadata.
    const servedAt = `http://127.0.0.1:${mcpPort}/mcp/tickets`;
    const login = await cli(['login', '--profile', 'demo-tickets', '--client-id', 'seed-mcp-demo', servedAt]);
    expect(login.code, login.stderr).toBe(0);
    const token = await runCli(['token', '--profile', 'demo-tickets'], env());
    expect(token.code, token.stderr).toBe(0);
    const jwt = token.stdout.trim();
    secrets.add(jwt);
    expect(decodeJwt(jwt)).toMatchObject({ sub: 'demo', aud: servedAt });
    const client = new SdkClient({ name: 'demo-gateway-test', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(servedAt), { requestInit: { headers: { authorization: `Bearer ${jwt}` } } }));
    try {
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['list_tickets', 'who_called']);
      const seen = await client.callTool({ name: 'who_called', arguments: {} });
      expect(seen.isError, textOf(seen)).toBeFalsy();
      expect(seen.structuredContent).toMatchObject({ client_id: GATEWAY_CLIENT_ID, audience: [childUrl] });
    } finally {
      await client.close();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${mcpPort}/metrics`)).text();
    expect(metrics).toMatch(/mcp_child_token_mints_total\{child="tickets",result="success"\} 1\n/);
    expect(metrics).toMatch(/mcp_child_requests_total\{child="tickets",outcome="success"\} \d+/);
  }, 30_000);

  it('`config claude --profile demo` and `demo --print-claude-config` name the profile and the upstream', async () => {
    const config = await cli(['config', 'claude', '--profile', 'demo']);
    expect(config.code, config.stderr).toBe(0);
    // The demo profile found its IdP from the MCP server: the entry is `serve --upstream URL`, the IdP found again at each start.
    const entry = JSON.parse(config.stdout).mcpServers['seed-mcp-demo'];
    expect(entry.args).toEqual([realpathSync(BIN), 'serve', '--upstream', mcpUrl]);
    expect(entry.env).toMatchObject({ SEED_MCP_PROFILE: 'demo', SEED_MCP_CLIENT_ID: 'seed-mcp-demo' });
    expect(entry.env.SEED_MCP_ISSUER).toBeUndefined();

    // While the demo holds its ports: it starts nothing.
    const printedConfig = await cli(['demo', '--port', String(mcpPort), '--idp-port', String(idpPort), '--print-claude-config']);
    expect(printedConfig.code, printedConfig.stderr).toBe(0);
    expect(JSON.parse(printedConfig.stdout)).toEqual({
      mcpServers: {
        'seed-mcp-demo': {
          command: process.execPath,
          args: [realpathSync(BIN), 'serve'],
          env: {
            SEED_MCP_PROFILE: 'demo',
            SEED_MCP_ISSUER: issuer,
            SEED_MCP_CLIENT_ID: 'seed-mcp-demo',
            SEED_MCP_SCOPES: 'openid profile email offline_access checklist.list checklist.read process.read process.search',
            SEED_MCP_RESOURCE: mcpUrl,
            SEED_MCP_UPSTREAM: mcpUrl,
          },
        },
      },
    });
  });

  it('refuses a non-loopback host, a port in use and someone else’s profile, with exit 2', async () => {
    const host = await cli(['demo', '--host', '0.0.0.0', '--port', String(mcpPort)]);
    expect(host.code).toBe(2);
    expect(host.stderr).toContain('✖ could not use --host 0.0.0.0: the demo listens on 127.0.0.1 only');

    const busy = await cli(['demo', '--port', String(mcpPort), '--idp-port', String(await freePort()), '--data-dir', join(newDir(), 'd')]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain(`✖ could not start the demo MCP server on 127.0.0.1:${mcpPort}: the port is in use`);
    expect(busy.stderr).toContain('pass --port N');

    const other = newDir();
    writeFileSync(join(other, 'config.json'), JSON.stringify({ profiles: { demo: { issuer: 'https://acme.okta.com', clientId: '0oa1b2c3' } } }));
    const taken = await runCli(['demo', '--port', String(await freePort())], { SEED_MCP_CONFIG_DIR: other });
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain('profile "demo"');
    expect(taken.stderr).toContain('pass --profile NAME');
    expect(JSON.parse(readFileSync(join(other, 'config.json'), 'utf8')).profiles.demo.clientId).toBe('0oa1b2c3');
  });

  it('SIGINT stops everything: exit 0, both ports free, no token printed', async () => {
    demo.child.kill('SIGINT');
    const r = await demo.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('[DEMO] stopped: the identity provider and the MCP server are closed');
    expect(await connectionRefused(mcpPort)).toBe(true);
    expect(await connectionRefused(idpPort)).toBe(true);
    expect(await connectionRefused(Number(new URL(childUrl).port))).toBe(true);
    expect(await canListen(mcpPort)).toBe(true);
    expect(await canListen(idpPort)).toBe(true);
    const everything = [r.stdout, r.stderr, ...printed].join('\n');
    expect(secrets.size).toBeGreaterThan(0);
    for (const s of secrets) expect(everything.includes(s), 'a token was printed').toBe(false);
  });
});
