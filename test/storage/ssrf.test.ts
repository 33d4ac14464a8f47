import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  assertPublicDestination,
  fetchSource,
  isForbiddenAddress,
  publish,
  SsrfBlockedError,
} from '../../src/storage/index.js';
import { tempDir, testContext } from './helpers.js';

test('isForbiddenAddress classifies special-purpose ranges', () => {
  const forbidden = [
    '127.0.0.1',
    '127.255.0.9',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    'fe80::1',
    'fd00:ec2::254',
    'fc00::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::127.0.0.1',
    '64:ff9b::10.0.0.1',
    '2002:c0a8:0101::1',
    'not-an-ip',
  ];
  const allowed = [
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '172.32.0.1',
  ];
  for (const a of forbidden) assert.equal(isForbiddenAddress(a), true, a);
  for (const a of allowed) assert.equal(isForbiddenAddress(a), false, a);
});

test('assertPublicDestination refuses private targets unless allowlisted', async () => {
  const none = {};
  for (const url of [
    'http://127.0.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[fd00:ec2::254]/',
    'http://localhost/', // a host name that resolves to loopback
  ]) {
    await assert.rejects(assertPublicDestination(url, none), SsrfBlockedError, url);
  }
  assert.deepEqual(await assertPublicDestination('http://127.0.0.1:9/', { allowHosts: ['127.0.0.1'] }), [
    '127.0.0.1',
  ]);
  assert.deepEqual(await assertPublicDestination('http://10.1.2.3/', { allowCidrs: ['10.1.0.0/16'] }), [
    '10.1.2.3',
  ]);
  await assert.rejects(
    assertPublicDestination('http://10.2.0.1/', { allowCidrs: ['10.1.0.0/16'] }),
    SsrfBlockedError,
  );
  // The allowlist names 127.0.0.1 only: metadata stays forbidden.
  await assert.rejects(
    assertPublicDestination('http://169.254.169.254/', { allowHosts: ['127.0.0.1'] }),
    (err: SsrfBlockedError) => err.code === 'ssrf_blocked' && /169\.254\.169\.254/.test(err.message),
  );
});

let server: Server;
let base: string;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let hits = 0;

before(async () => {
  tmp = await tempDir('ssrf');
  server = createServer((req, res) => {
    hits++;
    const target = req.url?.slice('/redirect?to='.length);
    if (req.url?.startsWith('/redirect?to=') && target) {
      res.writeHead(302, { location: decodeURIComponent(target) }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await tmp.cleanup();
});

test('http source to 127.0.0.1 is refused without an allowlist, and no request is sent', async () => {
  const ctx = testContext(tmp.dir, { ssrf: {} });
  const before = hits;
  await assert.rejects(
    fetchSource({ type: 'http', url: `${base}/file` }, join(tmp.dir, 'x1'), ctx),
    (err: SsrfBlockedError) => err.code === 'ssrf_blocked' && err.status === 400 && !err.retryable,
  );
  assert.equal(hits, before);
  // localhost resolves to loopback: refused as well.
  const port = new URL(base).port;
  await assert.rejects(
    fetchSource({ type: 'http', url: `http://localhost:${port}/file` }, join(tmp.dir, 'x2'), ctx),
    SsrfBlockedError,
  );
  assert.equal(hits, before);
});

test('redirects into private space are refused at the hop', async () => {
  const ctx = testContext(tmp.dir);
  for (const target of [
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://[::1]/x',
    'http://[::ffff:a9fe:a9fe]/',
  ]) {
    await assert.rejects(
      fetchSource(
        { type: 'http', url: `${base}/redirect?to=${encodeURIComponent(target)}` },
        join(tmp.dir, 'r'),
        ctx,
      ),
      SsrfBlockedError,
      target,
    );
  }
  // Allowed target works through the same redirect path.
  const ok = await fetchSource(
    { type: 'http', url: `${base}/redirect?to=${encodeURIComponent(`${base}/file`)}` },
    join(tmp.dir, 'ok'),
    ctx,
  );
  assert.equal(ok.bytes, 2);
});

test('destinations are guarded too: http PUT and S3 endpoints in private space are refused', async () => {
  const ctx = testContext(tmp.dir, { ssrf: {} });
  const out = join(tmp.dir, 'out');
  await mkdir(out, { recursive: true });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(out, 'master.m3u8'), '#EXTM3U\n');
  await assert.rejects(
    publish(out, { type: 'http', baseUrl: `${base}/put/` }, ctx, { jobId: 'j1' }),
    SsrfBlockedError,
  );
  await assert.rejects(
    publish(out, { type: 's3', bucket: 'bkt', endpoint: 'http://169.254.169.254', prefix: 'x' }, ctx, {
      jobId: 'j1',
    }),
    SsrfBlockedError,
  );
});
