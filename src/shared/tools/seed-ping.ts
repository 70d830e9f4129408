import { jsonResult, ToolError, type ToolDefinition } from './types.js';

/** `seed_ping`: status, server name and version, mode, and the caller's identity when known. */
export const seedPing: ToolDefinition = {
  name: 'seed_ping',
  title: 'Ping seed-mcp',
  description: 'Checks that seed-mcp answers; returns its status, name, version, mode and who you are signed in as.',
  inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  async handler(_args, ctx) {
    let caller: Record<string, unknown> | null = null;
    let note: string | undefined;
    try {
      const c = await ctx.caller({ signIn: false });
      caller = { subject: c.subject, email: c.email, name: c.name, issuer: c.issuer };
    } catch (err) {
      // A ping answers even when nobody is signed in: that is part of the status it reports.
      if (!(err instanceof ToolError)) throw err;
      note = err.message;
    }
    return jsonResult({
      status: 'ok',
      server: ctx.server.name,
      version: ctx.server.version,
      mode: ctx.mode,
      caller,
      ...(note ? { note } : {}),
      time: new Date().toISOString(),
    });
  },
};
