// The job store's functional suite, run once per driver (store.pg.test.ts, store.pglite.test.ts).
// Each test isolates its jobs with a unique required tag, so tests share one database per file.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  backoffDelayMs,
  createJobStore,
  type EncoderCapabilities,
  type EncoderKind,
  InvalidTransitionError,
  type JobChange,
  type JobStoreOptions,
  LeaseLostError,
  startMaintenance,
} from '../../src/jobs/index.js';
import { type TestDriver, withTestDatabase } from '../helpers/db.js';

const BACKOFF = { baseMs: 1000, factor: 2, capMs: 8000, jitter: 0.2 };

function harness(getDb: () => import('../../src/jobs/index.js').Database, extra: JobStoreOptions = {}) {
  let now = Date.now();
  const tag = `t-${randomUUID().slice(0, 8)}`;
  const store = createJobStore(getDb(), {
    clock: () => new Date(now),
    leaseMs: 30_000,
    backoff: BACKOFF,
    random: () => 0.5,
    pollIntervalMs: 200,
    ...extra,
  });
  const caps = (over: Partial<EncoderCapabilities> = {}): EncoderCapabilities => ({
    codecs: ['h264', 'aac'],
    hwaccel: [],
    maxHeight: 2160,
    concurrency: 1,
    ...over,
    tags: [tag, ...(over.tags ?? [])],
  });
  const enc = (id: string, kind: EncoderKind = 'infrastructure') => ({ id: `${tag}-${id}`, kind });
  return {
    store,
    tag,
    caps,
    enc,
    now: () => new Date(now),
    advance: (ms: number) => {
      now += ms;
    },
    submit: (over: Partial<Parameters<typeof store.submit>[0]> = {}, key?: string) =>
      store.submit(
        {
          spec: { input: 'https://example.test/a.mp4', n: Math.random() },
          renditions: ['1080p', '720p'],
          ...over,
          requirements: { ...over.requirements, tags: [tag, ...(over.requirements?.tags ?? [])] },
        },
        key ? { idempotencyKey: key } : {},
      ),
  };
}

