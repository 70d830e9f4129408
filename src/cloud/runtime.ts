import type { Logger } from '../shared/logger.js';
import { createMetrics, type Metrics } from '../shared/metrics.js';
import { documentTools } from '../shared/tools/documents/index.js';
import { builtinTools } from '../shared/tools/registry.js';
import type { ToolDefinition } from '../shared/tools/types.js';
import { createTokenValidator, type TokenValidator } from './auth/validator.js';
import type { CloudConfig } from './config.js';
import type { CloudServerOptions } from './server.js';

export interface CloudRuntime {
  metrics: Metrics;
  validator?: TokenValidator;
  tools: ToolDefinition[];
}

/**
 * Builds what `seed-mcp cloud` runs from its config: the metrics registry, the token validator
 * (reporting JWKS refreshes and cache hits to the metrics) and the tool list (built-in tools, and
 * the document tools when their directories are set). The CLI and the tests wire it the same way.
 */
export function createCloudRuntime(config: CloudConfig, options: { collectDefaultMetrics?: boolean } = {}): CloudRuntime {
  const metrics = createMetrics({ collectDefault: options.collectDefaultMetrics ?? true });
  const validator = config.authRequired
    ? createTokenValidator({
        allowedIssuers: config.allowedIssuers,
        audiences: config.audiences,
        jwksCacheTtlSec: config.jwksCacheTtlSec,
        onJwksFetch: (_issuer, result) => metrics.jwksRefresh(result),
        // A verification answered from the verified-token cache needs no key lookup at all.
        onCacheHit: () => metrics.jwksCacheHit(),
        onCacheMiss: () => metrics.jwksCacheMiss(),
      })
    : undefined;
  const tools = [...builtinTools(), ...documentTools({ checklistDir: config.checklistDir, processDir: config.processDir })];
  return { metrics, validator, tools };
}

/** The server options for a runtime. */
export function serverOptions(config: CloudConfig, runtime: CloudRuntime, logger: Logger, version: string, policy?: CloudServerOptions['policy']): CloudServerOptions {
  return { config, validator: runtime.validator, tools: runtime.tools, metrics: runtime.metrics, logger, version, ...(policy ? { policy } : {}) };
}
