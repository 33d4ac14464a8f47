import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createJobStore, type EncoderCapabilities, type EncoderRef } from '../../src/jobs/index.js';
import { withTestDatabase } from '../helpers/db.js';

/**
 * Routing keeps claims exactly once (issue 16): 40 jobs of user alice routed to her desktop agent for
 * 1.5 s race between her agent and three operator claimers on PostgreSQL. Every job is leased exactly
 * once; no operator lease happens before the job's open time, and every claim event names its step.
 */
const t = withTestDatabase();

test('40 routed jobs, her agent and 3 operator claimers racing: each leased once, operators only after the window', async () => {
  const store = createJobStore(t.current.db, {
    pollIntervalMs: 100,
    routing: { agentWindowMs: 1500, browserWindowMs: 5000 },
  });
  const caps: EncoderCapabilities = {
    codecs: ['h264', 'aac'],
    hwaccel: [],
    maxHeight: 2160,
    concurrency: 1,
    tags: [],
  };
  const agent = await store.registerEncoder({
    did: 'did:key:z6MkAgentOfAliceForTheRoutingRaceTest0000000001',
    name: 'alice-agent',
    kind: 'desktop',
    capabilities: caps,
    user: { tenant: 'acme', name: 'alice' },
  });
  const jobs = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      store.submit({ spec: { n: i }, renditions: ['480p'], tenant: 'acme', owner: 'alice' }),
    ),
  );
  const leases = new Map<string, string[]>();
  const claimer = async (ref: EncoderRef, until: number) => {
    while (Date.now() < until) {
      const claim = await store.claim(ref, caps, { waitMs: 200 });
      if (!claim) continue;
      leases.set(claim.job.id, [...(leases.get(claim.job.id) ?? []), ref.id]);
      // Slower than the operators on purpose: some jobs must be left for them after the window.
      if (ref.id === agent.id) await new Promise((r) => setTimeout(r, 150));
    }
  };
  const until = Date.now() + 4000;
  await Promise.all([
    claimer({ id: agent.id, kind: 'desktop', scope: { kind: 'user', tenant: 'acme', user: 'alice' } }, until),
    ...[1, 2, 3].map((n) => claimer({ id: `operator-${n}`, kind: 'infrastructure' }, until)),
  ]);

  assert.equal(leases.size, 40, 'every job was leased');
  for (const [id, by] of leases) assert.equal(by.length, 1, `job ${id} leased by ${by.join(', ')}`);
  const byOperators = [...leases.values()].filter((by) => by[0] !== agent.id).length;
  assert.ok(byOperators > 0 && byOperators < 40, `operators took ${byOperators} of 40`);

  for (const job of jobs) {
    const events = await store.listEvents(job.id);
    const plan = events.find((e) => e.reason === 'routed')?.details as {
      steps: Array<{ step: string; until?: string }>;
    };
    assert.deepEqual(
      plan.steps.map((s) => s.step),
      ['agent', 'browser', 'open'],
    );
    const claimed = events.find((e) => e.reason === 'claimed');
    assert.ok(claimed);
    const route = (claimed.details as { route?: string }).route;
    if (claimed.actor === agent.id) assert.equal(route, 'agent');
    else {
      assert.equal(route, 'open');
      const openAt = Date.parse(plan.steps[0]!.until!);
      assert.ok(claimed.at.getTime() >= openAt, `${job.id} leased by an operator before its window ended`);
    }
  }
  await store.close();
});
