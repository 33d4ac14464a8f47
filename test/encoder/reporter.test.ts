import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LeaseLostError } from '../../src/encoder/errors.js';
import { createHttpTransport } from '../../src/encoder/http-transport.js';
import { JobReporter } from '../../src/encoder/reporter.js';
import { type Answer, startStandIn } from './stand-in.js';

let standIn: Awaited<ReturnType<typeof startStandIn>>;
let progressAnswer: () => Answer = () => ({
  status: 200,
  body: { cancelled: false, leaseExpiresAt: new Date().toISOString() },
});
before(async () => {
  standIn = await startStandIn({ 'POST /api/v1/agent/progress': () => progressAnswer() });
});
after(() => standIn.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const progressCalls = () => standIn.seen.filter((r) => r.path === '/api/v1/agent/progress');

test('progress is throttled to one call per interval, carries the latest state and every log line', async () => {
  const before = progressCalls().length;
  const transport = createHttpTransport({ url: standIn.url, apiKey: 'k'.repeat(20) });
  const reporter = new JobReporter({
    transport,
    encoderId: 'e1',
    lease: { jobId: 'j1', leaseToken: 't1' },
    leaseExpiresAt: new Date().toISOString(),
    intervalMs: 300,
    onLeaseLost: () => assert.fail('no lease loss'),
    onCancelled: () => assert.fail('no cancel'),
  });
  reporter.start();
  const started = Date.now();
  let i = 0;
  while (Date.now() - started < 1250) {
    reporter.update({ stage: 'encoding', progress: i / 2 });
    reporter.log(`line ${i++}`);
    await sleep(5);
  }
  const rest = await reporter.stop();
  const elapsed = Date.now() - started;
  const calls = progressCalls().slice(before);
  // 1 immediate + one per elapsed interval (+1 early stage-change send); never one per update. Under a
  // loaded CPU timers fire late, so the bound is computed from the time that really passed.
  const most = Math.floor(elapsed / 300) + 2;
  assert.ok(calls.length >= 2 && calls.length <= most, `calls: ${calls.length} (max ${most}), updates: ${i}`);
  assert.ok(i > 5 * calls.length, 'updates outnumber calls');
  const last = calls.at(-1)!.body as { stage: string; progress: number; jobId: string; leaseToken: string };
  assert.equal(last.stage, 'encoding');
  assert.equal(last.jobId, 'j1');
  assert.equal(last.leaseToken, 't1');
  const sent = calls.flatMap((c) => (c.body as { logs?: string[] }).logs ?? []);
  assert.deepEqual(
    [...sent, ...rest],
    Array.from({ length: i }, (_, k) => `line ${k}`),
  );
});

test('a 409 fires onLeaseLost once and stops the ticker', async () => {
  progressAnswer = () => ({ status: 409, body: { code: 'lease_lost', detail: 'rescued' } });
  const transport = createHttpTransport({ url: standIn.url, apiKey: 'k'.repeat(20) });
  const lost: LeaseLostError[] = [];
  const reporter = new JobReporter({
    transport,
    encoderId: 'e1',
    lease: { jobId: 'j2', leaseToken: 't2' },
    leaseExpiresAt: new Date().toISOString(),
    intervalMs: 50,
    onLeaseLost: (e) => lost.push(e),
    onCancelled: () => assert.fail('no cancel'),
  });
  reporter.start();
  await sleep(400);
  const n = progressCalls().filter((c) => (c.body as { jobId: string }).jobId === 'j2').length;
  await sleep(200);
  await reporter.stop();
  assert.equal(lost.length, 1);
  assert.ok(lost[0] instanceof LeaseLostError);
  assert.equal(progressCalls().filter((c) => (c.body as { jobId: string }).jobId === 'j2').length, n);
  assert.equal(n, 1);
});

test('a 409 whose reason is cancelled fires onCancelled, not onLeaseLost (a cancel between renewal and logs)', async () => {
  progressAnswer = () => ({
    status: 409,
    body: { code: 'lease_lost', detail: 'cancelled meanwhile', reason: 'cancelled' },
  });
  const transport = createHttpTransport({ url: standIn.url, apiKey: 'k'.repeat(20) });
  let cancelled = 0;
  const reporter = new JobReporter({
    transport,
    encoderId: 'e1',
    lease: { jobId: 'j-cancel', leaseToken: 't' },
    leaseExpiresAt: new Date().toISOString(),
    intervalMs: 50,
    onLeaseLost: () => assert.fail('a cancel is not a lost lease'),
    onCancelled: () => cancelled++,
  });
  reporter.start();
  await sleep(300);
  await reporter.stop();
  assert.equal(cancelled, 1);
});

test('a cancelled answer fires onCancelled; logs are bounded when the coordinator is slow', async () => {
  progressAnswer = () => ({
    status: 200,
    body: { cancelled: true, leaseExpiresAt: new Date().toISOString() },
  });
  const transport = createHttpTransport({ url: standIn.url, apiKey: 'k'.repeat(20) });
  let cancelled = 0;
  const reporter = new JobReporter({
    transport,
    encoderId: 'e1',
    lease: { jobId: 'j3', leaseToken: 't3' },
    leaseExpiresAt: new Date().toISOString(),
    intervalMs: 10_000,
    onLeaseLost: () => assert.fail('no lease loss'),
    onCancelled: () => cancelled++,
  });
  for (let k = 0; k < 1000; k++) reporter.log('x'.repeat(3000));
  reporter.start();
  await sleep(200);
  await reporter.stop();
  assert.equal(cancelled, 1);
  const call = progressCalls().find((c) => (c.body as { jobId: string }).jobId === 'j3')!;
  const logs = (call.body as { logs: string[] }).logs;
  assert.ok(logs.length <= 201);
  assert.match(logs[0]!, /800 log lines dropped/);
  assert.ok(logs.every((l) => l.length <= 2001));
  assert.equal(reporter.tail().length, 60);
});

test('confirmLease: resolves on an answered renewal, waits out an unreachable coordinator, aborts on a refused lease', async () => {
  const make = (url: string, jobId: string, leaseExpiresAt: string, lost: LeaseLostError[]) =>
    new JobReporter({
      transport: createHttpTransport({ url, apiKey: 'k'.repeat(20) }),
      encoderId: 'e1',
      lease: { jobId, leaseToken: 't' },
      leaseExpiresAt,
      intervalMs: 60_000,
      onLeaseLost: (e) => lost.push(e),
      onCancelled: () => assert.fail('no cancel'),
    });
  progressAnswer = () => ({
    status: 200,
    body: { cancelled: false, leaseExpiresAt: new Date(Date.now() + 30_000).toISOString() },
  });
  const ok: LeaseLostError[] = [];
  const calls = progressCalls().length;
  await make(standIn.url, 'j-fence-ok', new Date(Date.now() + 30_000).toISOString(), ok).confirmLease();
  assert.equal(ok.length, 0);
  assert.equal(progressCalls().length, calls + 1, 'one renewal, sent at once');

  progressAnswer = () => ({ status: 409, body: { code: 'lease_lost', detail: 'rescued' } });
  const refused: LeaseLostError[] = [];
  const r = make(standIn.url, 'j-fence-409', new Date(Date.now() + 30_000).toISOString(), refused);
  await assert.rejects(r.confirmLease(), LeaseLostError);
  assert.equal(refused.length, 1, 'the job is aborted as a lost lease');

  // Unreachable (a partition, a restart): it keeps asking until the coordinator answers.
  let refusals = 3;
  progressAnswer = () =>
    refusals-- > 0
      ? { status: 503, body: { code: 'unavailable' } }
      : {
          status: 200,
          body: { cancelled: false, leaseExpiresAt: new Date(Date.now() + 30_000).toISOString() },
        };
  const waited: LeaseLostError[] = [];
  const w = make(standIn.url, 'j-fence-wait', new Date(Date.now() - 1000).toISOString(), waited);
  await w.confirmLease({ retryMs: 20 });
  assert.equal(waited.length, 0, 'confirmed once the coordinator answered, though the old lease had run out');
  assert.ok(refusals < 0, 'it asked again after each failure');

  // The node stopping ends the wait.
  progressAnswer = () => ({ status: 503, body: { code: 'unavailable' } });
  const stop = new AbortController();
  const stopping = make(standIn.url, 'j-fence-stop', new Date().toISOString(), []).confirmLease({
    retryMs: 20,
    signal: stop.signal,
  });
  setTimeout(() => stop.abort(new Error('encoder stopping')), 100);
  await assert.rejects(stopping, /encoder stopping/);
});
