/**
 * Real clients sign in through the OAuth proxy's own consent page (issue #11): `seed-mcp cloud`
 * with OAUTH_PROXY_ENABLED in front of the real test IdP, and
 *
 * - the SDK's OAuth client with headless Chromium as the browser: the consent page is shown (its
 *   text checked, a screenshot taken and checked), Allow, the IdP's login and consent pages, the
 *   loopback callback, the SDK's code exchange and a tool call;
 * - mcp-remote as a desktop host runs it, with the scripted browser as its `BROWSER` (the `open`
 *   package runs its bundled xdg-open, which on a machine without a desktop runs `$BROWSER URL`):
 *   the browser answers the consent page with Allow, mcp-remote exchanges the code, and a tool call
 *   goes through its stdio.
 *
 * Chromium is a requirement, never a reason to skip (see support/chromium.ts). Everything is on
 * 127.0.0.1.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as LegacyStdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clickAndWait, launchChromium, loopbackContext, signInAtIdp } from './support/chromium.js';
import { ROOT, SCRIPTED_BROWSER, tempDir } from './support/cli.js';
import type { TestIdp } from './support/idp.js';
import { textOf } from './support/mcp-clients.js';
import { createTestOAuthClient, type TestOAuthClient } from './support/oauth-client.js';
import { PROXY_SCOPES as SCOPES, startProxiedCloud, type ProxiedCloud } from './support/oauth-proxy.js';
import { freePort } from './support/ports.js';

const MCP_REMOTE = join(ROOT, 'node_modules/mcp-remote/dist/proxy.js');
const VIEWPORT = { width: 960, height: 720 };

let cloud: ProxiedCloud;
let idp: TestIdp;
let baseUrl: string;
let mcpUrl: string;
let browser: Browser | undefined;
let dir: string;
const cleanups: Array<() => void | Promise<void>> = [];

beforeAll(async () => {
  cloud = await startProxiedCloud();
  ({ idp, baseUrl, mcpUrl } = cloud);
  const temp = tempDir('seed-mcp-proxy-clients-');
  dir = temp.dir;
  cleanups.push(temp.cleanup);
});

afterAll(async () => {
  await browser?.close();
  for (const c of cleanups.reverse()) await c();
  await cloud?.close();
});

// ---------------------------------------------------------------------------------------------
// PNG, enough to look at Chromium's screenshots: 8-bit RGB or RGBA, not interlaced.

interface Png {
  width: number;
  height: number;
  channels: 3 | 4;
  /** Unfiltered scanlines, `width * channels` bytes each. */
  pixels: Buffer;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function decodePng(png: Buffer): Png {
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG');
  let width = 0;
  let height = 0;
  let channels: 3 | 4 = 4;
  const idat: Buffer[] = [];
  for (let at = 8; at + 8 <= png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [bitDepth, colorType, , , interlace] = data.subarray(8, 13);
      if (bitDepth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0)
        throw new Error(`unsupported PNG: depth ${bitDepth}, colour type ${colorType}, interlace ${interlace}`);
      channels = colorType === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[x - channels]! : 0;
      const b = prev[x]!;
      const c = x >= channels ? prev[x - channels]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter!];
      if (predictor === undefined) throw new Error(`unknown PNG filter ${filter}`);
      out[x] = (line[x]! + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** How many pixels of each colour (as `#rrggbb`, alpha ignored). */
function colours(png: Png): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < png.pixels.length; i += png.channels) {
    const hex = `#${png.pixels.subarray(i, i + 3).toString('hex')}`;
    counts.set(hex, (counts.get(hex) ?? 0) + 1);
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------

describe('headless Chromium with the SDK client', () => {
  it("shows seed-mcp's consent page (screenshot), then the IdP's, and the SDK's token calls a tool", async () => {
    // Fails, never skips, without /usr/bin/chromium.
    browser = await launchChromium();

    // The SDK's flow up to the browser: discovery, registration, PKCE; the URL it would open.
    let opened: URL | undefined;
    const oauth: TestOAuthClient = await createTestOAuthClient({ browser: (url) => void (opened = url) });
    cleanups.push(() => oauth.close());
    const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: oauth.provider });
    await expect(new Client({ name: 'test', version: '1' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(opened && `${opened.origin}${opened.pathname}`).toBe(`${baseUrl}/oauth/authorize`);
    const authorizationUrl = opened!;
    const callback = new URL(oauth.redirectUrl);

    const { context, external } = await loopbackContext(browser, { viewport: VIEWPORT, deviceScaleFactor: 1 });
    const page = await context.newPage();
    // What Chromium sends with its answer, for the message when seed-mcp refuses it.
    const answers: Array<Promise<Record<string, string>>> = [];
    page.on('request', (r) => void (r.method() === 'POST' && new URL(r.url()).pathname === '/oauth/consent' && answers.push(r.allHeaders())));
    await page.goto(authorizationUrl.href, { waitUntil: 'load' });

    // seed-mcp's page, before any redirect to the IdP.
    expect(new URL(page.url()).origin).toBe(baseUrl);
    expect(await page.title()).toBe('seed-mcp: allow access?');
    const text = await page.locator('body').innerText();
    expect(text).toContain('Allow this MCP client to act as you?');
    expect(text).toContain('seed-mcp test client');
    expect(text).toContain(callback.host);
    expect(text).toContain(mcpUrl);
    const requested = (authorizationUrl.searchParams.get('scope') ?? '').split(' ').filter(Boolean);
    expect(requested).toEqual(expect.arrayContaining(SCOPES));
    const listed = await page.locator('ul li').allInnerTexts();
    expect(listed).toEqual(expect.arrayContaining(SCOPES));
    for (const scope of requested) expect(listed).toContain(scope);
    expect(text).toContain(oauth.clientInformation()!.client_id);
    const allow = page.locator('#seed-mcp-consent button[name="decision"][value="approve"]');
    const deny = page.locator('#seed-mcp-consent button[name="decision"][value="deny"]');
    await expect.poll(() => allow.isVisible()).toBe(true);
    await expect.poll(() => deny.isVisible()).toBe(true);
    expect(await allow.innerText()).toBe('Allow');
    expect(await deny.innerText()).toBe('Deny');

    // The screenshot: a real picture of that page, the viewport's size, not one flat colour, with
    // the Allow button's green in it.
    const consentPath = join(dir, 'consent-page.png');
    const consentShot = await page.screenshot({ path: consentPath });
    expect(readFileSync(consentPath).equals(consentShot)).toBe(true);
    expect(consentShot.length).toBeGreaterThan(5_000);
    const consentPng = decodePng(consentShot);
    expect([consentPng.width, consentPng.height]).toEqual([VIEWPORT.width, VIEWPORT.height]);
    const consentColours = colours(consentPng);
    expect(consentColours.size).toBeGreaterThan(20);
    expect(consentColours.get('#1f883d') ?? 0).toBeGreaterThan(500);
    // The button's box, where the green is.
    const box = (await allow.boundingBox())!;
    expect(box.width).toBeGreaterThan(30);
    const at = (Math.round(box.y + box.height / 2) * consentPng.width + Math.round(box.x + 4)) * consentPng.channels;
    expect(consentPng.pixels.subarray(at, at + 3).toString('hex')).toBe('1f883d');

    // Allow: on to the IdP, whose login page looks nothing like it.
    await clickAndWait(page, '#seed-mcp-consent button[value="approve"]', page.url());
    if (new URL(page.url()).origin !== idp.issuer) {
      const sent = await Promise.all(answers);
      throw new Error(
        `Allow did not lead to the IdP: "${await page.title()}" at ${page.url()}: ${await page.locator('body').innerText()}\n` +
          `Chromium's POST /oauth/consent had Origin ${JSON.stringify(sent.map((h) => h.origin))}, cookie ${sent.map((h) => (h.cookie ?? '').replace(/=[^;]+/g, '=…')).join(' | ')}`,
      );
    }
    const loginShot = await page.screenshot({ path: join(dir, 'idp-login.png') });
    const loginPng = decodePng(loginShot);
    expect([loginPng.width, loginPng.height]).toEqual([VIEWPORT.width, VIEWPORT.height]);
    expect(loginPng.pixels.equals(consentPng.pixels)).toBe(false);
    expect(colours(loginPng).get('#1f883d') ?? 0).toBe(0);

    // The IdP's pages (a native client: it asks for consent each time), then the loopback callback.
    expect(await signInAtIdp(page, callback, 'alice')).toEqual(['login', 'consent', 'callback']);
    expect(await page.locator('body').innerText()).toContain('Signed in; you can close this tab.');
    const back = oauth.lastCallback();
    expect(back?.error).toBeUndefined();
    expect(back?.iss).toBe(baseUrl);
    expect(back?.state).toBe(authorizationUrl.searchParams.get('state') ?? undefined);
    expect(back?.code).toBeTruthy();

    // The SDK finishes: the code exchange through the proxy, then a tool call with the token.
    await first.finishAuth(back!.code!, back!.iss);
    expect(oauth.tokens()?.access_token).toBeTruthy();
    const client = new Client({ name: 'test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: oauth.provider }));
    expect(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).toContain('alice');
    expect((await client.callTool({ name: 'seed_ping', arguments: {} })).isError).toBeFalsy();
    await client.close();

    expect(idp.serverErrors).toEqual([]);
    // Only the web font the IdP's stylesheet imports was turned away.
    expect(external.every((o) => o === 'https://fonts.googleapis.com')).toBe(true);
    await context.close();
  });
});

describe('mcp-remote with the scripted browser as BROWSER', () => {
  it('opens the consent page in the browser, which allows; mcp-remote exchanges the code; a tool call goes through its stdio', async () => {
    const configDir = join(dir, 'mcp-auth');
    const browserLog = join(dir, 'scripted-browser.log');
    writeFileSync(browserLog, '');
    // The callback port, explicit: mcp-remote would otherwise derive one from the server URL.
    const callbackPort = await freePort();
    const transport = new LegacyStdioClientTransport({
      command: process.execPath,
      args: [MCP_REMOTE, mcpUrl, String(callbackPort), '--allow-http', '--host', '127.0.0.1', '--auth-timeout', '20'],
      // No desktop: `open` runs its bundled xdg-open, which runs $BROWSER with the URL.
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        MCP_REMOTE_CONFIG_DIR: configDir,
        BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
        SCRIPTED_BROWSER_LOG: browserLog,
        SCRIPTED_BROWSER_LOGIN: 'bob',
      },
      stderr: 'pipe',
    });
    let stderr = '';
    const client = new LegacyClient({ name: 'seed-mcp-test-legacy', version: '1.0.0' });
    const connected = client.connect(transport);
    transport.stderr?.on('data', (d: Buffer) => (stderr += d));
    cleanups.push(() => client.close());
    try {
      await connected;
      const who = await client.callTool({ name: 'whoami', arguments: {} });
      expect(textOf(who)).toContain('bob');
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\nmcp-remote's stderr:\n${stderr}\nthe browser's log:\n${readFileSync(browserLog, 'utf8')}\nserver log:\n${cloud.logLines.join('\n')}`,
      );
    }
    expect(stderr).toContain('Please authorize this client by visiting:');
    expect(stderr).toContain(`${baseUrl}/oauth/authorize?`);

    // One launch of the browser, which answered seed-mcp's consent page and reached the callback.
    const entries = readFileSync(browserLog, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toHaveLength(1);
    const [entry] = entries;
    expect(entry).toMatchObject({ action: 'approve', consented: true, consentAnswer: 'approve', hasCode: true, callbackStatus: 200 });
    expect(entry).not.toHaveProperty('error');
    expect(String(entry!.url)).toMatch(new RegExp(`^${baseUrl}/oauth/authorize\\?`));
    expect(entry!.callbackUrl).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${callbackPort}/oauth/callback\\?`));

    // mcp-remote kept its client registration and tokens in the config dir it was given.
    const files = readdirSync(configDir, { recursive: true }).map(String);
    expect(files.some((f) => f.endsWith('_tokens.json') || f.endsWith('/tokens.json'))).toBe(true);
    expect(existsSync(join(dir, '.mcp-auth'))).toBe(false);
    await client.close();
  });
});
