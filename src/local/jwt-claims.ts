/**
 * The claims of a JWT, decoded WITHOUT verification: for display and routing of a token this
 * process obtained itself from the IdP, never to trust a token from someone else (cloud mode
 * verifies with jose). Kept dependency-free so that `serve` and `token` start fast.
 */
export function decodeJwtClaims(token: string): Record<string, unknown> | undefined {
  const payload = token.split('.')[1];
  if (!payload || token.split('.').length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
