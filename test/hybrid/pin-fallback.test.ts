import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';
import { type Hand, pairAgent, registerHand } from '../helpers/agent.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';
import { until } from '../helpers/processes.js';

/**
 * The end of an "Encode here" pin (`pinEncoder`, issue 16 round 3): a job pinned to a tab is held for
 * it only for `VIDMESH_PIN_GRACE_S`, or until the tab fails it or its result fails verification; then
 * it follows its owner's routing (planned from the pin's end), or, with `fallback: 'fail'`, it is
 * dead-lettered with `pin_ended`. Encoders are driven by hand over the signed HTTP transport.
 */

const TAB_CAPS = { maxHeight: 480, maxDurationS: 120 };

interface Setup {
  tmp: string;
  server: RunningCoordinator;
  acmeKey: string;
  acme: VidmeshClient;
  uploadId: string;
}

async function setup(name: string, pinGraceS: number): Promise<Setup> {
  const tmp = await mkdtemp(join(tmpdir(), `vidmesh-${name}-`));
  const server = await startTestCoordinator(
    join(tmp, 'coordinator'),
    {},
    {
      VIDMESH_PIN_GRACE_S: String(pinGraceS),
      // Long enough that only the pin's end, never the passing of a window, can explain a claim.
      VIDMESH_AGENT_GRACE_S: '600',
      VIDMESH_MAINTENANCE_MS: '300',
      // Sweeps run from the start (no rescue grace after start-up).
      VIDMESH_RESCUE_GRACE_MS: '0',
    },
  );
  const acmeKey = await createTenantKey(server, 'acme');
  const acme = createClient({ url: server.url, apiKey: acmeKey });
  const uploadId = (await acme.upload(await makeClip(join(tmp, 'clip.mp4'), { seconds: 3 }))).upload.id;
  return { tmp, server, acmeKey, acme, uploadId };
}

async function teardown(s: Setup | undefined): Promise<void> {
  await s?.server.stop({ graceMs: 1000 });
  if (s) await rm(s.tmp, { recursive: true, force: true });
}

