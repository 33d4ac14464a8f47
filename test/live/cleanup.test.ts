import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import type { EncoderCapabilities } from '../../src/jobs/index.js';
import { endLiveStream } from '../../src/live/store.js';
import { startTestCoordinator } from '../helpers/coordinator.js';

/**
 * Live files after the end (docs/live.md): the maintenance leader of `vidmesh serve` (PGlite) deletes
 * an ended stream's `<dataDir>/live/<jobId>/` once VIDMESH_LIVE_FILES_GRACE_MS has passed since its end
 * and its job is final, when the stream was not recorded or its job completed (recording published);
 * it keeps the files of a stream within the grace, of a job still running, and of a recorded stream
 * whose recording was never published.
 */

const caps: EncoderCapabilities = {
  codecs: ['h264', 'aac'],
  hwaccel: [],
  maxHeight: 2160,
  concurrency: 1,
  tags: ['live'],
};

describe('live files after the end (maintenance leader)', { timeout: 90_000 }, () => {
  let dir: string;
  let c: RunningCoordinator;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-live-cleanup-'));
    c = await startTestCoordinator(dir, {
      liveRtmpPort: 0,
      liveRtmpHost: '127.0.0.1',
      maintenanceMs: 200,
      liveFilesGraceMs: 3_600_000,
    });
  });
  after(async () => {
    await c?.stop({ graceMs: 0 });
    await rm(dir, { recursive: true, force: true });
  });

  const create = async (record: boolean): Promise<string> => {
    const r = await fetch(`${c.url}/api/v1/live`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ renditions: ['240p'], record }),
    });
    assert.equal(r.status, 201, await r.clone().text());
    return ((await r.json()) as { job: { id: string } }).job.id;
  };
  const files = (jobId: string) => join(dir, 'live', jobId);

  test('deletes the files of ended unrecorded (cancelled) and recorded-and-completed streams past the grace; keeps those within the grace, of a queued job, and of an unpublished recording', async () => {
    const unrecorded = await create(false);
    const withinGrace = await create(false);
    const unpublished = await create(true);
    const stillQueued = await create(false);
    const published = await create(true);
    for (const id of [unrecorded, withinGrace, unpublished]) await c.store.cancel(id, { reason: 'test' });
    // The recorded one completes (its runner completes only after `finish` published the recording).
    const enc = await c.store.registerEncoder({
      name: 'live-cleanup',
      kind: 'infrastructure',
      capabilities: caps,
    });
    for (;;) {
      const claim = await c.store.claim({ id: enc.id, kind: 'infrastructure' }, caps, { waitMs: 2000 });
      assert.ok(claim, 'claimed');
      if (claim.job.id !== published) continue; // the queued one: keep its lease, claim on
      await c.store.complete(published, claim.leaseToken, enc.id, { result: { masterUrl: 'recording' } });
      break;
    }
    const all = [unrecorded, withinGrace, unpublished, stillQueued, published];
    for (const id of all) {
      assert.ok(existsSync(join(files(id), 'master.m3u8')), `${id} has live files`);
      await endLiveStream(c.db, id);
    }
    // Every state is set; now all but one ended two hours ago, past the one-hour grace.
    await c.db.query(
      `UPDATE live_streams SET ended_at = now() - interval '2 hours' WHERE job_id = ANY($1::text[])`,
      [[unrecorded, unpublished, stillQueued, published]],
    );
    for (let i = 0; existsSync(files(unrecorded)) || existsSync(files(published)); i++) {
      assert.ok(i < 300, 'the leader deleted them within 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const id of [withinGrace, unpublished, stillQueued])
      assert.ok(existsSync(join(files(id), '240p', 'index.m3u8')), `${id} keeps its live files`);
    const rows = await c.db.query<{ job_id: string; removed: boolean }>(
      'SELECT job_id, files_removed_at IS NOT NULL AS removed FROM live_streams WHERE job_id = ANY($1::text[])',
      [all],
    );
    const removed = Object.fromEntries(rows.rows.map((r) => [r.job_id, r.removed]));
    assert.deepEqual(
      all.map((id) => removed[id]),
      [true, false, false, false, true],
    );
    assert.equal((await fetch(`${c.url}/live/${unrecorded}/master.m3u8`)).status, 404);
    assert.equal((await fetch(`${c.url}/live/${withinGrace}/master.m3u8`)).status, 200);
  });
});
