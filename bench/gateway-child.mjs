// The child MCP server of the gateway benchmark, started as its own process by bench/gateway.mjs:
// Streamable HTTP on 127.0.0.1, bearer-protected (RS256 JWT access tokens of the test IdP: issuer,
// audience = its URL, expiry, signature against the IdP's JWKS; a verified token is remembered
// until it expires, as any resource server under load would), answering the `initialize` era with
// plain JSON, no session. Its tool `echo` is cheap on purpose: the child is shared by every
// contender, so what it costs would only hide what the forwarders cost. `server/discover` is an
// unknown method here, so a negotiating client falls back to `initialize`.
import { createPublicKey, verify } from 'node:crypto';
import { createServer } from 'node:http';

const { ISSUER, PORT } = process.env;
const url = `http://127.0.0.1:${PORT}/mcp`;
const keys = new Map(((await (await fetch(`${ISSUER}/jwks`)).json()).keys ?? []).map((k) => [k.kid, createPublicKey({ key: k, format: 'jwk' })]));
const verified = new Map(); // token → { exp, sub }

function authenticate(header) {
  const token = /^Bearer ([^ ]+)$/i.exec(header ?? '')?.[1];
  if (!token) return undefined;
  const now = Date.now() / 1000;
  const known = verified.get(token);
  if (known) return known.exp > now ? known : undefined;
  const [h, p, s] = token.split('.');
  try {
    const head = JSON.parse(Buffer.from(h, 'base64url').toString());
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const key = keys.get(head.kid);
    if (!key || head.alg !== 'RS256' || head.typ !== 'at+jwt') return undefined;
    if (!verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) return undefined;
    const aud = [claims.aud].flat();
    if (claims.iss !== ISSUER || !aud.includes(url) || !(claims.exp > now)) return undefined;
    const entry = { exp: claims.exp, sub: claims.sub };
    verified.set(token, entry);
    return entry;
  } catch {
    return undefined;
  }
}

const TOOLS = [{ name: 'echo', description: 'Echoes the text.', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } }];

function answer(m, caller) {
  switch (m.method) {
    case 'initialize':
      return {
        protocolVersion: ['2025-11-25', '2025-06-18', '2025-03-26'].includes(m.params?.protocolVersion) ? m.params.protocolVersion : '2025-06-18',
        capabilities: { tools: {} },
        serverInfo: { name: 'bench-child', version: '1.0.0' },
      };
    case 'ping':
      return {};
    case 'tools/list':
      return { tools: TOOLS };
    case 'tools/call':
      if (m.params?.name !== 'echo') return { error: { code: -32602, message: `unknown tool: ${m.params?.name}` } };
      return { content: [{ type: 'text', text: `echo: ${m.params.arguments?.text ?? ''}` }], structuredContent: { subject: caller.sub } };
    default:
      return { error: { code: -32601, message: `Method not found: ${m.method}` } };
  }
}

createServer((req, res) => {
  const caller = authenticate(req.headers.authorization);
  if (!caller) {
    req.resume();
    res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' }).end('{"error":"invalid_token"}');
    return;
  }
  if (req.method !== 'POST') {
    req.resume();
    res.writeHead(405, { allow: 'POST' }).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let m;
    try {
      m = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
      return;
    }
    if (m.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const r = answer(m, caller);
    const body = r.error ? { jsonrpc: '2.0', id: m.id, error: r.error } : { jsonrpc: '2.0', id: m.id, result: r };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
}).listen(Number(PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
