import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type GatewayJob, threeSpeakSubmitInput } from '../../src/compat/threespeak/index.js';
import type { JobStore } from '../../src/jobs/index.js';
import { packageRoot } from '../../src/paths.js';
import { addDirectory } from '../../src/storage/index.js';
import {
  type GatewayPlugin,
  serveGateway,
  startGatewayPlugin,
  type ThreeSpeakFixture,
  threeSpeakFixture,
} from './gateway-harness.js';
import { LegacyClient } from './legacy-client.js';

const run = promisify(execFile);

function submit(store: JobStore, permlink: string) {
  return store.submit(
    threeSpeakSubmitInput({
      input: { uri: 'ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG', size: 1234 },
      metadata: { video_owner: 'alice', video_permlink: permlink },
      storageMetadata: { app: '3speak', key: `alice/${permlink}`, type: 'legacy' },
    }),
  );
}

const jobOf = (r: { body: unknown }) => (r.body as { job: GatewayJob | null }).job;

/** An HTTP source that sends `chunks` KiB, one every `everyMs`: a download slower than a vidmesh lease. */
async function tricklingSource(
  chunks: number,
  everyMs: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(chunks * 1024) });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(Buffer.alloc(1024, sent));
      sent += 1;
      if (sent === chunks) {
        clearInterval(timer);
        res.end();
      }
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/slow.mp4`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let fx: ThreeSpeakFixture;
let out: string;
before(async () => {
  fx = await threeSpeakFixture();
  out = fx.out;
});
after(async () => {
  await fx?.remove();
});

describe('vidmesh coordinator as a 3Speak gateway', () => {
  let gw: GatewayPlugin;
  before(async () => {
    gw = await startGatewayPlugin();
  });
  after(async () => {
    await gw?.close();
  });

  it('runs a job end to end with a legacy client: myJob, acceptJob, pingJob, kubo add, finishJob', async () => {
    const submitted = await submit(gw.store, 'e2e');
    const node = await LegacyClient.create(gw.url);
    assert.equal((await node.get('/api/v0/gateway/stats')).status, 200);
    assert.equal((await node.updateNode('legacy-1')).status, 200);

    await assert.rejects(node.addDirectory(out), /403/, 'no uploads from an address no job holder used');
    const mine = await node.myJob();
    assert.equal(mine.status, 200);
    const job = jobOf(mine);
    assert.ok(job, 'a job is assigned');
    assert.equal(job.id, submitted.id);
    assert.equal(job.type, 'gateway');
    assert.equal(job.status, 'assigned');
    assert.equal(job.assigned_to, node.id);
    assert.deepEqual(job.metadata, { video_owner: 'alice', video_permlink: 'e2e' });
    assert.equal(job.input.uri, 'ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG');
    assert.deepEqual(
      job.profiles.map((p) => p.name),
      ['1080p', '720p', '480p'],
    );

    assert.equal((await node.acceptJob(job.id)).status, 200);
    assert.equal((await node.acceptJob(job.id)).status, 200, 'accept is idempotent for the holder');
    assert.equal((await node.pingJob(job.id, 42, 100)).status, 200);
    const status = await node.get(`/api/v0/gateway/jobstatus/${job.id}`);
    assert.equal((status.body as GatewayJob).status, 'running');
    assert.equal((status.body as GatewayJob).progress, 42);

    // A document type never enters the store that /ipfs serves from the coordinator's origin.
    const html = await mkdtemp(join(tmpdir(), 'vidmesh-html-'));
    await writeFile(join(html, 'evil.html'), '<script>alert(1)</script>');
    await assert.rejects(node.addDirectory(html), /415/, 'an HTML file is refused at add');
    await rm(html, { recursive: true, force: true });
    const added = await node.addDirectory(out);
    const expected = await addDirectory(out, { put: async (c) => c });
    const fileLines = added.lines.filter((l) => expected.files.has(l.Name)).map((l) => [l.Name, l.Hash]);
    assert.deepEqual(fileLines.sort(), [...expected.files].sort(), 'every file has the CID kubo computes');
    assert.equal(added.cid, expected.cid.toString(), 'kubo add gives the CID kubo would compute');
    assert.ok(added.lines.some((l) => l.Name === '480p/480p_0.ts'));
    const pinned = await fetch(`${gw.url}/api/v0/pin/ls?arg=${added.cid}`, { method: 'POST' });
    assert.equal(pinned.status, 200);

    const other = await LegacyClient.create(gw.url);
    assert.equal((await other.finishJob(job.id, added.cid)).status, 409, 'a non-holder cannot finish');
    const fin = await node.finishJob(job.id, added.cid);
    assert.equal(fin.status, 200);
    assert.equal((fin.body as { status: string }).status, 'success');
    const again = await node.finishJob(job.id, added.cid);
    assert.equal((again.body as { status: string }).status, 'success', 'duplicate finish by the holder');
    assert.equal((await other.finishJob(job.id, added.cid)).status, 409);

    const stored = await gw.store.get(job.id);
    assert.equal(stored.status, 'completed');
    assert.equal((stored.result as { cid: string }).cid, added.cid);
    const monitor = await node.get(`/api/jobs/${job.id}`);
    const data = (monitor.body as { success: boolean; data: Record<string, unknown> }).data;
    assert.equal((monitor.body as { success: boolean }).success, true);
    assert.equal(data.status, 'complete');
    assert.deepEqual(data.result, { cid: added.cid });
    assert.equal(data.assigned_to, node.id);

    const manifestUrl = `${gw.url}/ipfs/${added.cid}/manifest.m3u8`;
    const manifest = await fetch(manifestUrl);
    assert.equal(manifest.status, 200);
    assert.match(await manifest.text(), /480p\/index\.m3u8/);
    // It plays: ffprobe follows the master, the media playlist and the segments over HTTP.
    const { stdout } = await run('ffprobe', [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_type,height',
      '-of',
      'json',
      manifestUrl,
    ]);
    const streams = (JSON.parse(stdout) as { streams: Array<{ codec_type: string; height?: number }> })
      .streams;
    assert.ok(streams.some((s) => s.codec_type === 'video' && s.height === 480));
    assert.ok(streams.some((s) => s.codec_type === 'audio'));
  });

  it('refuses a finishJob whose CID is not in the store, and unsigned or forged bodies', async () => {
    const submitted = await submit(gw.store, 'bad-cid');
    const node = await LegacyClient.create(gw.url);
    const job = jobOf(await node.myJob());
    assert.equal(job?.id, submitted.id);
    const missing = await node.finishJob(submitted.id, 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG');
    assert.equal(missing.status, 422);
    assert.equal((missing.body as { code: string }).code, 'result_not_stored');

    const res = await fetch(`${gw.url}/api/v0/gateway/acceptJob`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ job_id: submitted.id }),
    });
    assert.equal(res.status, 400);
    const jws = await node.did.createJWS({ job_id: submitted.id });
    const forged = { ...jws, payload: Buffer.from(JSON.stringify({ job_id: 'x' })).toString('base64url') };
    const res2 = await fetch(`${gw.url}/api/v0/gateway/acceptJob`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jws: forged }),
    });
    assert.equal(res2.status, 401);
    await gw.store.cancel(submitted.id);
  });

  it('kubo RPC takes any body type, as axios sends argument-less calls; repo/stat, version and swarm/peers answer kubo shapes', async () => {
    const call = (path: string, headers: Record<string, string>, body?: string) =>
      fetch(`${gw.url}/api/v0/${path}`, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
    const bodies: Array<[Record<string, string>, string | undefined]> = [
      [{ 'content-type': 'application/x-www-form-urlencoded' }, ''],
      [{ 'content-type': 'application/json' }, ''],
      [{ 'content-type': 'text/plain' }, 'ignored'],
      [{}, undefined],
    ];
    for (const path of ['id', 'version', 'repo/stat', 'swarm/peers', 'pin/ls']) {
      for (const [headers, body] of bodies) {
        const res = await call(path, headers, body);
        assert.equal(res.status, 200, `${path} with ${JSON.stringify(headers)}: ${await res.clone().text()}`);
        assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      }
    }
    const stat = (await (
      await call('repo/stat', { 'content-type': 'application/x-www-form-urlencoded' }, '')
    ).json()) as Record<string, unknown>;
    for (const k of ['RepoSize', 'StorageMax', 'NumObjects']) assert.equal(typeof stat[k], 'number', k);
    assert.match(String(stat.Version), /^fs-repo@\d+$/);
    const version = (await (await call('version', {})).json()) as Record<string, unknown>;
    assert.equal(typeof version.Version, 'string');
    assert.deepEqual((await (await call('swarm/peers', {})).json()) as unknown, { Peers: [] });
    // A client's mistake is a 4xx in kubo's error shape, not a 500.
    const bad = await call(
      'pin/ls?arg=not-a-cid',
      { 'content-type': 'application/x-www-form-urlencoded' },
      '',
    );
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { Type?: string }).Type, 'error');
    const add = await call('add', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=b');
    assert.ok(add.status >= 400 && add.status < 500, `add without a multipart body: ${add.status}`);
    assert.equal(((await add.json()) as { Type?: string }).Type, 'error');
  });
});

describe('3Speak gateway leasing', () => {
  it('two racing legacy clients never both hold a job; fairness; 409 for the non-holder', async () => {
    const gw = await startGatewayPlugin({ capacity: 1 });
    try {
      const a = await LegacyClient.create(gw.url);
      const b = await LegacyClient.create(gw.url);
      // Both poll while nothing is queued, so both count as waiting nodes.
      assert.equal(jobOf(await a.myJob()), null);
      assert.equal(jobOf(await b.myJob()), null);
      const j1 = await submit(gw.store, 'r1');
      const j2 = await submit(gw.store, 'r2');
      await submit(gw.store, 'r3');
      const polls = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).myJob()));
      const byA = new Set(
        polls
          .filter((_, i) => i % 2)
          .map((r) => jobOf(r)?.id)
          .filter(Boolean),
      );
      const byB = new Set(
        polls
          .filter((_, i) => i % 2 === 0)
          .map((r) => jobOf(r)?.id)
          .filter(Boolean),
      );
      assert.equal(byA.size, 1, 'capacity 1: one job for A');
      assert.equal(byB.size, 1, 'capacity 1: one job for B');
      const [ja] = [...byA] as string[];
      const [jb] = [...byB] as string[];
      assert.notEqual(ja, jb);
      assert.deepEqual(new Set([ja, jb]), new Set([j1.id, j2.id]), 'oldest first');
      assert.equal((await a.acceptJob(ja!)).status, 200);
      const stolen = await a.acceptJob(jb!);
      assert.equal(stolen.status, 409, 'a clean 409, not a 500');
      assert.equal((await a.pingJob(jb!, 10, 100)).status, 409);
      const jobs = await Promise.all([gw.store.get(ja!), gw.store.get(jb!)]);
      assert.notEqual(jobs[0].lease?.encoderId, jobs[1].lease?.encoderId);
    } finally {
      await gw.close();
    }
  });

  it('gives the next job to the waiting node first (round-robin across live nodes)', async () => {
    const gw = await startGatewayPlugin({ capacity: 2 });
    try {
      const a = await LegacyClient.create(gw.url);
      const b = await LegacyClient.create(gw.url);
      assert.equal(jobOf(await b.myJob()), null);
      await submit(gw.store, 'f1');
      await submit(gw.store, 'f2');
      const first = jobOf(await a.myJob());
      assert.ok(first);
      assert.equal((await a.acceptJob(first.id)).status, 200);
      assert.equal(jobOf(await a.myJob()), null, 'B polled recently and holds fewer: B goes first');
      assert.ok(jobOf(await b.myJob()));
    } finally {
      await gw.close();
    }
  });

  it("rescues a client's job after it accepted and then fell silent past the 3Speak lease, counting the attempt", async () => {
    const gw = await startGatewayPlugin({ leaseMs: 300 });
    try {
      const silent = await LegacyClient.create(gw.url);
      const alive = await LegacyClient.create(gw.url);
      const job = await submit(gw.store, 'rescue');
      assert.equal(jobOf(await silent.myJob())?.id, job.id);
      assert.equal((await silent.acceptJob(job.id)).status, 200);
      await new Promise((r) => setTimeout(r, 450));
      const rescued = await gw.store.rescueExpired();
      assert.deepEqual(
        rescued.map((r) => r.id),
        [job.id],
      );
      const taken = jobOf(await alive.myJob());
      assert.equal(taken?.id, job.id, 'the rescued job goes to a live node');
      assert.equal(taken?.assigned_to, alive.id);
      assert.equal((await silent.pingJob(job.id, 50, 100)).status, 409, 'the silent node lost it');
      assert.equal((await silent.acceptJob(job.id)).status, 409);
      assert.equal((await alive.acceptJob(job.id)).status, 200);
      assert.equal((await gw.store.get(job.id)).attempts, 2, 'the abandoned attempt counts');
    } finally {
      await gw.close();
    }
  });

  it('an unacknowledged myJob hand-out expires after the short ack lease, counts no attempt, and goes to another polling node first', async () => {
    const gw = await startGatewayPlugin({ ackTimeoutMs: 300, leaseMs: 60_000 });
    try {
      const mute = await LegacyClient.create(gw.url);
      const other = await LegacyClient.create(gw.url);
      assert.equal(jobOf(await other.myJob()), null, 'the other node polls while nothing is queued');
      const job = await submit(gw.store, 'unacked');
      const handed = jobOf(await mute.myJob());
      assert.equal(handed?.id, job.id);
      assert.equal(jobOf(await mute.myJob())?.id, job.id, 'answered again while unacknowledged');
      const leased = await gw.store.get(job.id);
      assert.ok(leased.lease);
      assert.ok(
        leased.lease.expiresAt.getTime() - Date.now() <= 300,
        'the hand-out holds the short ack lease, not the 3Speak lease',
      );
      await new Promise((r) => setTimeout(r, 450));
      assert.deepEqual(
        (await gw.store.rescueExpired()).map((r) => r.id),
        [job.id],
      );
      const requeued = await gw.store.get(job.id);
      assert.equal(requeued.status, 'queued');
      assert.equal(requeued.attempts, 0, 'an unacknowledged hand-out is not an attempt');
      assert.equal(requeued.lastError?.code, 'not_acknowledged');
      assert.equal(jobOf(await mute.myJob()), null, 'not handed back to the node that ignored it');
      const taken = jobOf(await other.myJob());
      assert.equal(taken?.id, job.id, 'the other node gets it first');
      assert.equal((await other.acceptJob(job.id)).status, 200);
      const accepted = await gw.store.get(job.id);
      assert.equal(accepted.attempts, 1);
      assert.ok(
        (accepted.lease?.expiresAt.getTime() ?? 0) - Date.now() > 30_000,
        'acceptJob renews to the 3Speak lease',
      );
    } finally {
      await gw.close();
    }
  });

  it('a lone node that never acknowledges gets the job again, and repeated expiries never kill it', async () => {
    const gw = await startGatewayPlugin({ ackTimeoutMs: 200 });
    try {
      const mute = await LegacyClient.create(gw.url);
      const job = await submit(gw.store, 'lone');
      // More expiries than the attempt budget (5): none counts.
      for (let i = 0; i < 6; i++) {
        assert.equal(jobOf(await mute.myJob())?.id, job.id, `hand-out ${i + 1}: no other node is waiting`);
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(
          (await gw.store.rescueExpired()).map((r) => r.id),
          [job.id],
        );
      }
      const after6 = await gw.store.get(job.id);
      assert.equal(after6.status, 'queued');
      assert.equal(after6.attempts, 0);
      assert.equal(jobOf(await mute.myJob())?.id, job.id);
      assert.equal((await mute.acceptJob(job.id)).status, 200);
      assert.equal((await gw.store.get(job.id)).attempts, 1);
    } finally {
      await gw.close();
    }
  });
});

describe('vidmesh serve --threespeak-gateway', () => {
  it('serves a job submitted as protocol 3speak to an unchanged legacy client', async () => {
    const served = await serveGateway();
    const { server } = served;
    try {
      const job = await submit(server.store, 'serve');
      const node = await LegacyClient.create(server.url);
      assert.equal((await node.updateNode('legacy-serve')).status, 200);
      const mine = jobOf(await node.myJob());
      assert.equal(mine?.id, job.id);
      assert.equal((await node.acceptJob(job.id)).status, 200);
      assert.equal((await node.pingJob(job.id, 60, 100)).status, 200);
      const { cid } = await node.addDirectory(out);
      assert.equal((await node.finishJob(job.id, cid)).status, 200);
      assert.equal((await server.store.get(job.id)).status, 'completed');
      const manifest = await fetch(`${server.url}/ipfs/${cid}/manifest.m3u8`);
      assert.equal(manifest.status, 200);
      assert.match(await manifest.text(), /#EXTM3U/);
      const enc = await server.store.getEncoder(node.id);
      assert.equal(enc.name, 'legacy-serve');
      assert.equal(enc.jobsCompleted, 1);
    } finally {
      await served.close();
    }
  });

  it('keeps the job with a legacy client whose source download outlasts VIDMESH_LEASE_MS: no rescue, no second node, one attempt', async () => {
    // 4 s of download without a ping against a 1 s vidmesh lease swept every 200 ms.
    const source = await tricklingSource(40, 100);
    const served = await serveGateway({
      env: { VIDMESH_LEASE_MS: '1000', VIDMESH_MAINTENANCE_MS: '200', VIDMESH_RESCUE_GRACE_MS: '0' },
    });
    const { server, config } = served;
    try {
      const job = await server.store.submit(
        threeSpeakSubmitInput({
          input: { uri: source.url, size: 40 * 1024 },
          metadata: { video_owner: 'alice', video_permlink: 'slow' },
        }),
      );
      const slow = await LegacyClient.create(server.url);
      const other = await LegacyClient.create(server.url);
      assert.equal(jobOf(await slow.myJob())?.id, job.id);
      assert.equal((await slow.acceptJob(job.id)).status, 200);
      // The legacy client downloads `input.uri` before its first ping; another node polls meanwhile.
      let downloading = true;
      const offered: string[] = [];
      const poller = (async () => {
        while (downloading) {
          const j = jobOf(await other.myJob());
          if (j) offered.push(j.id);
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      const started = Date.now();
      const bytes = (await (await fetch(source.url)).arrayBuffer()).byteLength;
      downloading = false;
      await poller;
      assert.equal(bytes, 40 * 1024);
      assert.ok(Date.now() - started > 2 * config.leaseMs, 'the download outlasted the vidmesh lease');
      assert.deepEqual(offered, [], 'the job was never offered to the other node');
      assert.equal((await slow.pingJob(job.id, 50, 100)).status, 200, 'the downloading node still holds it');
      const { cid } = await slow.addDirectory(out);
      assert.equal((await slow.finishJob(job.id, cid)).status, 200);
      const done = await server.store.get(job.id);
      assert.equal(done.status, 'completed');
      assert.equal(done.attempts, 1, 'one attempt: never rescued');
      const enc = await server.store.getEncoder(slow.id);
      assert.equal(done.encoderId, enc.id);
    } finally {
      await served.close();
      await source.close();
    }
  });

  it('lets the operator seed a source with an admin key (kubo add and `vidmesh ipfs add`), refusing a wrong key, a non-admin key and unknown addresses', async () => {
    const served = await serveGateway();
    const { server } = served;
    const clip = fx.clip;
    const add = (headers: Record<string, string>) => {
      const form = new FormData();
      form.append('file', new Blob([Buffer.from('not a video, just bytes')]), 'seed.bin');
      return fetch(`${server.url}/api/v0/add`, { method: 'POST', headers, body: form });
    };
    try {
      assert.equal((await add({})).status, 403, 'no credential, no job holder at this address');
      assert.equal((await add({ authorization: 'Bearer vm_wrongwrongwrong_0123456789abcdef' })).status, 401);
      const created = await fetch(`${server.url}/api/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ scopes: ['submit', 'read'], tenant: 'acme' }),
      });
      assert.equal(created.status, 201);
      const tenantKey = ((await created.json()) as { plaintext: string }).plaintext;
      assert.equal(
        (await add({ authorization: `Bearer ${tenantKey}` })).status,
        403,
        'a tenant key is no operator',
      );
      const ok = await add({ authorization: `Bearer ${server.apiKey}` });
      assert.equal(ok.status, 200);
      assert.match(((await ok.json()) as { Hash: string }).Hash, /^Qm/);

      const { stdout } = await run(
        process.execPath,
        [
          join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
          'ipfs',
          'add',
          clip,
          '--url',
          server.url,
          '--api-key',
          server.apiKey,
          '--json',
        ],
        { env: { PATH: process.env.PATH ?? '' } },
      );
      const added = JSON.parse(stdout) as { cid: string; uri: string; bytes: number };
      assert.equal(added.uri, `ipfs://${added.cid}`);
      const served = await fetch(`${server.url}/ipfs/${added.cid}`);
      assert.equal(served.status, 200);
      assert.equal((await served.arrayBuffer()).byteLength, added.bytes, 'the seeded source is served whole');
      await assert.rejects(
        run(
          process.execPath,
          [
            join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
            'ipfs',
            'add',
            clip,
            '--url',
            server.url,
            '--api-key',
            tenantKey,
          ],
          {
            env: { PATH: process.env.PATH ?? '' },
          },
        ),
        /403|forbidden|admin API key/,
      );
    } finally {
      await served.close();
    }
  });

  it('VIDMESH_3SPEAK_OPEN_UPLOADS lets any address add; VIDMESH_3SPEAK_UPLOAD_WINDOW_MS bounds how long a job holder may', async () => {
    const open = await serveGateway({ env: { VIDMESH_3SPEAK_OPEN_UPLOADS: '1' } });
    try {
      const node = await LegacyClient.create(open.server.url);
      assert.match((await node.addDirectory(out)).cid, /^Qm/, 'open uploads: no job needed');
    } finally {
      await open.close();
    }
    const windowed = await serveGateway({ env: { VIDMESH_3SPEAK_UPLOAD_WINDOW_MS: '300' } });
    try {
      const job = await submit(windowed.server.store, 'window');
      const node = await LegacyClient.create(windowed.server.url);
      assert.equal(jobOf(await node.myJob())?.id, job.id);
      assert.equal((await node.acceptJob(job.id)).status, 200);
      assert.match((await node.addDirectory(out)).cid, /^Qm/, 'within the window');
      await new Promise((r) => setTimeout(r, 450));
      await assert.rejects(node.addDirectory(out), /403/, 'past the window');
    } finally {
      await windowed.close();
    }
  });

  it('leases a job submitted with protocol 3speak through POST /api/v1/jobs only to legacy nodes, and vidmesh jobs never to them', async () => {
    const aidSeed = new Uint8Array(32).fill(7);
    const aidDid = (await LegacyClient.create('http://127.0.0.1', aidSeed)).id;
    const served = await serveGateway({ env: { VIDMESH_3SPEAK_AID_DIDS: aidDid } });
    const { server } = served;
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${server.url}/api/v1${path}`, {
        ...init,
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      });
    const submitSpec = async (spec: Record<string, unknown>) => {
      const res = await api('/jobs', { method: 'POST', body: JSON.stringify(spec) });
      return {
        status: res.status,
        body: (await res.json()) as { job: { id: string } } & Record<string, unknown>,
      };
    };
    try {
      const source = { type: 'ipfs', url: 'ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG' };
      assert.equal(
        (await submitSpec({ source, protocol: '3speak' })).status,
        400,
        'threespeak fields required',
      );
      const withLadder = await submitSpec({
        source,
        protocol: '3speak',
        threespeak: { owner: 'carol', permlink: 'x' },
        ladder: { ladder: 'standard' },
      });
      assert.equal(withLadder.status, 400, 'the 3Speak ladder is fixed');
      const ts = await submitSpec({
        source,
        protocol: '3speak',
        threespeak: { owner: 'carol', permlink: 'via-api', size: 4321, storageMetadata: { app: '3speak' } },
        metadata: { campaign: 'migration' },
      });
      assert.equal(ts.status, 202);
      const tsId = ts.body.job.id;
      // A vidmesh job submitted later, with no tags: any vidmesh encoder could take it.
      const vm = await submitSpec({ source: { type: 'http', url: 'https://example.com/v.mp4' } });
      assert.equal(vm.status, 202);
      const vmId = vm.body.job.id;
      assert.equal((await server.store.get(tsId)).protocol, '3speak');
      assert.equal((await server.store.get(vmId)).protocol, 'vidmesh');

      // A vidmesh encoder, even one carrying the 3Speak tag, is never offered the 3Speak job.
      const enc = await server.store.registerEncoder({
        name: 'tagged',
        kind: 'infrastructure',
        capabilities: {
          codecs: ['h264'],
          hwaccel: [],
          maxHeight: 2160,
          concurrency: 2,
          tags: ['3speak-legacy'],
        },
      });
      const caps = { ...enc.capabilities };
      const first = await server.store.claim({ id: enc.id, kind: 'infrastructure' }, caps);
      assert.equal(first?.job.id, vmId, 'the vidmesh job, although the 3Speak job is older');
      assert.equal(await server.store.claim({ id: enc.id, kind: 'infrastructure' }, caps), null);
      assert.ok(first);
      await server.store.release(vmId, first.leaseToken, enc.id);

      const node = await LegacyClient.create(server.url);
      assert.equal((await node.updateNode('legacy-api')).status, 200);
      const mine = jobOf(await node.myJob());
      assert.equal(mine?.id, tsId);
      assert.deepEqual(mine.metadata, { video_owner: 'carol', video_permlink: 'via-api' });
      assert.deepEqual(mine.input, { uri: source.url, size: 4321 });
      assert.deepEqual(mine.storageMetadata, { app: '3speak' });
      assert.deepEqual(
        mine.profiles.map((p) => p.name),
        ['1080p', '720p', '480p'],
      );
      assert.equal((await node.acceptJob(tsId)).status, 200);
      assert.equal((await node.pingJob(tsId, 50, 100)).status, 200);
      const { cid } = await node.addDirectory(out);
      assert.equal((await node.finishJob(tsId, cid)).status, 200);
      assert.equal(
        jobOf(await node.myJob()),
        null,
        'the queued vidmesh job is never offered to a legacy node',
      );
      assert.equal((await server.store.get(vmId)).status, 'queued');

      const view = (await (await api(`/jobs/${tsId}`)).json()) as {
        job: {
          status: string;
          metadata: Record<string, string>;
          source: { type: string };
          destination: { type: string };
          renditions: Array<{ name: string; status: string }>;
          result: {
            masterUrl: string;
            ipfsCid?: string;
            renditions: Array<{ name: string; playlist?: string }>;
          };
        };
      };
      assert.equal(view.job.status, 'completed');
      assert.equal(view.job.result.ipfsCid, cid);
      assert.equal(view.job.result.masterUrl, `ipfs://${cid}/manifest.m3u8`);
      assert.deepEqual(view.job.result.renditions, [{ name: '480p', playlist: '480p/index.m3u8' }]);
      assert.deepEqual(view.job.metadata, {
        campaign: 'migration',
        video_owner: 'carol',
        video_permlink: 'via-api',
      });
      assert.deepEqual(
        view.job.renditions.map((r) => [r.name, r.status]),
        [
          ['480p', 'completed'],
          ['1080p', 'skipped'],
          ['720p', 'skipped'],
        ],
        'the renditions the legacy node did not produce show as skipped',
      );
      assert.deepEqual([view.job.source.type, view.job.destination.type], ['ipfs', 'ipfs']);

      // Gateway Aid is open to the DID named in VIDMESH_3SPEAK_AID_DIDS only.
      const aid = await LegacyClient.create(server.url, aidSeed);
      const stranger = await LegacyClient.create(server.url);
      const list = (c: LegacyClient) => c.post('/aid/v1/list-jobs', { timestamp: new Date().toISOString() });
      assert.equal((await list(aid)).status, 200);
      assert.equal((await list(stranger)).status, 401);

      // `vidmesh submit --protocol 3speak` builds the same kind of job.
      const { stdout } = await run(
        process.execPath,
        [
          join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
          'submit',
          source.url,
          '--protocol',
          '3speak',
          '--owner',
          'dave',
          '--permlink',
          'cli',
          '--short',
          '--url',
          server.url,
          '--api-key',
          server.apiKey,
          '--json',
        ],
        { env: { PATH: process.env.PATH ?? '' } },
      );
      const cliJob = await server.store.get((JSON.parse(stdout) as { job: { id: string } }).job.id);
      assert.equal(cliJob.protocol, '3speak');
      assert.deepEqual(
        cliJob.renditions.map((r) => r.name),
        ['480p'],
      );
      assert.deepEqual((cliJob.metadata.threespeak as { metadata: unknown }).metadata, {
        video_owner: 'dave',
        video_permlink: 'cli',
      });
    } finally {
      await served.close();
    }
  });
});
