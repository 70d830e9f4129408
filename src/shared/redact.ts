/**
 * Redaction of secrets in text that may reach a terminal or a log: bearer tokens, JWTs, and the
 * values of OAuth parameters that carry codes, verifiers, tokens or secrets.
 */

const SECRET_PARAMS = ['code', 'code_verifier', 'access_token', 'refresh_token', 'id_token', 'client_secret', 'device_code', 'token', 'password', 'assertion'];

const PARAM_RE = new RegExp(`([?&#\\s"']|^)(${SECRET_PARAMS.join('|')})(=|"\\s*:\\s*")([^&\\s"']+)`, 'gi');
const JWT_RE = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER_RE = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;

// Anything the three patterns below could match contains one of these: most log lines contain
// none, and then one scan replaces three.
const MAYBE_SECRET_RE = new RegExp(`eyJ|\\b(?:Bearer|Basic)\\s|(?:${SECRET_PARAMS.join('|')})(?:=|"\\s*:)`, 'i');

/** Returns `text` with anything that looks like a credential replaced by `[REDACTED]`. */
export function redact(text: string): string {
  if (!MAYBE_SECRET_RE.test(text)) return text;
  return text
    .replace(JWT_RE, '[REDACTED]')
    .replace(BEARER_RE, '$1 [REDACTED]')
    .replace(PARAM_RE, (whole, pre: string, name: string, sep: string, value: string) =>
      // An audit event's `code` is an error code such as INVALID_AUDIENCE, not an OAuth code.
      name.toLowerCase() === 'code' && /^[A-Z][A-Z0-9_]+$/.test(value) ? whole : `${pre}${name}${sep}[REDACTED]`,
    );
}
