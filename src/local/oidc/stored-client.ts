import type * as client from 'openid-client';
import { registeredCredentials } from '../registrations.js';
import type { LocalSettings } from '../settings.js';
import { discoverIssuer } from './issuer.js';

/**
 * openid-client's configuration for the client that obtained a profile's tokens (refresh,
 * revocation): the profile's own credentials when it is the client id given, else those of the
 * registration seed-mcp made at that authorization server, if any (else a public client).
 */
export async function configForStoredClient(
  settings: Pick<LocalSettings, 'clientId' | 'clientSecret' | 'clientKey' | 'configDir' | 'profile' | 'defaultEndpoints'>,
  issuer: string,
  clientId: string,
  timeoutMs?: number,
): Promise<client.Configuration> {
  const registered = settings.clientId === clientId ? undefined : await registeredCredentials(settings.configDir, issuer, clientId);
  return discoverIssuer({
    issuer,
    clientId,
    clientSecret: registered ? registered.clientSecret : settings.clientSecret,
    clientKey: registered ? undefined : settings.clientKey,
    registeredAuthMethod: registered?.registeredAuthMethod,
    profile: settings.profile,
    assumePkce: true,
    defaultEndpoints: settings.defaultEndpoints,
    ...(timeoutMs ? { timeoutMs } : {}),
  });
}
