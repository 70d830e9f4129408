/** UPSTREAMS_FILE: the children of gateway mode, validated with every problem at once. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUpstreams } from '../src/cloud/gateway/upstreams-file.js';

const dir = mkdtempSync(join(tmpdir(), 'seed-upstreams-'));
writeFileSync(join(dir, 'gw-secret'), 'secret\n');
writeFileSync(join(dir, 'docs-token'), 'token\n');
const ctx = { allowedIssuers: ['https://idp.example.com', 'https://tenant-b.example.com'], baseDir: dir };

describe('UPSTREAMS_FILE', () => {
  it('reads a complete file: HTTP and stdio children, each credential type, tenancy and scopes', () => {
    const config = parseUpstreams(
      `upstreams:
  - name: docs
    url: http://docs-mcp:8080/mcp
    headers: { X-Team: platform }
    timeout_ms: 5000
    auth:
      type: client_credentials
      issuer: https://idp.example.com
      client_id: mcp-gateway
      client_secret_file: gw-secret
      audience: https://docs-mcp
      scopes: [docs.read]
    allowed_issuers: [https://idp.example.com]
    scopes: [docs.read]
  - name: tickets
    url: https://tickets.example.com/mcp
    auth: { type: token_exchange, issuer: https://idp.example.com, client_id: mcp-gateway, client_secret_file: gw-secret, audience: https://tickets }
  - name: legacy
    url: http://legacy:9000/mcp
    auth: { type: static, token_file: docs-token }
  - name: local-tools
    command: [node, server.js]
    env: { LOG_LEVEL: debug }
`,
      'yaml',
      'upstreams.yaml',
      ctx,
    );
    expect(config.children.map((c) => c.name)).toEqual(['docs', 'tickets', 'legacy', 'local-tools']);
    const [docs, tickets, legacy, local] = config.children;
    expect(docs).toMatchObject({
      url: 'http://docs-mcp:8080/mcp',
      headers: { 'X-Team': 'platform' },
      timeoutMs: 5000,
      auth: { type: 'client_credentials', clientId: 'mcp-gateway', clientSecretFile: join(dir, 'gw-secret'), audience: 'https://docs-mcp', scopes: ['docs.read'] },
      allowedIssuers: ['https://idp.example.com'],
      scopes: ['docs.read'],
    });
    expect(tickets!.auth.type).toBe('token_exchange');
    expect(legacy!.auth).toEqual({ type: 'static', tokenFile: join(dir, 'docs-token') });
    expect(local).toMatchObject({ command: ['node', 'server.js'], env: { LOG_LEVEL: 'debug' }, auth: { type: 'none' }, timeoutMs: 30_000, scopes: [] });
  });

  it('reports every problem at once, with where it is', () => {
    let message = '';
    try {
      parseUpstreams(
        `upstreams:
  - name: Docs_1
    url: ftp://x
  - name: dup
    url: http://a/mcp
    command: [x]
  - name: dup
    command: [node]
    auth: { type: static, token_file: nope }
  - name: ok
    url: http://b/mcp
    headers: { Authorization: Bearer x }
    auth: { type: client_credentials, issuer: https://idp.example.com, client_id: gw }
    allowed_issuers: [https://other.example.com]
    extra: 1
`,
        'yaml',
        'upstreams.yaml',
        ctx,
      );
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^could not load the upstreams file upstreams\.yaml: \d+ problems/);
    // Schema problems come first (the file is not compiled until they are fixed).
    expect(message).toContain('upstreams[0].name (line 2): must be lower-case letters');
    expect(message).toContain('upstreams[0].url (line 3): must be an http(s) URL');
    expect(message).toContain('upstreams[3].extra (line 15): unknown key');
  });

  it('then the problems of meaning, all of them', () => {
    let message = '';
    try {
      parseUpstreams(
        JSON.stringify({
          upstreams: [
            { name: 'dup', url: 'http://a/mcp', command: ['x'] },
            { name: 'dup', command: ['node'], auth: { type: 'static', token_file: 'nope' } },
            {
              name: 'ok',
              url: 'http://b/mcp',
              headers: { Authorization: 'Bearer x' },
              auth: { type: 'client_credentials', issuer: 'https://idp.example.com', client_id: 'gw' },
              allowed_issuers: ['https://other.example.com'],
            },
          ],
        }),
        'json',
        'upstreams.json',
        ctx,
      );
    } catch (err) {
      message = (err as Error).message;
    }
    for (const problem of [
      'upstreams[0]: give exactly one of url (Streamable HTTP) and command (stdio)',
      'upstreams[1].name: "dup" is used twice',
      'upstreams[1].auth: a stdio child gets no bearer token',
      `upstreams[1].auth.token_file: cannot read ${join(dir, 'nope')}`,
      'upstreams[2].headers.Authorization: the gateway sets this header itself',
      'upstreams[2].auth: give exactly one of client_secret_file and private_key_file',
      'upstreams[2].allowed_issuers: https://other.example.com is not in ALLOWED_ISSUERS',
    ]) {
      expect(message).toContain(problem);
    }
  });
});