export function storeSuite(driver: TestDriver): void {
  describe(`job store on ${driver}`, () => {
    const t = withTestDatabase({ driver });
    const db = () => t.current.db;

    test('submit is idempotent per key and creates rendition rows and an event', async () => {
      const h = harness(db);
      const a = await h.submit({ owner: 'alice' }, `k-${h.tag}`);
      const b = await h.submit({ owner: 'bob' }, `k-${h.tag}`);
      assert.equal(b.id, a.id);
      assert.equal(b.owner, 'alice');
      assert.equal(a.status, 'queued');
      assert.match(a.shortId, /^j[0-9a-z]{10}$/);
      assert.deepEqual(
        a.renditions.map((r) => [r.name, r.status]),
        [
          ['1080p', 'pending'],
          ['720p', 'pending'],
        ],
      );
      assert.equal((await h.store.get(a.shortId)).id, a.id);
      const events = await h.store.listEvents(a.id);
      assert.deepEqual(
        events.map((e) => [e.from, e.to, e.reason]),
        [[null, 'queued', 'submitted']],
      );
      const other = await h.submit({}, `k2-${h.tag}`);
      assert.notEqual(other.id, a.id);
    });

    test('claims in order of queue x priority weight, then preferred encoder kind, then age', async () => {
      const h = harness(db);
      const ids: Record<string, string> = {};
      const add = async (name: string, over: Parameters<typeof h.submit>[0]) => {
        ids[(await h.submit(over)).id] = name;
        h.advance(1);
      };
      await add('batch-low', { queue: 'batch', priority: 'low' }); // 1
      await add('default-medium-old', { queue: 'default', priority: 'medium' }); // 10
      await add('default-medium-prefers-community', {
        requirements: { preferredKinds: ['community'] },
      }); // 10, preferred by community
      await add('live-high', { queue: 'live', priority: 'high' }); // 30
      await add('default-high', { priority: 'high' }); // 15
      const order: string[] = [];
      for (;;) {
        const c = await h.store.claim(h.enc('c', 'community'), h.caps());
        if (!c) break;
        order.push(ids[c.job.id] ?? '?');
      }
      assert.deepEqual(order, [
        'live-high',
        'default-high',
        'default-medium-prefers-community',
        'default-medium-old',
        'batch-low',
      ]);
    });

    test('only offers jobs the encoder can do', async () => {
      const h = harness(db);
      const hevc = await h.submit({ requirements: { codecs: ['hevc'] } });
      const gpu = await h.submit({ requirements: { hwaccel: 'nvenc', tags: ['gpu'] } });
      const tall = await h.submit({ requirements: { sourceHeight: 2160 } });
      const long = await h.submit({ requirements: { durationS: 600 } });
      const unknownLength = await h.submit({});
      const short = await h.submit({ requirements: { durationS: 30, sourceHeight: 480 } });
      const browser = h.caps({ maxHeight: 480, maxDurationS: 60 });
      const b = await h.store.claim(h.enc('browser', 'browser'), browser);
      assert.equal(b?.job.id, short.id);
      assert.equal(await h.store.claim(h.enc('browser', 'browser'), browser), null);
      const sw = h.caps({ maxHeight: 1080 });
      const got = new Set<string>();
      for (let c = await h.store.claim(h.enc('sw'), sw); c; c = await h.store.claim(h.enc('sw'), sw)) {
        got.add(c.job.id);
      }
      assert.deepEqual(got, new Set([long.id, unknownLength.id]));
      const big = h.caps({ codecs: ['h264', 'hevc', 'aac'], hwaccel: ['nvenc'], tags: ['gpu'] });
      for (let c = await h.store.claim(h.enc('gpu'), big); c; c = await h.store.claim(h.enc('gpu'), big)) {
        got.add(c.job.id);
      }
      assert.deepEqual(got, new Set([long.id, unknownLength.id, hevc.id, gpu.id, tall.id]));
    });

    test('a browser encoder gets only measured jobs of at most 120 s and 480p, whatever it declares', async () => {
      const h = harness(db);
      const long = await h.submit({ requirements: { durationS: 130, sourceHeight: 480 } });
      const tall = await h.submit({ requirements: { durationS: 30, sourceHeight: 720 } });
      // A duration without a measured output height (a chunk task's): the browser could not know it.
      const unmeasured = await h.submit({ requirements: { durationS: 30 } });
      const fits = await h.submit({ requirements: { durationS: 120, sourceHeight: 480 } });
      const boasting = h.caps({ maxHeight: 2160 });
      const b = await h.store.claim(h.enc('tab', 'browser'), boasting);
      assert.equal(b?.job.id, fits.id);
      assert.equal(await h.store.claim(h.enc('tab', 'browser'), boasting), null);
      // The same declaration on another kind leases the rest: the limits are the browser kind's.
      const got = new Set<string>();
      for (
        let c = await h.store.claim(h.enc('node'), boasting);
        c;
        c = await h.store.claim(h.enc('node'), boasting)
      )
        got.add(c.job.id);
      assert.deepEqual(got, new Set([long.id, tall.id, unmeasured.id]));
    });

    test("a protocol family's jobs are leased only through claimForProtocol, capped per encoder; leaseOf finds the holder's lease", async () => {
      const h = harness(db);
      const other = await h.submit({ protocol: '3speak', renditions: ['480p'] });
      const wanted = await h.submit({ protocol: '3speak', renditions: ['480p'] });
      assert.equal(await h.store.claim(h.enc('generic'), h.caps()), null, 'the generic claim skips them');
      const gw = `${h.tag}-gateway-node`;
      const c = await h.store.claimForProtocol(gw, {
        protocol: '3speak',
        jobId: wanted.id,
        capacity: 1,
        leaseMs: 300_000,
      });
      assert.equal(c?.job.id, wanted.id, 'a job asked for by id');
      assert.equal(c?.job.status, 'leased');
      assert.equal(c?.leaseExpiresAt.getTime(), h.now().getTime() + 300_000, 'the family lease length');
      assert.equal(
        await h.store.claimForProtocol(gw, { protocol: '3speak', capacity: 1 }),
        null,
        'no second lease beyond capacity',
      );
      const lease = await h.store.leaseOf(wanted.id, gw);
      assert.equal(lease?.token, c?.leaseToken);
      assert.equal(lease?.status, 'leased');
      assert.equal(await h.store.leaseOf(wanted.id, `${h.tag}-someone-else`), null);
      const ev = (await h.store.listEvents(wanted.id)).at(-1);
      assert.deepEqual(
        [ev?.to, ev?.reason, ev?.details],
        ['leased', 'claimed', { attempt: 1, via: '3speak' }],
      );
      const next = await h.store.claimForProtocol(`${h.tag}-gateway-2`, { protocol: '3speak', capacity: 1 });
      assert.equal(next?.job.id, other.id, 'another node gets the remaining one');
    });

    test('renew moves leased -> running, records progress, and reports cancellation', async () => {
      const h = harness(db);
      const job = await h.submit();
      const c = await h.store.claim(h.enc('a'), h.caps());
      assert.ok(c);
      assert.equal(c.job.id, job.id);
      assert.equal(c.attempt, 1);
      assert.equal(c.job.status, 'leased');
      h.advance(10_000);
      const r = await h.store.renew(job.id, c.leaseToken, h.enc('a').id, {
        stage: 'encoding',
        progress: 42.5,
        etaS: 12,
        speed: 2.5,
        fps: 62.5,
        renditions: [{ name: '1080p', status: 'running', progress: 40 }],
      });
      assert.equal(r.cancelled, false);
      assert.ok(r.leaseExpiresAt.getTime() > c.leaseExpiresAt.getTime());
      const running = await h.store.get(job.id);
      assert.equal(running.status, 'running');
      assert.equal(running.stage, 'encoding');
      assert.equal(running.progress, 42.5);
      assert.equal(running.speed, 2.5, 'the reported encode speed is kept while it runs');
      assert.equal(running.fps, 62.5, 'and the frame rate');
      assert.equal(running.renditions[0]?.status, 'running');
      assert.equal(running.lease?.encoderId, h.enc('a').id);
      await assert.rejects(
        h.store.renew(job.id, c.leaseToken, h.enc('b').id, { progress: 50 }),
        (e: unknown) => e instanceof LeaseLostError && e.status === 409 && e.code === 'lease_lost',
      );
      await assert.rejects(h.store.renew(job.id, 'forged', h.enc('a').id, {}), LeaseLostError);
      const cancelled = await h.store.cancel(job.id, { actor: 'alice', reason: 'user asked' });
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(cancelled.speed, null, 'cleared with the ETA');
      assert.equal(cancelled.fps, null, 'cleared with the ETA');
      const seen = await h.store.renew(job.id, c.leaseToken, h.enc('a').id, { progress: 60 });
      assert.equal(seen.cancelled, true);
      await assert.rejects(
        h.store.complete(job.id, c.leaseToken, h.enc('a').id, { result: {} }),
        (e: unknown) => e instanceof LeaseLostError && e.details?.reason === 'cancelled',
      );
      assert.equal((await h.store.cancel(job.id)).status, 'cancelled', 'cancel is idempotent');
      const events = await h.store.listEvents(job.id);
      assert.deepEqual(
        events.map((e) => e.to),
        ['queued', 'leased', 'running', 'cancelled'],
      );
      assert.equal(events[3]?.actor, 'alice');
    });

    test('complete is idempotent for the same token and result, refused for anyone else', async () => {
      const h = harness(db);
      const job = await h.submit();
      const c = await h.store.claim(h.enc('a'), h.caps());
      assert.ok(c);
      const me = h.enc('a').id;
      await h.store.registerEncoder({ id: me, name: 'a', kind: 'infrastructure', capabilities: h.caps() });
      await assert.rejects(
        h.store.complete(job.id, c.leaseToken, h.enc('x').id, { result: { ok: 1 } }),
        LeaseLostError,
      );
      const input = {
        result: { master: 'index.m3u8', sizes: [1, 2] },
        renditions: [{ name: '1080p', result: { bandwidth: 5_000_000 } }],
        encodeSeconds: 12.5,
      };
      const done = await h.store.complete(job.id, c.leaseToken, me, input);
      assert.equal(done.status, 'completed');
      assert.equal(done.progress, 100);
      assert.equal(done.lease, null);
      assert.deepEqual(done.result, input.result);
      assert.deepEqual(done.renditions[0]?.result, { bandwidth: 5_000_000 });
      // Listed renditions were produced; an unlisted one was not (bug 5: it used to read `completed`).
      assert.equal(done.renditions[1]?.status, 'skipped');
      const again = await h.store.complete(job.id, c.leaseToken, me, input);
      await assert.rejects(h.store.cancel(job.id), InvalidTransitionError);
      assert.equal(again.id, done.id);
      assert.equal((await h.store.listEvents(job.id)).filter((e) => e.to === 'completed').length, 1);
      await assert.rejects(
        h.store.complete(job.id, c.leaseToken, me, { result: { other: true } }),
        (e: unknown) =>
          e instanceof LeaseLostError && e.details?.reason === 'completed_with_different_result',
      );
      await assert.rejects(h.store.complete(job.id, 'stale', me, input), LeaseLostError);
      await assert.rejects(h.store.complete(randomUUID(), 'x', me, input), { code: 'job_not_found' });
      const encoder = await h.store.getEncoder(me);
      assert.equal(encoder.jobsCompleted, 1);
      assert.equal(encoder.encodeSeconds, 12.5);
    });

    test('retryable failures back off exponentially, then dead-letter after max attempts', async () => {
      const h = harness(db);
      const job = await h.submit({ maxAttempts: 3 });
      const me = h.enc('a');
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        const c = await h.store.claim(me, h.caps());
        assert.ok(c, `claim for attempt ${attempt}`);
        assert.equal(c.attempt, attempt);
        const failed = await h.store.fail(job.id, c.leaseToken, me.id, {
          message: `boom ${attempt}`,
          code: 'ffmpeg',
        });
        if (attempt < 3) {
          assert.equal(failed.status, 'failed');
          const delay = failed.runAfter.getTime() - failed.updatedAt.getTime();
          delays.push(delay);
          assert.equal(await h.store.claim(me, h.caps()), null, 'not claimable during backoff');
          assert.equal((await h.store.isAvailableToClaim(job.id)).reason, 'waiting_for_backoff');
          h.advance(delay);
        } else {
          assert.equal(failed.status, 'dead');
          assert.deepEqual(failed.lastError, { message: 'boom 3', code: 'ffmpeg' });
          assert.ok(failed.finishedAt);
          assert.deepEqual(
            failed.renditions.map((r) => r.status),
            ['failed', 'failed'],
          );
        }
      }
      // random() = 0.5 cancels the jitter: base * factor^(n-1).
      assert.deepEqual(delays, [1000, 2000]);
      assert.deepEqual(delays, [
        backoffDelayMs(1, BACKOFF, () => 0.5),
        backoffDelayMs(2, BACKOFF, () => 0.5),
      ]);
      assert.equal(
        backoffDelayMs(10, BACKOFF, () => 0.5),
        8000,
        'capped',
      );
      assert.equal(
        backoffDelayMs(1, BACKOFF, () => 0),
        800,
        'jitter -20%',
      );
      const events = await h.store.listEvents(job.id);
      assert.equal(events.at(-1)?.reason, 'dead_letter');
      assert.equal(events.filter((e) => e.reason === 'retry_scheduled').length, 2);

      const other = await h.submit({ maxAttempts: 5 });
      const c = await h.store.claim(me, h.caps());
      assert.equal(c?.job.id, other.id);
      const dead = await h.store.fail(
        other.id,
        c.leaseToken,
        me.id,
        { message: 'bad input' },
        { retryable: false },
      );
      assert.equal(dead.status, 'dead');
      assert.equal(dead.attempts, 1);
    });

    test('an expired lease is rescued and claimed by another encoder; the old token is refused', async () => {
      const h = harness(db);
      const job = await h.submit();
      const a = h.enc('a');
      const b = h.enc('b');
      const first = await h.store.claim(a, h.caps());
      assert.ok(first);
      assert.equal((await h.store.verifyOwnership(job.id, a.id)).isSafeToProcess, true);
      h.advance(31_000);
      assert.equal((await h.store.verifyOwnership(job.id, a.id)).isSafeToProcess, false, 'lease expired');
      const rescued = await h.store.rescueExpired();
      assert.ok(rescued.some((r) => r.id === job.id && r.status === 'queued'));
      const ev = (await h.store.listEvents(job.id)).at(-1);
      assert.equal(ev?.reason, 'lease_expired');
      assert.equal(ev?.actor, 'maintenance');
      assert.equal(ev?.details?.encoderId, a.id);
      const second = await h.store.claim(b, h.caps());
      assert.equal(second?.job.id, job.id);
      assert.equal(second?.attempt, 2);
      await assert.rejects(h.store.complete(job.id, first.leaseToken, a.id, { result: {} }), LeaseLostError);
      await assert.rejects(h.store.renew(job.id, first.leaseToken, a.id), LeaseLostError);
      const own = await h.store.verifyOwnership(job.id, a.id);
      assert.deepEqual(own, {
        isOwned: false,
        jobExists: true,
        actualOwner: b.id,
        status: 'leased',
        isSafeToProcess: false,
      });
      assert.equal((await h.store.verifyOwnership(job.id, b.id)).isSafeToProcess, true);
      assert.deepEqual(await h.store.isAvailableToClaim(job.id), {
        available: false,
        reason: 'leased',
        currentOwner: b.id,
        status: 'leased',
      });
      assert.equal((await h.store.isAvailableToClaim(randomUUID())).reason, 'not_found');
      const done = await h.store.complete(job.id, second.leaseToken, b.id, { result: { ok: true } });
      assert.equal(done.status, 'completed');
    });

    test('release hands the job back without counting the attempt', async () => {
      const h = harness(db);
      const job = await h.submit();
      const c = await h.store.claim(h.enc('a'), h.caps());
      assert.ok(c);
      const released = await h.store.release(job.id, c.leaseToken, h.enc('a').id, 'shutting down');
      assert.equal(released.status, 'queued');
      assert.equal(released.attempts, 0);
      const again = await h.store.claim(h.enc('b'), h.caps());
      assert.equal(again?.attempt, 1);
      await assert.rejects(h.store.release(job.id, c.leaseToken, h.enc('a').id), LeaseLostError);
    });

    test('retry re-runs only the named renditions and keeps the others', async () => {
      const h = harness(db);
      const job = await h.submit();
      const me = h.enc('a');
      const c = await h.store.claim(me, h.caps());
      assert.ok(c);
      await h.store.complete(job.id, c.leaseToken, me.id, {
        result: { v: 1 },
        renditions: [
          { name: '1080p', result: { ok: 1080 } },
          { name: '720p', status: 'failed', error: 'encoder crashed' },
        ],
      });
      await assert.rejects(h.store.retry(job.id), InvalidTransitionError);
      await assert.rejects(h.store.retry(job.id, { renditions: ['480p'] }), { code: 'validation_failed' });
      const queued = await h.store.retry(job.id, { renditions: ['720p'], actor: 'ops' });
      assert.equal(queued.status, 'queued');
      assert.deepEqual(
        queued.renditions.map((r) => [r.name, r.status]),
        [
          ['1080p', 'completed'],
          ['720p', 'pending'],
        ],
      );
      const c2 = await h.store.claim(me, h.caps());
      assert.equal(c2?.job.id, job.id);
      assert.equal(c2?.job.renditions[1]?.status, 'pending');
      const done = await h.store.complete(job.id, c2.leaseToken, me.id, {
        result: { v: 2 },
        renditions: [{ name: '720p', result: { ok: 720 } }],
      });
      assert.deepEqual(
        done.renditions.map((r) => r.result),
        [{ ok: 1080 }, { ok: 720 }],
      );
      assert.equal(
        (await h.store.listEvents(job.id)).filter((e) => e.reason === 'manual_retry')[0]?.actor,
        'ops',
      );
    });

    test('renditions the plan leaves out are skipped, from the first report and at completion (bug 5)', async () => {
      const h = harness(db);
      const me = h.enc('a');
      const states = (j: { renditions: Array<{ name: string; status: string }> }) =>
        j.renditions.map((r) => `${r.name}:${r.status}`);
      // Reported by the encoder's first progress call after planning a 720p source.
      const job = await h.submit({ renditions: ['1080p', '720p', '480p'] });
      const c = await h.store.claim(me, h.caps());
      assert.ok(c);
      await h.store.renew(job.id, c.leaseToken, me.id, {
        stage: 'encoding',
        progress: 10,
        renditions: [
          { name: '1080p', status: 'skipped', progress: 0 },
          { name: '720p', status: 'running', progress: 10 },
          { name: '480p', status: 'running', progress: 10 },
        ],
      });
      assert.deepEqual(states(await h.store.get(job.id)), ['1080p:skipped', '720p:running', '480p:running']);
      // A retryable failure keeps the plan's verdict; the next attempt plans the same source.
      await h.store.fail(job.id, c.leaseToken, me.id, { message: 'upload failed' });
      assert.deepEqual(states(await h.store.get(job.id)), ['1080p:skipped', '720p:pending', '480p:pending']);
      h.advance(60_000);
      const c2 = await h.store.claim(me, h.caps());
      assert.equal(c2?.job.id, job.id);
      const done = await h.store.complete(job.id, c2.leaseToken, me.id, {
        result: { v: 1 },
        renditions: [{ name: '720p' }, { name: '480p' }],
      });
      assert.deepEqual(states(done), ['1080p:skipped', '720p:completed', '480p:completed']);
      // A retry without names re-runs what is neither completed nor skipped: nothing here.
      await assert.rejects(h.store.retry(job.id), InvalidTransitionError);

      // No progress report at all: completion alone marks what was not produced.
      const other = await h.submit({ renditions: ['1080p', '720p', '480p'] });
      const c3 = await h.store.claim(me, h.caps());
      assert.equal(c3?.job.id, other.id);
      const done3 = await h.store.complete(other.id, c3.leaseToken, me.id, {
        result: { v: 1 },
        renditions: [{ name: '480p' }],
      });
      assert.deepEqual(states(done3), ['1080p:skipped', '720p:skipped', '480p:completed']);

      // A caller that lists no renditions (only says "done") completes them all, as before.
      const plain = await h.submit();
      const c4 = await h.store.claim(me, h.caps());
      assert.equal(c4?.job.id, plain.id);
      const done4 = await h.store.complete(plain.id, c4.leaseToken, me.id, { result: { v: 1 } });
      assert.deepEqual(states(done4), ['1080p:completed', '720p:completed']);
    });

    test('job logs are bounded per job and only the lease holder may append', async () => {
      const h = harness(db, { logLimits: { lines: 5, bytes: 1000 } });
      const job = await h.submit();
      const c = await h.store.claim(h.enc('a'), h.caps());
      assert.ok(c);
      await h.store.appendLogs(job.id, c.leaseToken, h.enc('a').id, ['one', 'two', 'three']);
      const last = await h.store.appendLogs(job.id, c.leaseToken, h.enc('a').id, [
        { line: 'frame=1', stream: 'ffmpeg' },
        'five',
        'six',
        'seven',
        'eight',
      ]);
      assert.equal(last, 8);
      const lines = await h.store.getLogs(job.id);
      assert.deepEqual(
        lines.map((l) => [l.seq, l.line]),
        [
          [4, 'frame=1'],
          [5, 'five'],
          [6, 'six'],
          [7, 'seven'],
          [8, 'eight'],
        ],
      );
      assert.equal(lines[0]?.stream, 'ffmpeg');
      assert.deepEqual(
        (await h.store.getLogs(job.id, { afterSeq: 6, limit: 1 })).map((l) => l.seq),
        [7],
      );
      await h.store.appendLogs(job.id, c.leaseToken, h.enc('a').id, ['x'.repeat(700)]);
      await h.store.appendLogs(job.id, c.leaseToken, h.enc('a').id, ['y'.repeat(400)]);
      assert.deepEqual(
        (await h.store.getLogs(job.id)).map((l) => l.seq),
        [10],
        'byte bound drops the oldest lines',
      );
      await assert.rejects(h.store.appendLogs(job.id, 'nope', h.enc('a').id, ['x']), LeaseLostError);
    });

    test('list paginates with a cursor and filters; queueStats counts depth and load', async () => {
      const h = harness(db);
      const owner = `owner-${h.tag}`;
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        made.push((await h.submit({ owner, metadata: { title: `clip ${i} ${h.tag}` }, queue: 'batch' })).id);
        h.advance(1);
      }
      const p1 = await h.store.list({ owner, limit: 2 });
      assert.equal(p1.jobs.length, 2);
      assert.ok(p1.nextCursor);
      const p2 = await h.store.list({ owner, limit: 2, cursor: p1.nextCursor });
      const p3 = await h.store.list({ owner, limit: 2, cursor: p2.nextCursor ?? undefined });
      assert.equal(p3.nextCursor, null);
      assert.deepEqual(
        [...p1.jobs, ...p2.jobs, ...p3.jobs].map((j) => j.id),
        [...made].reverse(),
      );
      assert.equal(
        (await h.store.list({ search: 'example.test/a.mp4', owner })).jobs.length,
        0,
        'spec not searched',
      );
      const found = await h.store.list({ search: `clip 3 ${h.tag}` });
      assert.deepEqual(
        found.jobs.map((j) => j.id),
        [made[3]],
      );
      const c = await h.store.claim(h.enc('a'), h.caps());
      assert.ok(c);
      assert.deepEqual(
        (await h.store.list({ status: ['leased'], encoderId: h.enc('a').id })).jobs.map((j) => j.id),
        [c.job.id],
      );
      const stats = await h.store.queueStats();
      const batch = stats.depth.find((d) => d.queue === 'batch' && d.priority === 'medium');
      assert.ok(batch && batch.count >= 4);
      assert.ok(stats.perEncoder.some((p) => p.encoderId === h.enc('a').id && p.running === 1));
      assert.ok(stats.byStatus.leased >= 1);
      await assert.rejects(h.store.list({ cursor: 'garbage' }), { code: 'validation_failed' });
    });

    test('encoders upsert by DID or stable id, heartbeat, and go offline when silent', async () => {
      const h = harness(db);
      const did = `did:key:z6Mk${h.tag}`;
      const a = await h.store.registerEncoder({
        did,
        name: 'laptop',
        kind: 'desktop',
        capabilities: h.caps(),
        version: '0.1.0',
      });
      const again = await h.store.registerEncoder({
        did,
        name: 'laptop renamed',
        kind: 'desktop',
        capabilities: h.caps({ maxHeight: 720 }),
        version: '0.2.0',
      });
      assert.equal(again.id, a.id);
      assert.equal(again.name, 'laptop renamed');
      assert.equal(again.capabilities.maxHeight, 720);
      assert.equal((await h.store.getEncoder(did)).id, a.id);
      const named = await h.store.registerEncoder({
        name: `box-${h.tag}`,
        kind: 'infrastructure',
        capabilities: h.caps(),
      });
      const named2 = await h.store.registerEncoder({
        name: `box-${h.tag}`,
        kind: 'infrastructure',
        capabilities: h.caps(),
      });
      assert.equal(named2.id, named.id);
      const all = (await h.store.listEncoders()).filter((e) => e.id === a.id || e.id === named.id);
      assert.equal(all.length, 2);
      await h.store.setEncoderApproval(a.id, 'banned');
      assert.equal((await h.store.getEncoder(a.id)).approval, 'banned');
      assert.equal(
        (await h.store.registerEncoder({ did, name: 'x', kind: 'desktop', capabilities: h.caps() })).approval,
        'banned',
      );
      assert.equal(named.host, null, 'no host before a heartbeat reports one');
      const load = { cpu: 0.25, memory: 0.5, gpu: 0.75, at: '2026-01-01T00:00:00.000Z' };
      const beat = await h.store.heartbeatEncoder(named.id, { host: 'enc-host-1', load });
      assert.equal(beat.host, 'enc-host-1');
      assert.deepEqual(beat.load, load);
      const kept = await h.store.heartbeatEncoder(named.id);
      assert.deepEqual(
        [kept.host, kept.load],
        ['enc-host-1', load],
        'a heartbeat without a report keeps the last',
      );
      h.advance(120_000);
      await h.store.heartbeatEncoder(named.id);
      const offline = await h.store.markSilentEncodersOffline(60_000);
      assert.ok(offline.includes(a.id));
      assert.ok(!offline.includes(named.id));
      assert.equal((await h.store.getEncoder(a.id)).status, 'offline');
      await assert.rejects(h.store.heartbeatEncoder('nobody'), { code: 'encoder_not_found' });
    });

    test('an idle long-polling claimer is woken by a submit within milliseconds', async () => {
      const h = harness(db, { clock: undefined, pollIntervalMs: 5000 });
      const changes: JobChange[] = [];
      const unsubscribe = await h.store.onJobChange((c) => changes.push(c));
      const started = Date.now();
      const pending = h.store.claim(h.enc('poller'), h.caps(), { waitMs: 10_000 });
      await new Promise((r) => setTimeout(r, 150));
      const submittedAt = Date.now();
      const job = await h.submit();
      const c = await pending;
      const latency = Date.now() - submittedAt;
      assert.equal(c?.job.id, job.id);
      // Any wake before the 5 s poll is the notification; typically a few ms, up to seconds on a busy machine.
      assert.ok(latency < 4000, `woken after ${latency} ms, before the 5 s poll`);
      assert.ok(Date.now() - started < 5000);
      const ac = new AbortController();
      const idle = h.store.claim(h.enc('poller'), h.caps(), { waitMs: 10_000, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      assert.equal(await idle, null);
      const c2 = await h.store.complete(job.id, c.leaseToken, h.enc('poller').id, { result: 1 });
      assert.equal(c2.status, 'completed');
      const deadline = Date.now() + 3000;
      const mine = () =>
        changes.flatMap((x) => (x.type === 'transition' && x.jobId === job.id ? [x.to] : []));
      while (mine().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(mine(), ['queued', 'leased', 'completed']);
      unsubscribe();
      await h.store.close();
    });

    test('retention purges finished jobs with their events; maintenance rescues when leading', async () => {
      const h = harness(db);
      const job = await h.submit();
      await h.store.cancel(job.id);
      h.advance(3 * 86_400_000);
      assert.ok((await h.store.purgeFinished(86_400_000)) >= 1);
      await assert.rejects(h.store.get(job.id), { code: 'job_not_found' });
      assert.equal((await db().query('SELECT 1 FROM job_events WHERE job_id = $1', [job.id])).rowCount, 0);

      const leased = await h.submit();
      const c = await h.store.claim(h.enc('a'), h.caps());
      assert.equal(c?.job.id, leased.id);
      h.advance(60_000);
      const m = startMaintenance(db(), h.store, { intervalMs: 60_000 });
      try {
        const report = await m.runOnce();
        assert.equal(report.leader, true);
        assert.ok(report.rescued >= 1);
        assert.equal((await h.store.get(leased.id)).status, 'queued');
      } finally {
        await m.stop();
      }
    });
  });
}
