import { generateKeyPairSync } from 'node:crypto';

/** A fresh EC P-256 private key in PEM (PKCS#8): what OAUTH_SIGNING_KEYS(_FILE) holds. */
export function signingKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}
