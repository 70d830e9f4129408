import { describe, expect, it } from 'vitest';
import { redact } from '../src/shared/redact.js';

describe('redact', () => {
  it('hides tokens, codes, verifiers and secrets in URLs, JSON and headers', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    expect(redact(`http://127.0.0.1:1/callback?code=abc123&state=xyz`)).toBe('http://127.0.0.1:1/callback?code=[REDACTED]&state=xyz');
    expect(redact(`{"refresh_token":"r1","client_secret":"s3"}`)).toBe('{"refresh_token":"[REDACTED]","client_secret":"[REDACTED]"}');
    expect(redact(`Authorization: Bearer ${jwt}`)).not.toContain(jwt);
    expect(redact(`token ${jwt} leaked`)).toBe('token [REDACTED] leaked');
    expect(redact('code_verifier=v-123')).toBe('code_verifier=[REDACTED]');
  });

  it('keeps the error codes of audit events', () => {
    expect(redact('{"event":"cloud_auth_failed","code":"INVALID_AUDIENCE"}')).toBe('{"event":"cloud_auth_failed","code":"INVALID_AUDIENCE"}');
    expect(redact('{"code":"Ab1-xyz"}')).toBe('{"code":"[REDACTED]"}');
  });
});

describe('redact pre-check', () => {
  it('leaves ordinary lines alone and still catches every kind of secret', () => {
    const line = '{"event":"token_validated","subject":"alice","issuer":"https://idp"}';
    expect(redact(line)).toBe(line);
    for (const secret of ['access_token=abc', '"client_secret": "x"', 'Bearer abcdefghijkl', 'BASIC dXNlcjpwYXNz', 'eyJhbGciOi.eyJzdWIiOi.sig', 'CODE=abc123']) {
      expect(redact(`x ${secret} y`)).toContain('[REDACTED]');
    }
  });
});
