# syntax=docker/dockerfile:1
#
# seed-mcp cloud mode (HTTP MCP resource server) as a container image.
#
#   docker build -t seed-mcp .
#   docker run --rm -p 3000:3000 \
#     -e ALLOWED_ISSUERS=https://acme.okta.com/oauth2/default \
#     -e RESOURCE_IDENTIFIER=api://seed-mcp -e BASE_URL=https://mcp.acme.com seed-mcp
#
# Two stages: `build` installs every dependency (esbuild is a dev dependency) and bundles src/ into
# dist/cli.cjs; `runtime` holds the production dependencies only, installed from the lock file
# without running any install script, plus bin/ and dist/. The bundle loads only what package.json's
# `dependencies` list from node_modules at run time (@napi-rs/keyring, open, ink, ink-spinner, react,
# undici, oidc-provider: the modules scripts/build.mjs leaves out); the rest is inside dist/.

ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
# Scripts off for this layer so that it only depends on the lock file; esbuild is the only
# dependency with an install script: run it explicitly.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts && npm rebuild esbuild
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY bin ./bin
RUN npm run build && test -f dist/cli.cjs

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="seed-mcp" \
      org.opencontainers.image.description="Enterprise single sign-on in front of MCP tools: an OAuth 2.1 resource server for MCP over Streamable HTTP (seed-mcp cloud)." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/node:22-bookworm-slim"

ENV NODE_ENV=production \
    SEED_MCP_NO_COMPILE_CACHE=1 \
    npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, exactly as locked; no install scripts (none is needed at run time).
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts

COPY bin ./bin
COPY --from=build /app/dist ./dist
# Sample documents and tool policy: CHECKLIST_DIR=/app/examples/documents/checklists,
# PROCESS_DIR=/app/examples/documents/processes, TOOL_POLICY_FILE=/app/examples/tool-policy.yaml.
COPY examples ./examples

# The image's `node` user (uid/gid 1000), numeric so that Kubernetes' runAsNonRoot can verify it.
# The files above stay owned by root: the process cannot change its own code.
USER 1000:1000

EXPOSE 3000

# Liveness without curl: /health answers 200, or 503 while shutting down.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || process.env.MCP_PORT || 3000) + '/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# SIGTERM goes straight to node (PID 1), which drains in-flight requests and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/bin/seed-mcp.js"]
CMD ["cloud"]
