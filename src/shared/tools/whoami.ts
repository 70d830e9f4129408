import { jsonResult, type ToolDefinition } from './types.js';

/** `whoami`: the caller's claims (subject, email, name, issuer, scopes, expiry) — never a token. */
export const whoami: ToolDefinition = {
  name: 'whoami',
  title: 'Who am I',
  description: 'Returns the identity seed-mcp acts as: subject, email, name, issuer, scopes and token expiry.',
  inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  async handler(_args, ctx) {
    const c = await ctx.caller();
    return jsonResult({
      subject: c.subject,
      email: c.email ?? null,
      name: c.name ?? null,
      issuer: c.issuer,
      scopes: c.scopes,
      expiresAt: c.expiresAt === undefined ? null : new Date(c.expiresAt * 1000).toISOString(),
      ...(c.clientId ? { clientId: c.clientId } : {}),
      ...(c.groups ? { groups: c.groups } : {}),
    });
  },
};
