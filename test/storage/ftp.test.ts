import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FtpSrv } from 'ftp-srv';
import { fetchSource, publish, SourceNotFoundError, StorageRejectedError } from '../../src/storage/index.js';
import { makeLadder, sha256File, tempDir, testContext } from './helpers.js';

let ftp: FtpSrv;
let port: number;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let ftpRoot: string;

// ftp-srv logs through bunyan to stdout by default; keep the test output clean.
const quiet = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return quiet;
  },
};

before(async () => {
  tmp = await tempDir('ftp');
  ftpRoot = join(tmp.dir, 'ftproot');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(ftpRoot, { recursive: true });
  const pasvMin = 42000 + Math.floor(Math.random() * 2000);
  ftp = new FtpSrv({
    url: 'ftp://127.0.0.1:0',
    pasv_url: '127.0.0.1',
    pasv_min: pasvMin,
    pasv_max: pasvMin + 200,
    anonymous: false,
    greeting: 'vidmesh test',
    log: quiet as never,
  });
  ftp.on('login', ({ username, password }, resolve, reject) => {
    if (username === 'enc' && password === 'pw') resolve({ root: ftpRoot });
    else reject(new Error('bad login'));
  });
  await ftp.listen();
  // ftp-srv's types omit its net.Server; port 0 needs it to learn the real port.
  port = ((ftp as unknown as { server: import('node:net').Server }).server.address() as { port: number })
    .port;
});

after(async () => {
  await ftp.close();
  await tmp.cleanup();
});

test('publishes a ladder over FTP into nested dirs and fetches a file back', async () => {
  const ctx = testContext(tmp.dir);
  const ladder = join(tmp.dir, 'ladder');
  await makeLadder(ladder);
  const result = await publish(
    ladder,
    { type: 'ftp', host: '127.0.0.1', port, user: 'enc', password: 'pw', dir: '/out/{jobId}' },
    ctx,
    { jobId: 'job-ftp' },
  );
  assert.equal(result.masterUrl, `ftp://127.0.0.1/out/job-ftp/master.m3u8`);
  for (const f of result.files) {
    assert.deepEqual(
      await readFile(join(ftpRoot, 'out', 'job-ftp', f.path)),
      await readFile(join(ladder, f.path)),
    );
  }
  const seg = result.files.find((f) => f.path.endsWith('.ts'))!;
  const got = await fetchSource(
    { type: 'ftp', url: `ftp://enc:pw@127.0.0.1:${port}/out/job-ftp/${seg.path}` },
    join(tmp.dir, 'back', 'seg.ts'),
    ctx,
  );
  assert.equal(got.bytes, seg.bytes);
  assert.equal(await sha256File(got.path), await sha256File(join(ladder, seg.path)));
});

test('FTP errors are typed: missing file, bad login, private host without allowlist', async () => {
  const ctx = testContext(tmp.dir, { retry: { attempts: 1 } });
  await assert.rejects(
    fetchSource(
      { type: 'ftp', host: '127.0.0.1', port, user: 'enc', password: 'pw', path: '/missing.mp4' },
      join(tmp.dir, 'm'),
      ctx,
    ),
    SourceNotFoundError,
  );
  await assert.rejects(
    fetchSource(
      { type: 'ftp', host: '127.0.0.1', port, user: 'enc', password: 'wrong', path: '/x.mp4' },
      join(tmp.dir, 'm'),
      ctx,
    ),
    StorageRejectedError,
  );
  await assert.rejects(
    fetchSource(
      { type: 'ftp', host: '127.0.0.1', port, user: 'enc', password: 'pw', path: '/x.mp4' },
      join(tmp.dir, 'm'),
      testContext(tmp.dir, { ssrf: {} }),
    ),
    { code: 'ssrf_blocked' },
  );
});
