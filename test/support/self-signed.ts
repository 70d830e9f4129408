import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A self-signed P-256 certificate (openssl) for 127.0.0.1, ::1 and localhost, plus `names` (DNS
 * names a test resolves itself), valid one day: for the https servers of client metadata documents.
 */
export function selfSigned(names: readonly string[] = []): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-cert-'));
  const san = ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost', ...names.map((n) => `DNS:${n}`)].join(',');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        `subjectAltName=${san}`,
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
