import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startCoordinator } from '../../src/coordinator/index.js';

test('vidmesh serve --tls-cert --tls-key: HTTPS with HSTS and secure headers', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-tls-'));
  try {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const gen = spawnSync('openssl', [
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
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    assert.equal(gen.status, 0, gen.stderr.toString());
    const server = await startCoordinator(
      loadConfig({
        env: {},
        flags: {
          port: 0,
          dataDir: join(dir, 'data'),
          encoders: 0,
          logLevel: 'silent',
          tlsCert: cert,
          tlsKey: key,
        },
      }),
    );
    try {
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const ca = await readFile(cert);
      const res = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
        (resolve, reject) => {
          get(
            `${server.url}/api/v1/jobs`,
            { ca, headers: { authorization: `Bearer ${server.apiKey}` } },
            (r) => {
              let body = '';
              r.on('data', (c) => (body += c));
              r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
            },
          ).on('error', reject);
        },
      );
      assert.equal(res.status, 200, res.body);
      assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    } finally {
      await server.stop({ graceMs: 0 });
    }
    await assert.rejects(
      startCoordinator(
        loadConfig({
          env: {},
          flags: { port: 0, dataDir: join(dir, 'data2'), encoders: 0, logLevel: 'silent', tlsCert: cert },
        }),
      ),
      (e: unknown) => e instanceof ConfigError && /tls-key/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
