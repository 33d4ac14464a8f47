import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { backoffMs } from '../../src/encoder/backoff.js';
import { classifyFailure } from '../../src/encoder/classify.js';
import { ResultCache } from '../../src/encoder/result-cache.js';
import { VidmeshError } from '../../src/errors.js';
import { EncodeError, FfmpegMissingError, NotMediaError } from '../../src/media/errors.js';
import { SourceNotFoundError, StorageRejectedError, StorageTransferError } from '../../src/storage/errors.js';

test('backoff doubles from base, caps, and jitters within the upper half', () => {
  const o = { baseMs: 1000, maxMs: 60_000 };
  assert.equal(
    backoffMs(0, o, () => 0),
    500,
  );
  assert.equal(
    backoffMs(0, o, () => 1),
    1000,
  );
  assert.equal(
    backoffMs(3, o, () => 1),
    8000,
  );
  assert.equal(
    backoffMs(10, o, () => 1),
    60_000,
  );
  assert.equal(
    backoffMs(100, o, () => 0),
    30_000,
  );
});

test('failure classification: bad input is final, machine and network faults retry', () => {
  const cases: Array<[unknown, string, boolean]> = [
    [new NotMediaError('text file'), 'not_media', false],
    [new SourceNotFoundError('404'), 'source_not_found', false],
    [new StorageRejectedError('403 from bucket'), 'storage_rejected', false],
    [new StorageTransferError('reset'), 'storage_transfer_failed', true],
    [new EncodeError('ffmpeg exited 139'), 'encode_failed', true],
    [new FfmpegMissingError('no ffmpeg'), 'ffmpeg_missing', true],
    [new VidmeshError('bug'), 'internal_error', true],
    [Object.assign(new Error('no space'), { code: 'ENOSPC' }), 'disk_full', true],
    [Object.assign(new Error('reset'), { code: 'ECONNRESET' }), 'io_error', true],
    [new Error('weird'), 'internal_error', true],
  ];
  for (const [err, code, retryable] of cases) {
    const c = classifyFailure(err);
    assert.equal(c.code, code, String(err));
    assert.equal(c.retryable, retryable, String(err));
  }
});

test('result cache: atomic put, list, delete, corrupt files skipped, unsafe ids refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-cache-'));
  try {
    const cache = new ResultCache(join(dir, 'results'));
    assert.deepEqual(await cache.list(), { entries: [], corrupt: [] });
    const entry = {
      jobId: 'job-1',
      encoderId: 'enc',
      leaseToken: 'tok',
      result: {
        renditions: [],
        masterUrl: '/m',
        publish: {},
        encode: { backend: 'libx264', fallbacks: [], wallS: 1, speed: 2 },
      },
      finishedAt: new Date().toISOString(),
    };
    await cache.put(entry);
    await writeFile(join(dir, 'results', 'broken.json'), '{"half');
    const listed = await cache.list();
    assert.deepEqual(listed.entries, [entry]);
    assert.deepEqual(listed.corrupt, ['broken.json']);
    assert.equal((await stat(join(dir, 'results', 'job-1.json'))).mode & 0o777, 0o600);
    assert.deepEqual(
      (await readdir(join(dir, 'results'))).filter((n) => n.endsWith('.tmp')),
      [],
    );
    await cache.delete('job-1');
    assert.equal((await cache.list()).entries.length, 0);
    await assert.rejects(cache.put({ ...entry, jobId: '../escape' }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
