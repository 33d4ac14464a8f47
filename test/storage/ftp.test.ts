import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fetchSource, publish, SourceNotFoundError, StorageRejectedError } from '../../src/storage/index.js';
import { makeLadder, sha256File, startFtpServer, tempDir, testContext } from './helpers.js';

let ftp: Awaited<ReturnType<typeof startFtpServer>>;
let port: number;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let ftpRoot: string;

before(async () => {
  tmp = await tempDir('ftp');
  ftpRoot = join(tmp.dir, 'ftproot');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(ftpRoot, { recursive: true });
  ftp = await startFtpServer(ftpRoot, 42000);
  port = ftp.port;
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
  assert.equal(result.masterUrl, `ftp://127.0.0.1:${port}/out/job-ftp/master.m3u8`);
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
