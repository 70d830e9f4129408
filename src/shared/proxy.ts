/**
 * Routes fetch through the proxy named by `HTTPS_PROXY` / `HTTP_PROXY` (honouring `NO_PROXY`),
 * as curl and most CLIs do. Node's fetch ignores those variables before Node 24; undici's
 * `EnvHttpProxyAgent` reads them. Loaded only when one is set, so start-up pays nothing otherwise.
 */
export async function applyProxyFromEnv(env: Record<string, string | undefined>): Promise<boolean> {
  const set = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((k) => env[k]);
  if (!set) return false;
  const { EnvHttpProxyAgent, setGlobalDispatcher } = await import('undici');
  setGlobalDispatcher(new EnvHttpProxyAgent());
  return true;
}
