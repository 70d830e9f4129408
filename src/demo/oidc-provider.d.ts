// oidc-provider ships no types and @types/oidc-provider is not a dependency. The shorthand
// declaration lets `import('oidc-provider')` stay a string literal, which scripts/build.mjs
// rewrites to the launcher's own import(); src/demo/provider.ts types the part it uses.
declare module 'oidc-provider';
