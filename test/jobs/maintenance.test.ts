// Leadership and start-up on real PostgreSQL: concurrent migrations, one maintenance leader among
// several coordinators, and handover when the leader's connection is killed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  createDatabase,
  createJobStore,
  type Database,
  type JobChange,
  LEADER_LOCK_KEY,
  type Maintenance,
  migrationsDir,
  startMaintenance,
} from '../../src/jobs/index.js';
import { CLAIM_PARAMS, claimSql } from '../../src/jobs/sql.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase({ migrate: false });
});
after(async () => {
  await t?.drop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Generous: on a loaded 2-core CI box, noticing a killed backend and re-electing can take seconds.
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

test('several processes starting at once apply the migrations exactly once', async () => {
  const dbs = await Promise.all(Array.from({ length: 4 }, () => createDatabase({ url: t.url, poolSize: 1 })));
  try {
    const { rows } = await dbs[0]!.query<{ tag: string }>('SELECT tag FROM vidmesh_migrations ORDER BY tag');
    const journal = JSON.parse(readFileSync(join(migrationsDir(), 'meta', '_journal.json'), 'utf8')) as {
      entries: Array<{ tag: string }>;
    };
    assert.ok(journal.entries.length >= 4);
    assert.deepEqual(
      rows.map((r) => r.tag),
      journal.entries.map((e) => e.tag).sort(),
    );
    const again = await createDatabase({ url: t.url, poolSize: 1 });
    await again.close();
  } finally {
    await Promise.all(dbs.map((d) => d.close()));
  }
});

test('exactly one maintenance leader; killing its connection hands leadership over', async () => {
  const dbs: Database[] = [];
  const loops: Maintenance[] = [];
  const changes: Array<[number, boolean]> = [];
  try {
    for (let i = 0; i < 3; i++) {
      const db = await createDatabase({ url: t.url, poolSize: 2 });
      dbs.push(db);
      loops.push(
        startMaintenance(db, createJobStore(db), {
          intervalMs: 100,
          onLeadershipChange: (leader) => changes.push([i, leader]),
        }),
      );
    }
    const leaders = () => loops.filter((l) => l.isLeader()).length;
    await until('a leader', () => leaders() === 1);
    await sleep(300);
    assert.equal(leaders(), 1, 'still exactly one after several ticks');
    const first = loops.findIndex((l) => l.isLeader());

    // A lease that expires: whoever leads must rescue it.
    const store = createJobStore(dbs[0]!, { leaseMs: 200 });
    const job = await store.submit({ spec: {}, renditions: ['480p'] });
    const claim = await store.claim(
      { id: 'e1', kind: 'community' },
      {
        codecs: [],
        hwaccel: [],
        maxHeight: 480,
        concurrency: 1,
        tags: [],
      },
    );
    assert.equal(claim?.job.id, job.id);

    const holder = async () => {
      const { rows } = await dbs[0]!.query<{ pid: number }>(
        // pg_locks is cluster-wide: other test files' coordinators hold the same key in their own
        // databases, so only this database's holder counts (killing theirs would never hand ours over).
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((classid::bigint << 32) | objid::bigint) = $1`,
        [LEADER_LOCK_KEY],
      );
      return rows.map((r) => r.pid);
    };
    const holders = await holder();
    assert.equal(holders.length, 1, 'exactly one lock holder in this database');
    const [pid] = holders;
    await dbs[0]!.query('SELECT pg_terminate_backend($1)', [pid]);
    // The old leader must notice the loss; then exactly one leader again. Usually another process
    // wins, but the old one may win the lock back after its stand-back (its backend can take a while
    // to exit on a loaded machine): either is a correct hand-over, two leaders never are.
    await until(
      'the old leader to notice its loss and one leader again',
      () => changes.some(([i, l]) => i === first && !l) && leaders() === 1,
    );
    // The terminated backend may hold its lock for a moment while it exits: wait for one holder.
    await until('exactly one lock holder', async () => (await holder()).length === 1);
    const second = loops.findIndex((l) => l.isLeader());

    await until(
      'the expired lease rescued by the new leader',
      async () => (await store.get(job.id)).status === 'queued',
    );
    const ev = (await store.listEvents(job.id)).at(-1);
    assert.equal(ev?.reason, 'lease_expired');

    await loops[second]!.stop();
    await until('leadership after a clean stop', () => leaders() === 1 && !loops[second]!.isLeader());
  } finally {
    await Promise.all(loops.map((l) => l.stop()));
    await Promise.all(dbs.map((d) => d.close()));
  }
});

test('onJobChange sees transitions made by another process; claimers there are woken by NOTIFY', async () => {
  const a = await createDatabase({ url: t.url, poolSize: 2 });
  const b = await createDatabase({ url: t.url, poolSize: 2 });
  const storeA = createJobStore(a);
  const storeB = createJobStore(b, { changePollMs: 100, pollIntervalMs: 10_000 });
  try {
    const seen: JobChange[] = [];
    const unsubscribe = await storeB.onJobChange((c) => seen.push(c));
    const caps = {
      codecs: [],
      hwaccel: [],
      maxHeight: 1080,
      concurrency: 1,
      tags: ['xproc'],
      queues: ['live' as const],
    };
    const waiting = storeB.claim({ id: 'b1', kind: 'desktop' }, caps, { waitMs: 8000 });
    await sleep(100);
    const t0 = Date.now();
    const job = await storeA.submit({
      spec: {},
      renditions: ['720p'],
      queue: 'live',
      requirements: { tags: ['xproc'] },
    });
    const claim = await waiting;
    assert.equal(claim?.job.id, job.id);
    assert.ok(Date.now() - t0 < 2000, 'woken by the notification, not the 10 s poll');
    await storeA.cancel(job.id, { actor: 'ops' });
    const of = () =>
      seen.flatMap((c) => (c.type === 'transition' && c.jobId === job.id ? [`${c.to}:${c.actor}`] : []));
    await until('three transitions', () => of().length >= 3);
    assert.deepEqual(of(), ['queued:api', 'leased:b1', 'cancelled:ops']);
    unsubscribe();
  } finally {
    await storeA.close();
    await storeB.close();
    await a.close();
    await b.close();
  }
});

test("a claim walks its kind's index in claim order instead of sorting the queue", async () => {
  const db = await createDatabase({ url: t.url, poolSize: 1 });
  try {
    await db.query(
      `INSERT INTO jobs (id, short_id, spec, weight, required_codecs, required_tags, run_after, created_at, updated_at)
       SELECT 'plan-' || g, 'p' || g, '{}', (g % 3) + 1, '{h264}', '{}', now(), now(), now()
       FROM generate_series(1, 3000) g`,
    );
    await db.query('ANALYZE jobs');
    for (const kind of ['infrastructure', 'community', 'desktop', 'browser'] as const) {
      const { rows } = await db.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN ${claimSql(kind)}`,
        CLAIM_PARAMS.values({
          now: new Date(),
          codecs: ['h264', 'aac'],
          hwaccel: [],
          maxHeight: 1080,
          maxDurationS: null,
          tags: [],
          queues: null,
          encoderId: 'e',
          token: 'token',
          leaseExpiresAt: new Date(),
          scope: 'all',
          tenant: null,
          user: null,
          score: 1,
        }),
      );
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.match(plan, new RegExp(`Index Scan using jobs_claim_${kind}_idx`), plan);
      assert.doesNotMatch(plan, /Sort/, plan);
    }
  } finally {
    await db.query(`DELETE FROM jobs WHERE id LIKE 'plan-%'`);
    await db.close();
  }
});