/** Submits what the Submit page's "Encode here" sends, for `user`, pinned to `tab`. */
async function submitPinned(
  s: Setup,
  tab: Identity,
  user: string,
  fallback?: 'route' | 'fail',
): Promise<{ id: string }> {
  const res = await fetch(`${s.server.url}/api/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.acmeKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      source: { type: 'upload', id: s.uploadId },
      ladder: { only: ['480p'], format: 'fmp4' },
      network: 'community',
      user,
      pinEncoder: { did: tab.did, ...(fallback ? { fallback } : {}) },
    }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  return ((await res.json()) as { job: { id: string } }).job;
}

const claim = (h: Hand) => h.transport.claim(h.id, 0);
const tabHand = (s: Setup, tab: Identity) =>
  registerHand(s.server.url, 'tab', 'browser', { identity: tab }, TAB_CAPS);

describe('a pin that ends early: the pinned tab fails the job or its result', () => {
  let s: Setup;
  let aliceAgent: Hand;
  let operator: Hand;

  before(async () => {
    s = await setup('pin-fail', 600);
    const agentIdentity = generateIdentity();
    assert.equal((await pairAgent(s.server.url, s.acmeKey, agentIdentity, 'alice')).status, 201);
    aliceAgent = await registerHand(s.server.url, 'alice-agent', 'desktop', { identity: agentIdentity });
    operator = await registerHand(s.server.url, 'operator', 'infrastructure', { apiKey: s.server.apiKey });
  });

  after(() => teardown(s));

  test("the tab fails its pinned job: the pin ends at once, alice's own agent gets the job, not the operator nor the tab again", async () => {
    const tab = generateIdentity();
    const job = await submitPinned(s, tab, 'alice');
    const routed = (await s.acme.jobHistory(job.id)).find((e) => e.reason === 'routed');
    assert.deepEqual(
      routed?.routing?.steps?.map((x) => x.step),
      ['pin', 'agent', 'browser', 'open'],
      JSON.stringify(routed),
    );
    assert.equal(await claim(aliceAgent), null, 'her agent waits while the pin holds');
    const hand = await tabHand(s, tab);
    const got = await claim(hand);
    assert.equal(got?.id, job.id);
    assert.equal(
      (await s.acme.jobHistory(job.id)).find((e) => e.reason === 'claimed')?.routing?.route,
      'pin',
    );
    await hand.transport.fail(
      hand.id,
      { jobId: got.id, leaseToken: got.leaseToken },
      { error: { code: 'encode_failed', message: 'VideoEncoder error' }, retryable: true },
    );
    const events = await s.acme.jobHistory(job.id);
    const retry = events.find((e) => e.reason === 'retry_scheduled');
    assert.equal(retry?.routing?.rerouted?.step, 'pin', JSON.stringify(retry));
    assert.equal(retry?.routing?.rerouted?.why, 'failed');
    assert.equal(retry?.routing?.rerouted?.encoderId, hand.id);

    // After the backoff: her agent (whose 600 s window now starts) claims it; nobody else may.
    const taken = await until('alice agent claims the unpinned job', 60_000, async () => {
      assert.equal(await claim(operator), null, 'the operator claimed during her agent window');
      assert.equal(await claim(hand), null, 'the tab that failed the job got it again');
      return claim(aliceAgent);
    });
    assert.equal(taken?.id, job.id);
    const claims = (await s.acme.jobHistory(job.id)).filter((e) => e.reason === 'claimed');
    assert.deepEqual(
      claims.map((e) => e.routing?.route),
      ['pin', 'agent'],
    );
    await s.acme.cancelJob(job.id);
  });

  test('the pinned tab result fails verification (released, excluded): a job of a user without own encoders goes to the operator at once', async () => {
    const tab = generateIdentity();
    const job = await submitPinned(s, tab, 'carol');
    assert.equal(await claim(operator), null, 'the operator waits while the pin holds');
    const hand = await tabHand(s, tab);
    const got = await claim(hand);
    assert.equal(got?.id, job.id);
    // What staged-results does when verification fails (src/coordinator/staged-results.ts).
    await s.server.store.release(job.id, got.leaseToken, hand.id, 'verification failed: ssim', {
      excludeEncoder: true,
    });
    const released = (await s.acme.jobHistory(job.id)).find((e) => e.reason === 'released');
    assert.equal(released?.routing?.rerouted?.step, 'pin', JSON.stringify(released));
    assert.equal(released?.routing?.rerouted?.why, 'failed');
    assert.equal(await claim(hand), null, 'the tab never gets the job again');
    const taken = await claim(operator);
    assert.equal(taken?.id, job.id, 'open at once, not after the 600 s pin window');
    await s.acme.cancelJob(job.id);
  });

  test("with fallback 'fail', the tab failing its pinned job dead-letters it at once", async () => {
    const tab = generateIdentity();
    const job = await submitPinned(s, tab, 'carol', 'fail');
    const routed = (await s.acme.jobHistory(job.id)).find((e) => e.reason === 'routed');
    assert.deepEqual(
      routed?.routing?.steps?.map((x) => x.step),
      ['pin'],
    );
    const hand = await tabHand(s, tab);
    const got = await claim(hand);
    assert.equal(got?.id, job.id);
    await hand.transport.fail(
      hand.id,
      { jobId: got.id, leaseToken: got.leaseToken },
      { error: { code: 'encode_failed', message: 'VideoEncoder error' }, retryable: true },
    );
    const dead = await s.acme.getJob(job.id);
    assert.equal(dead.status, 'dead');
    assert.equal(dead.error?.code, 'encode_failed');
    assert.equal(await claim(operator), null);
  });
});

describe('a pin whose tab never comes back', () => {
  let s: Setup;
  let operator: Hand;

  before(async () => {
    s = await setup('pin-expiry', 3);
    operator = await registerHand(s.server.url, 'operator', 'infrastructure', { apiKey: s.server.apiKey });
  });

  after(() => teardown(s));

  test('after VIDMESH_PIN_GRACE_S the pin ends (rerouted, why expired) and the operator claims the job, never before', async () => {
    const job = await submitPinned(s, generateIdentity(), 'carol');
    const routed = (await s.acme.jobHistory(job.id)).find((e) => e.reason === 'routed');
    const pinUntil = Date.parse(String(routed?.routing?.steps?.[0]?.until));
    assert.ok(Number.isFinite(pinUntil), JSON.stringify(routed));
    // A claim that started before the pin's end must have come back empty.
    const startedAt = Date.now();
    const early = await claim(operator);
    if (early) assert.ok(startedAt >= pinUntil, 'the operator got the job while it was pinned');
    else {
      const ended = await until('the pin is recorded as ended', 60_000, async () =>
        (await s.acme.jobHistory(job.id)).find((e) => e.reason === 'rerouted'),
      );
      assert.equal(ended.actor, 'router');
      assert.equal(ended.routing?.rerouted?.step, 'pin');
      assert.equal(ended.routing?.rerouted?.why, 'expired');
      const taken = await until('the operator claims the job', 30_000, () => claim(operator));
      assert.equal(taken?.id, job.id);
    }
    const claimed = (await s.acme.jobHistory(job.id)).find((e) => e.reason === 'claimed');
    assert.equal(claimed?.routing?.route, 'open');
    await s.acme.cancelJob(job.id);
  });

  test("with fallback 'fail', the pin's end dead-letters the job with error pin_ended", async () => {
    const job = await submitPinned(s, generateIdentity(), 'carol', 'fail');
    const dead = await until('the job is dead', 60_000, async () => {
      const j = await s.acme.getJob(job.id);
      return j.status === 'dead' ? j : undefined;
    });
    assert.equal(dead.error?.code, 'pin_ended');
    assert.match(dead.error?.message ?? '', /pinned to did not take it/);
    const last = (await s.acme.jobHistory(job.id)).at(-1);
    assert.equal(last?.reason, 'dead_letter');
    assert.equal(last?.actor, 'router');
    assert.equal(await claim(operator), null);
  });
});
