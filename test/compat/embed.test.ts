import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { threeSpeakSubmitInput } from '../../src/compat/threespeak/index.js';
import { LEADER_LOCK_KEY } from '../../src/jobs/maintenance.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import {
  type ServedGateway,
  serveGateway,
  type ThreeSpeakFixture,
  threeSpeakFixture,
  until,
} from './gateway-harness.js';
import { LegacyClient } from './legacy-client.js';
import { DirectApiStandIn, V2Client } from './v2-client.js';

let fx: ThreeSpeakFixture;
before(async () => {
  fx = await threeSpeakFixture();
});
after(async () => {
  await fx?.remove();
});

/** Whether some session holds the maintenance leader's advisory lock in this test database. */
async function holdsLeaderLock(tdb: TestDatabase): Promise<boolean> {
  const { rows } = await tdb.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND ((classid::bigint << 32) | objid::bigint) = $1`,
    [LEADER_LOCK_KEY],
  );
  return (rows[0]?.n ?? 0) > 0;
}

/** The gateway with the operator's seed (the fixture clip) and submit (`ipfs://CID`) bound. */
async function serve(env: Record<string, string> = {}): Promise<
  Omit<ServedGateway, 'seed' | 'submit'> & {
    seed(): Promise<string>;
    submit(permlink: string, cid: string): Promise<string>;
  }
> {
  const s = await serveGateway({ env, out: fx.out });
  return {
    ...s,
    seed: () => s.seed(fx.clip),
    submit: (permlink, cid) => s.submit(permlink, `ipfs://${cid}`),
  };
}

describe('3Speak v2 encoder, embed mode, against vidmesh serve', () => {
  it('polls myJob with the v2 shape, reports progress and completion by webhook with the per-job key, and the job completes once', async (t) => {
    const s = await serve();
    try {
      const cid = await s.seed();
      const started = Date.now();
      const id = await s.submit('embed-e2e', cid);
      const node = await V2Client.create(s.settings);
      const reg = await node.updateNode();
      assert.equal(reg.status, 200);
      assert.equal(reg.body.success, true, 'the v2 client reads success');
      assert.equal((await node.heartbeat()).status, 200);

      const job = await node.myJob();
      assert.ok(job, 'a job in the v2 shape');
      assert.equal(job.owner, 'erin');
      assert.equal(job.permlink, 'embed-e2e');
      assert.equal(job.input_cid, cid);
      assert.equal(job.short, false);
      assert.equal(job.premium, true, 'premium: the full 3Speak ladder, as the job asks');
      assert.ok(job.webhook_url.startsWith(`${s.server.url}/`));
      assert.equal(await node.myJob(), null, 'capacity 1: a held job is not handed again');
      const legacy = await LegacyClient.create(s.server.url);
      assert.equal(
        ((await legacy.myJob()).body as { job: unknown }).job,
        null,
        'not also given to a legacy node',
      );
      const running = await s.server.store.get(id);
      assert.equal(running.status, 'running');
      assert.equal(running.attempts, 1);

      assert.equal(await node.progress(job, 10, 'not-the-key'), 401, 'a wrong key is refused');
      assert.equal(await node.webhook(job, { status: 'complete', manifest_cid: cid }, 'not-the-key'), 401);
      const report = await node.run(job);
      assert.ok(report.sourceBytes > 0, 'the source came from IPFS_GATEWAY_URL (vidmesh /ipfs)');
      assert.equal(report.via, 'hotnode', "uploaded where TRAFFIC_DIRECTOR_URL (vidmesh's) pointed");
      assert.equal(report.webhookStatus, 200);
      const done = await s.server.store.get(id);
      assert.equal(done.status, 'completed');
      assert.equal(done.attempts, 1);
      const elapsed = Date.now() - started;
      t.diagnostic(`submit -> completed: ${elapsed} ms (stand-in encode)`);

      // The client retries a webhook on 5xx/network: the same result again is a success, another is refused.
      assert.equal(await node.webhook(job, { status: 'complete', manifest_cid: report.cid }), 200);
      assert.equal(await node.webhook(job, { status: 'complete', manifest_cid: cid }), 409);
      const view = await fetch(`${s.server.url}/api/v1/jobs/${id}`, {
        headers: { authorization: `Bearer ${s.server.apiKey}` },
      });
      const body = (await view.json()) as {
        job: { result: { ipfsCid: string }; metadata: Record<string, string> };
      };
      assert.equal(body.job.result.ipfsCid, report.cid);
      assert.equal(body.job.metadata.video_permlink, 'embed-e2e');
    } finally {
      await s.close();
    }
  });

  it('refuses a webhook CID that is not complete in the store, and a job whose source is not IPFS is never given to a v2 node', async () => {
    const s = await serve();
    try {
      await s.server.store.submit(
        threeSpeakSubmitInput({
          input: { uri: 'https://example.com/v.mp4', size: 1 },
          metadata: { video_owner: 'erin', video_permlink: 'http-src' },
        }),
      );
      const node = await V2Client.create(s.settings);
      assert.equal(await node.myJob(), null, 'an http source is for legacy nodes only');
      await s.server.store.submit(
        threeSpeakSubmitInput({
          input: { uri: 'ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG/inside/v.mp4', size: 1 },
          metadata: { video_owner: 'erin', video_permlink: 'cid-path' },
        }),
      );
      assert.equal(await node.myJob(), null, 'nor a path inside a CID (the client takes bare CIDs)');
      const id = await s.submit('missing-cid', await s.seed());
      const job = await node.myJob();
      assert.equal(job?.permlink, 'missing-cid');
      assert.equal(
        await node.webhook(job, {
          status: 'complete',
          manifest_cid: 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG',
        }),
        422,
      );
      assert.equal((await s.server.store.get(id)).status, 'running', 'still with the node');
      assert.equal(await node.webhook(job, { status: 'failed', error: 'ffmpeg exploded' }), 200);
      const failed = await s.server.store.get(id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.lastError?.message, 'ffmpeg exploded');
    } finally {
      await s.close();
    }
  });

  it('a killed v2 node loses its job when the 3Speak lease lapses; another node completes it and the first key is dead', async () => {
    // 4 s: short enough to wait out, long enough that the live node's own run (source fetch, kubo
    // add, webhook) outlasts no lease between its calls on a busy 2-core machine.
    const s = await serve({
      VIDMESH_3SPEAK_LEASE_MS: '4000',
      VIDMESH_MAINTENANCE_MS: '200',
      VIDMESH_RESCUE_GRACE_MS: '0',
    });
    try {
      const id = await s.submit('killed', await s.seed());
      const dead = await V2Client.create({ ...s.settings, name: 'dead' });
      const live = await V2Client.create({ ...s.settings, name: 'live' });
      const lost = await dead.myJob();
      assert.ok(lost);
      // `dead` is killed here: no progress, no webhook. `live` keeps polling.
      let job = null;
      for (let i = 0; i < 150 && !job; i++) {
        await new Promise((r) => setTimeout(r, 200));
        job = await live.myJob();
      }
      assert.ok(job, 'the rescued job goes to the live node');
      assert.notEqual(job.api_key, lost.api_key, 'a new lease, a new key');
      assert.equal(await dead.progress(lost, 90), 401, "the dead node's key no longer opens the job");
      const report = await live.run(job);
      assert.equal(report.webhookStatus, 200);
      const done = await s.server.store.get(id);
      assert.equal(done.status, 'completed');
      assert.equal(done.attempts, 2);
      assert.equal(done.encoderId, (await s.server.store.getEncoder(live.id)).id);
    } finally {
      await s.close();
    }
  });

  it('two racing v2 nodes never both hold a job, and each job completes once', async () => {
    const s = await serve();
    try {
      const cid = await s.seed();
      const ids = [await s.submit('race-1', cid), await s.submit('race-2', cid)];
      const a = await V2Client.create({ ...s.settings, name: 'a' });
      const b = await V2Client.create({ ...s.settings, name: 'b' });
      const polls = await Promise.all([a.myJob(), b.myJob(), a.myJob(), b.myJob()]);
      const got = polls.filter((j) => j !== null);
      assert.equal(got.length, 2, 'two jobs, one per node (capacity 1)');
      assert.notEqual(got[0]?.permlink, got[1]?.permlink);
      const [ja, jb] = [polls[0] ?? polls[2], polls[1] ?? polls[3]];
      assert.ok(ja && jb);
      // Each node tries to finish the other's job too: only the holder's key works.
      assert.equal(await a.webhook(jb, { status: 'complete', manifest_cid: cid }, ja.api_key), 401);
      const reports = await Promise.all([a.run(ja), b.run(jb)]);
      assert.deepEqual(
        reports.map((r) => r.webhookStatus),
        [200, 200],
      );
      for (const id of ids) assert.equal((await s.server.store.get(id)).status, 'completed');
    } finally {
      await s.close();
    }
  });
});

describe('embed and legacy clients told apart by protocol shape, the User-Agent only a hint', () => {
  it('an embed client whose User-Agent a proxy rewrote registers without peer_id, gets the v2 job shape and completes by webhook', async () => {
    const s = await serve();
    try {
      const cid = await s.seed();
      const id = await s.submit('proxied', cid);
      const node = await V2Client.create({ ...s.settings, userAgent: 'Mozilla/5.0 (via corporate-proxy)' });
      assert.equal((await node.updateNode()).status, 200);
      const job = await node.myJob();
      assert.ok(job, 'the v2 job shape (owner, permlink, input_cid, webhook_url, api_key, short)');
      assert.equal(job.input_cid, cid);
      assert.equal(job.permlink, 'proxied');
      const report = await node.run(job);
      assert.equal(report.webhookStatus, 200);
      const done = await s.server.store.get(id);
      assert.equal(done.status, 'completed');
      assert.equal(done.attempts, 1);
    } finally {
      await s.close();
    }
  });

  it("a legacy client with the embed client's User-Agent registers with peer_id, gets the legacy job view and finishes with acceptJob/finishJob", async () => {
    const s = await serve();
    try {
      const id = await s.submit('odd-ua', await s.seed());
      const node = await LegacyClient.create(s.server.url);
      node.userAgent = '3Speak-Encoder/9.9.9 (patched fork)';
      assert.equal((await node.updateNode('odd-ua-node')).status, 200);
      const view = (await node.myJob()).body as { job: { id: string; input: { uri: string } } | null };
      assert.equal(view.job?.id, id, 'the legacy job view, with the vidmesh job id');
      assert.equal((await node.acceptJob(id)).status, 200);
      assert.equal((await node.pingJob(id, 50, 100)).status, 200);
      const { cid } = await node.addDirectory(fx.out);
      assert.equal((await node.finishJob(id, cid)).status, 200);
      assert.equal((await s.server.store.get(id)).status, 'completed');
    } finally {
      await s.close();
    }
  });

  it('a node that never registered is told by its calls: after a legacy-only acceptJob its myJob gets the legacy view despite an embed User-Agent', async () => {
    const s = await serve();
    try {
      const cid = await s.seed();
      const first = await s.submit('unregistered-1', cid);
      const node = await LegacyClient.create(s.server.url);
      node.userAgent = '3Speak-Encoder/9.9.9';
      // The getJob flow (old gateways): no updateNode, the job named by acceptJob.
      assert.equal(((await node.get('/api/v0/gateway/getJob')).body as { id: string }).id, first);
      assert.equal((await node.acceptJob(first)).status, 200);
      const enc = await s.server.store.getEncoder(node.id);
      assert.ok(
        enc.capabilities.tags?.includes('3speak-client:legacy'),
        'acceptJob recorded the legacy client',
      );
      const { cid: out } = await node.addDirectory(fx.out);
      assert.equal((await node.finishJob(first, out)).status, 200);
      const second = await s.submit('unregistered-2', cid);
      const view = (await node.myJob()).body as { job: { id: string } | null };
      assert.equal(view.job?.id, second, 'the legacy job view, not the v2 shape the User-Agent hints at');
    } finally {
      await s.close();
    }
  });
});

const MANAGED_KEY = 'direct-api-key-0123456789';

describe('3Speak v2 encoder, managed mode (Direct API), against vidmesh serve', () => {
  it('pushes POST /encode to registered encoders, one job each; webhooks complete each job once', async () => {
    const settings = { gatewayUrl: '', ipfsGatewayUrl: '', ipfsApiUrl: '', outputDir: '' };
    const nodes = await Promise.all([V2Client.create(settings), V2Client.create(settings)]);
    const apis = await Promise.all(nodes.map((n) => DirectApiStandIn.start(n, MANAGED_KEY)));
    const s = await serve({
      VIDMESH_3SPEAK_MANAGED_ENCODERS: apis.map((a) => a.url).join(','),
      VIDMESH_3SPEAK_MANAGED_KEY: MANAGED_KEY,
    });
    for (const n of nodes) Object.assign(n.settings, s.settings);
    try {
      const cid = await s.seed();
      const ids = [await s.submit('managed-1', cid), await s.submit('managed-2', cid)];
      await until('both jobs completed', async () => {
        const jobs = await Promise.all(ids.map((id) => s.server.store.get(id)));
        return jobs.every((j) => j.status === 'completed');
      });
      assert.deepEqual(
        apis.map((a) => a.received.length),
        [1, 1],
        'one push per encoder (capacity 1)',
      );
      const pushed = apis.map((a) => a.received[0]);
      assert.deepEqual(new Set(pushed.map((j) => j?.permlink)), new Set(['managed-1', 'managed-2']));
      for (const j of pushed) {
        assert.equal(j?.input_cid, cid);
        assert.equal(j?.premium, true);
        assert.ok(j?.webhook_url.startsWith(`${s.server.url}/`));
      }
      for (const id of ids) assert.equal((await s.server.store.get(id)).attempts, 1);
      const reports = await Promise.all(apis.flatMap((a) => a.reports));
      assert.deepEqual(
        reports.map((r) => r?.webhookStatus),
        [200, 200],
      );
    } finally {
      await s.close();
      for (const a of apis) await a.kill();
    }
  });

  it('re-dispatches elsewhere when a push is not acknowledged, and when an encoder dies after acknowledging', async () => {
    const settings = { gatewayUrl: '', ipfsGatewayUrl: '', ipfsApiUrl: '', outputDir: '' };
    const [deadNode, dyingNode, liveNode] = await Promise.all([
      V2Client.create(settings),
      V2Client.create(settings),
      V2Client.create(settings),
    ]);
    const dead = await DirectApiStandIn.start(deadNode, MANAGED_KEY);
    await dead.kill(); // refuses connections from the start
    // Acknowledges the push, then is killed before it reports anything.
    const dying = await DirectApiStandIn.start(dyingNode, MANAGED_KEY, { delayMs: 60_000 });
    // Busy until the job has moved: then it takes pushes.
    const live = await DirectApiStandIn.start(liveNode, MANAGED_KEY);
    const s = await serve({
      VIDMESH_3SPEAK_MANAGED_ENCODERS: [dead.url, dying.url, live.url].join(','),
      VIDMESH_3SPEAK_MANAGED_KEY: MANAGED_KEY,
      VIDMESH_3SPEAK_LEASE_MS: '3000',
      VIDMESH_MAINTENANCE_MS: '200',
      VIDMESH_RESCUE_GRACE_MS: '0',
    });
    try {
      Object.assign(liveNode.settings, s.settings);
      const id = await s.submit('failover', await s.seed());
      await until('a push acknowledged', async () => (await s.server.store.get(id)).status === 'running');
      const first = await s.server.store.get(id);
      assert.equal(first.status, 'running', 'acknowledged push: running under the 3Speak lease');
      assert.equal(first.attempts, 1, 'the refused push to the dead encoder counted no attempt');
      const events = await s.server.store.listEvents(id);
      assert.ok(
        events.some((e) => e.reason === 'released'),
        'the unacknowledged push handed the job back',
      );
      // Rounds go through the encoders in their configured order: dead refuses, dying acknowledges.
      assert.equal(dying.received.length, 1, 'the next encoder in the round took it');
      await dying.kill();
      await until(
        'the job completed elsewhere',
        async () => (await s.server.store.get(id)).status === 'completed',
      );
      const done = await s.server.store.get(id);
      assert.equal(
        done.attempts,
        2,
        "the killed encoder's acknowledged attempt counts, the refused push does not",
      );
      assert.equal(live.received.length, 1);
      const by = await s.server.store.getEncoder(done.encoderId ?? '');
      assert.equal(by.name, `3speak-direct ${new URL(live.url).host}`, 'completed by the live encoder');
    } finally {
      await s.close();
      await dying.kill().catch(() => undefined);
      await live.kill();
    }
  });
  it('with two coordinators on one database only the maintenance leader pushes; the other pushes once it leads', async () => {
    const tdb = await createTestDatabase();
    const holder = await V2Client.create({
      gatewayUrl: '',
      ipfsGatewayUrl: '',
      ipfsApiUrl: '',
      outputDir: '',
    });
    // Acknowledges each push and keeps the job (never reports): every push it gets stays visible.
    const api = await DirectApiStandIn.start(holder, MANAGED_KEY, { delayMs: 600_000 });
    const fast = { VIDMESH_MAINTENANCE_MS: '200', VIDMESH_RESCUE_GRACE_MS: '0' };
    // A leads maintenance and lists no managed encoder; B lists the encoder but does not lead.
    const a = await serveGateway({ db: tdb, env: fast });
    let b: ServedGateway | undefined;
    try {
      await until('A leads maintenance', () => holdsLeaderLock(tdb));
      b = await serveGateway({
        db: tdb,
        env: { ...fast, VIDMESH_3SPEAK_MANAGED_ENCODERS: api.url, VIDMESH_3SPEAK_MANAGED_KEY: MANAGED_KEY },
      });
      const id = await b.submit('ha', 'ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG');
      const host = new URL(api.url).host;
      // B's dispatch loop has run once it registered the encoder; then it has several more rounds.
      await until('B registered the managed encoder', async () =>
        (await b!.server.store.listEncoders()).some((e) => e.name === `3speak-direct ${host}`),
      );
      await new Promise((r) => setTimeout(r, 3_000));
      assert.equal(api.received.length, 0, 'B, not the leader, pushed nothing');
      assert.equal((await b.server.store.get(id)).status, 'queued');

      await a.close();
      const pushed = await until('B, now the leader, pushed the job', async () => api.received[0]);
      assert.equal(pushed.permlink, 'ha');
      assert.ok(pushed.webhook_url.startsWith(`${b.server.url}/`), 'pushed by B');
      // The stand-in records the push before B reads its acknowledgement and marks the job running.
      await until(
        'the acknowledged push is running',
        async () => (await b!.server.store.get(id)).status === 'running',
      );
      const job = await b.server.store.get(id);
      assert.equal(job.attempts, 1);
      assert.equal(api.received.length, 1, 'pushed once');
    } finally {
      await a.close().catch(() => undefined);
      await b?.close();
      await api.kill();
      await tdb.drop();
    }
  });
});
