/**
 * The demo's plain functions on their own: port and host planning, the profile it saves, the
 * example documents it finds, and the file that keeps the IdP's state across restarts.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileAdapterStore } from '../src/demo/adapter.js';
import { loadOrCreateKeys } from '../src/demo/keys.js';
import { demoProfileConfig, exampleDocuments, planDemo } from '../src/demo/run-demo.js';
import { DEMO_GATEWAY_CLIENT_ID, loadOrCreateGatewaySecret, writeDemoUpstreams } from '../src/demo/upstreams.js';
import { parseUpstreams } from '../src/cloud/gateway/upstreams-file.js';
import { tempDirs } from './support/cli.js';

const newDir = tempDirs('seed-mcp-demo-parts-');

describe('planDemo', () => {
  it('puts the MCP server on 4741 and the IdP one below, or around --port', () => {
    expect(planDemo()).toMatchObject({
      mcpPort: 4741,
      idpPort: 4740,
      issuer: 'http://127.0.0.1:4740',
      mcpUrl: 'http://127.0.0.1:4741/mcp',
      profile: 'demo',
      clientId: 'seed-mcp-demo',
    });
    expect(planDemo({ port: '8741' })).toMatchObject({ mcpPort: 8741, idpPort: 8740 });
    expect(planDemo({ port: '8741', idpPort: '9000' })).toMatchObject({ mcpPort: 8741, idpPort: 9000, issuer: 'http://127.0.0.1:9000' });
    expect(planDemo().scopes).toBe('openid profile email offline_access checklist.list checklist.read process.read process.search');
  });

  it('accepts only loopback for --host, and real ports', () => {
    expect(planDemo({ host: 'localhost' }).baseUrl).toBe('http://127.0.0.1:4741');
    for (const host of ['0.0.0.0', '::', '192.168.1.5', 'example.com']) {
      expect(() => planDemo({ host })).toThrow(/the demo listens on 127\.0\.0\.1 only/);
    }
    expect(() => planDemo({ port: '1' })).toThrow(/between 2 and 65535/);
    expect(() => planDemo({ port: 'http' })).toThrow(/--port http/);
    expect(() => planDemo({ port: '5000', idpPort: '5000' })).toThrow(/MCP server's port too/);
    expect(() => planDemo({ profile: '../x' })).toThrow(/profile/);
  });
});

describe('demoProfileConfig', () => {
  const plan = planDemo();
  it('saves the client id, scopes and upstream, and leaves issuer and resource to discovery', () => {
    expect(demoProfileConfig(plan)).toEqual({ clientId: 'seed-mcp-demo', scopes: plan.scopes, upstream: plan.mcpUrl });
  });
  it('keeps what an earlier login on the same ports saved, and drops it for other ports', () => {
    const same = demoProfileConfig(plan, { issuer: plan.issuer, clientId: 'seed-mcp-demo', resource: plan.mcpUrl, prompt: 'login' });
    expect(same).toEqual({ issuer: plan.issuer, clientId: 'seed-mcp-demo', scopes: plan.scopes, resource: plan.mcpUrl, upstream: plan.mcpUrl });
    const moved = demoProfileConfig(plan, { issuer: 'http://127.0.0.1:9000', resource: 'http://127.0.0.1:9001/mcp' });
    expect(moved.issuer).toBeUndefined();
    expect(moved.resource).toBeUndefined();
  });
});

describe('the demo gateway wiring', () => {
  it('keeps the service client secret (0600) across runs and writes an upstreams file the real parser accepts', async () => {
    const dir = join(newDir(), 'demo');
    const first = await loadOrCreateGatewaySecret(dir);
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    expect((await loadOrCreateGatewaySecret(dir)).secret).toBe(first.secret);
    const issuer = 'http://127.0.0.1:4740';
    const path = await writeDemoUpstreams(dir, { issuer, childUrl: 'http://127.0.0.1:45678/mcp', childName: 'tickets' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain(first.secret);
    const parsed = parseUpstreams(text, 'yaml', path, { allowedIssuers: [issuer], baseDir: dir });
    expect(parsed.children).toEqual([
      expect.objectContaining({
        name: 'tickets',
        url: 'http://127.0.0.1:45678/mcp',
        auth: { type: 'client_credentials', issuer, clientId: DEMO_GATEWAY_CLIENT_ID, clientSecretFile: first.path, resource: 'http://127.0.0.1:45678/mcp' },
        allowedIssuers: [issuer],
      }),
    ]);
  });
});

describe('the demo data dir', () => {
  it('finds the example documents from the source tree as from the bundle', () => {
    const { checklistDir, processDir } = exampleDocuments();
    expect(checklistDir.endsWith(join('examples', 'documents', 'checklists'))).toBe(true);
    expect(statSync(processDir).isDirectory()).toBe(true);
  });

  it('keeps the signing keys (0600 in 0700) and gives back the same ones next time', async () => {
    const dir = join(newDir(), 'demo');
    const first = await loadOrCreateKeys(dir);
    expect(first.created).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    const second = await loadOrCreateKeys(dir);
    expect(second.created).toBe(false);
    expect(second.keys.jwks.keys[0]!.kid).toBe(first.keys.jwks.keys[0]!.kid);
  });

  it('keeps the IdP state across restarts, honouring expiry, grants and user codes', async () => {
    let now = 1_000_000;
    const path = join(newDir(), 'state.json');
    const one = createFileAdapterStore(path, { now: () => now });
    const tokens = one.adapter('RefreshToken');
    await tokens.upsert('rt1', { grantId: 'g1', scope: 'openid' }, 60);
    await tokens.upsert('rt2', { grantId: 'g2' }, 10);
    await one.adapter('Session').upsert('s1', { uid: 'u1', accountId: 'demo' });
    await one.adapter('DeviceCode').upsert('d1', { userCode: 'ABCD-EFGH' }, 600);
    one.flush();
    expect(statSync(path).mode & 0o777).toBe(0o600);

    now += 20_000;
    const two = createFileAdapterStore(path, { now: () => now });
    expect(await two.adapter('RefreshToken').find('rt1')).toEqual({ grantId: 'g1', scope: 'openid' });
    expect(await two.adapter('RefreshToken').find('rt2')).toBeUndefined();
    expect(await two.adapter('Session').findByUid('u1')).toMatchObject({ accountId: 'demo' });
    expect(await two.adapter('DeviceCode').findByUserCode('ABCD-EFGH')).toBeDefined();
    await two.adapter('RefreshToken').consume('rt1');
    expect((await two.adapter('RefreshToken').find('rt1'))?.consumed).toBe(Math.floor(now / 1000));
    await two.adapter('RefreshToken').revokeByGrantId('g1');
    expect(await two.adapter('RefreshToken').find('rt1')).toBeUndefined();
  });
});
