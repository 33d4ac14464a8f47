import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createJobStore, type JobStore } from '../../src/jobs/index.js';
import { type TestDriver, withTestDatabase } from '../helpers/db.js';

/**
 * The job store's retention queries (issue 18) on PostgreSQL and PGlite: which finished jobs expire
 * (`retainHours` of the spec over the default, none without either), that no job in another status is
 * ever selected, that `remove` deletes only finished jobs with their rows, and which IPFS roots the
 * remaining results still reference.
 */
for (const driver of ['postgres', 'pglite'] as TestDriver[]) {
  describe(`job store retention (${driver})`, () => {
    const tdb = withTestDatabase({ driver });
    const HOUR = 3_600_000;
    let now = Date.parse('2026-01-01T00:00:00Z');
    const caps = { codecs: ['h264'], hwaccel: [], maxHeight: 2160, concurrency: 1, tags: ['ret'] };

    /** A job through submit → claim → complete at the store clock, with `spec` and `result`. */
    async function finished(store: JobStore, spec: object, result: object): Promise<string> {
      const job = await store.submit({
        spec,
        renditions: ['o1'],
        requirements: { tags: ['ret'] },
      });
      const claim = await store.claim({ id: 'enc-ret', kind: 'infrastructure' }, caps);
      assert.equal(claim?.job.id, job.id);
      await store.complete(job.id, claim!.leaseToken, 'enc-ret', {
        result,
        renditions: [
          { name: 'o1', status: 'completed', result: { name: 'o1', cid: (result as { cid?: string }).cid } },
        ],
      });
      return job.id;
    }

    test('expiry follows retainHours over the default; unfinished jobs and ones without either stay', async () => {
      const store = createJobStore(tdb.current.db, { clock: () => new Date(now), leaseMs: 30_000 });
      await store.registerEncoder({ id: 'enc-ret', name: 'r', kind: 'infrastructure', capabilities: caps });
      const short = await finished(store, { retainHours: 1 }, { publish: { cid: 'QmShort' } });
      const plain = await finished(store, { n: 1 }, { outputs: [{ name: 'o1', cid: 'QmPlain' }] });
      const long = await finished(store, { retainHours: 100 }, { publish: {} });
      const queued = await store.submit({
        spec: { retainHours: 0 },
        renditions: ['o1'],
        requirements: { tags: ['none'] },
      });

      const at = (h: number) => new Date(now + h * HOUR);
      const ids = async (h: number, def: number | undefined) =>
        (await store.expiredJobs(at(h), def)).map((j) => j.id).sort();
      assert.deepEqual(await ids(0.5, undefined), []);
      assert.deepEqual(await ids(2, undefined), [short], 'no default: only jobs with retainHours');
      assert.deepEqual(await ids(2, 1), [plain, short].sort(), 'the default applies to jobs without one');
      assert.deepEqual(await ids(200, 1), [long, plain, short].sort());
      assert.ok(!(await ids(10_000, 0)).includes(queued.id), 'a queued job never expires');

      assert.deepEqual((await store.referencedCids([])).sort(), ['QmPlain', 'QmShort']);
      assert.deepEqual(await store.referencedCids([short, plain]), []);

      assert.equal(await store.remove(queued.id), false, 'an unfinished job is not removed');
      assert.equal(await store.remove(short), true);
      assert.equal(await store.remove(short), false);
      const { rows } = await tdb.current.db.query('SELECT 1 FROM renditions WHERE job_id = $1', [short]);
      assert.equal(rows.length, 0, 'its rows went with it');
      assert.equal((await store.get(plain)).status, 'completed');
      now += HOUR;
    });
  });
}
