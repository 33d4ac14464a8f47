import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config.js';
import { createClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { encodeLadder, planLadder, probe } from '../../src/media/index.js';
import { createReputationStore } from '../../src/trust/index.js';
import { type Cheat, startCommunityNode } from '../helpers/community-node.js';
import { createTenantKey } from '../helpers/coordinator.js';
import { withTestDatabase } from '../helpers/db.js';
import { makeClip, makeSyntheticClip } from '../helpers/media.js';
import { until } from '../helpers/processes.js';

/**
 * Verification of untrusted results end to end (issue 14): real encoder nodes with did:key identities
 * against `vidmesh serve`'s coordinator. Each cheater is an honest node with one dishonest change,
 * applied by a proxy on its output uploads (it declares the hashes of what it really uploads, as a
 * cheater would): (a) a different video, (b) a lower resolution declared as the planned one, (c) black
 * frames, (d) the last segments cut, (e) another job's output. Each is caught, suspended, and its job
 * completes on an honest node afterwards; the honest node is never rejected.
 */

const run = promisify(execFile);
const LADDER = {
  ladder: [{ name: '240p', height: 240, videoBitrate: 400_000 }],
  speed: 'ultrafast' as const,
  segmentDuration: 1,
};

describe('verification catches cheating community encoders', () => {
  const tdb = withTestDatabase();
  let root: string;
  let coordinator: RunningCoordinator;
  let key = '';
  let uploadId = '';
  const material: Record<string, string> = {};

  /** Encodes `input` with the jobs' ladder (what a node would upload) into a fresh folder. */
  const encodeInto = async (input: string, ladder: typeof LADDER = LADDER) => {
    const out = await mkdtemp(join(root, 'material-'));
    await encodeLadder(planLadder(await probe(input), ladder), out);
    return out;
  };

  const startNode = (name: string, tags: string[], cheat?: Cheat) =>
    startCommunityNode({ coordinatorUrl: coordinator.url, root, name, tags, ...(cheat ? { cheat } : {}) });

  /** A job only nodes with all `tags` may claim (each cheater gets exactly its own job). */
  const submit = async (tags: string[] = []) => {
    const r = await fetch(`${coordinator.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        source: { type: 'upload', id: uploadId },
        ladder: LADDER,
        network: 'community',
        tags,
      }),
    });
    assert.equal(r.status, 202, await r.clone().text());
    return ((await r.json()) as { job: { id: string } }).job.id;
  };

  const waitFor = <T>(what: string, fn: () => Promise<T | false | undefined>, ms = 120_000) =>
    until(what, ms, fn);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-verification-'));
    const clip = await makeClip(join(root, 'clip.mp4'), { seconds: 4 });
    coordinator = await startCoordinator(
      loadConfig({
        flags: {
          port: 0,
          host: '127.0.0.1',
          dataDir: join(root, 'coordinator'),
          encoders: 0,
          logLevel: 'silent',
          databaseUrl: tdb.current.url,
          heartbeatMs: 1000,
          verifySuspendAfter: 1,
        },
        env: {},
      }),
    );
    key = await createTenantKey(coordinator, 'acme');
    uploadId = (await createClient({ url: coordinator.url, apiKey: key }).upload(clip)).upload.id;

    // What the cheaters upload instead: a synthetic video, the same clip at 144p, black frames, and
    // another job's output (a later part of the same film).
    material.other = await encodeInto(
      await makeSyntheticClip(join(root, 'other.mp4'), { kind: 'testsrc', seconds: 4 }),
    );
    material.low = await encodeInto(clip, {
      ...LADDER,
      ladder: [{ name: '240p', height: 144, videoBitrate: 200_000 }],
    });
    material.black = await encodeInto(
      await makeSyntheticClip(join(root, 'black.mp4'), { kind: 'black', seconds: 4 }),
    );
    const film = await makeClip(join(root, 'film.mp4'), { seconds: 9 });
    const later = join(root, 'later.mp4');
    await run('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-ss',
      '5',
      '-i',
      film,
      '-t',
      '4',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-c:a',
      'aac',
      later,
    ]);
    material.prev = await encodeInto(later);
  });

  after(async () => {
    await coordinator?.stop({ graceMs: 0 });
    await rm(root, { recursive: true, force: true });
  });

  const fromFolder =
    (folder: string): Cheat =>
    (path, body) =>
      path.endsWith('.ts') ? (readFileSyncSafe(join(folder, path)) ?? body) : body;

  test('each cheat is caught and suspended; an honest node completes every job, never rejected', async () => {
    const cheats: Array<{ name: string; cheat: Cheat; check: RegExp }> = [
      { name: 'other-video', cheat: fromFolder(material.other!), check: /FAIL spot re-encode/ },
      {
        name: 'low-resolution',
        cheat: (path, body) => (path === 'master.m3u8' ? body : fromFolder(material.low!)(path, body)),
        check: /FAIL plan: .*size \d+x144, planned \d+x240/,
      },
      { name: 'black-frames', cheat: fromFolder(material.black!), check: /FAIL spot re-encode/ },
      {
        name: 'truncated',
        cheat: (path, body) => {
          if (/seg_0000[23]\.ts$/.test(path)) return null;
          if (path.endsWith('240p/index.m3u8')) {
            const text = body.toString('utf8').replace(/#EXTINF:[^\n]*\nseg_0000[23]\.ts\n/g, '');
            return Buffer.from(text);
          }
          return body;
        },
        check: /FAIL plan: .*duration/,
      },
      { name: 'reused-output', cheat: fromFolder(material.prev!), check: /FAIL spot re-encode/ },
    ];
    const cheatJobs: string[] = [];
    const suspendedIds: string[] = [];
    for (const c of cheats) {
      const cheater = await startNode(c.name, [c.name], c.cheat);
      try {
        const jobId = await submit([c.name]);
        cheatJobs.push(jobId);
        const suspended = await waitFor(`${c.name} suspended`, async () => {
          const e = (await coordinator.store.listEncoders()).find((x) => x.id === cheater.node.encoderId);
          return e?.approval === 'suspended' && e;
        });
        assert.equal(suspended.approval, 'suspended');
        const job = await coordinator.store.get(jobId);
        assert.ok(
          ['queued', 'failed'].includes(job.status),
          `${c.name}: job back in the queue (${job.status})`,
        );
        const logs = (await coordinator.store.getLogs(jobId, { limit: 10_000 }))
          .map((l) => l.line)
          .join('\n');
        assert.match(logs, c.check, `${c.name} caught by its check:\n${logs}`);
        const history = await coordinator.store.listEvents(jobId);
        assert.ok(
          history.some((e) => e.to === 'verifying') &&
            history.some((e) => e.from === 'verifying' && e.to === 'queued'),
          `${c.name}: running → verifying → queued in the audit trail`,
        );
        const rep = await createReputationStore(coordinator.db).get(cheater.node.encoderId!);
        assert.equal(rep.verifiedFailures, 1, `${c.name} reputation`);
        suspendedIds.push(cheater.node.encoderId!);
      } finally {
        await cheater.stop();
      }
    }

    const honest = await startNode(
      'honest',
      cheats.map((c) => c.name),
    );
    try {
      const honestJobs = [];
      for (let i = 0; i < 10; i++) honestJobs.push(await submit());
      for (const id of [...cheatJobs, ...honestJobs]) {
        const job = await waitFor(`job ${id} completed`, async () => {
          const j = await coordinator.store.get(id);
          assert.notEqual(j.status, 'dead', JSON.stringify(j.lastError));
          return j.status === 'completed' && j;
        });
        assert.equal(job.encoderId, honest.node.encoderId, 'completed by the honest node');
      }
      const rep = await createReputationStore(coordinator.db).get(honest.node.encoderId!);
      assert.equal(rep.verifiedFailures, 0, 'no false rejection of the honest node');
      assert.ok(rep.verifiedPasses >= 10, `honest results verified: ${rep.verifiedPasses}`);
      // The API shows reputation and suspension, and each job's verification report.
      const auth = { authorization: `Bearer ${coordinator.apiKey}` };
      const listed = (await (
        await fetch(`${coordinator.url}/api/v1/encoders`, { headers: auth })
      ).json()) as {
        encoders: Array<{
          id: string;
          approval: string;
          reputation?: { score: number; verifiedFailures: number };
        }>;
      };
      const cheater = listed.encoders.find((e) => e.id === suspendedIds[0]);
      assert.equal(cheater?.approval, 'suspended');
      assert.equal(cheater?.reputation?.verifiedFailures, 1);
      const good = listed.encoders.find((e) => e.id === honest.node.encoderId);
      assert.ok((good?.reputation?.score ?? 0) > 0.9, JSON.stringify(good?.reputation));
      const view = (await (
        await fetch(`${coordinator.url}/api/v1/jobs/${cheatJobs[0]}`, { headers: auth })
      ).json()) as {
        job: { result: { verification?: { ok: boolean; checks: Array<{ name: string }> } } };
      };
      assert.equal(view.job.result.verification?.ok, true);
      assert.deepEqual(
        view.job.result.verification?.checks.map((c) => c.name),
        ['playlists', 'hashes', 'plan', 'spot re-encode'],
      );
      const done = await coordinator.store.listEvents(cheatJobs[0]!);
      assert.deepEqual(
        done.slice(-2).map((e) => e.to),
        ['verifying', 'completed'],
        'the honest result went running → verifying → completed',
      );
      const master = await fetch(`${coordinator.url}/media/${cheatJobs[0]}/master.m3u8`);
      assert.equal(master.status, 200, 'the honest result is published');
      // An operator reinstates a suspended encoder: approved again, its failure streak forgotten.
      const r = await fetch(`${coordinator.url}/api/v1/encoders/${suspendedIds[0]}/reinstate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${coordinator.apiKey}` },
      });
      assert.equal(r.status, 200, await r.clone().text());
      assert.equal(((await r.json()) as { encoder: { approval: string } }).encoder.approval, 'approved');
      const back = await createReputationStore(coordinator.db).get(suspendedIds[0]!);
      assert.equal(back.consecutiveFailures, 0);
      assert.equal(back.verifiedFailures, 1, 'the history stays');
    } finally {
      await honest.stop();
    }
  });
});

function readFileSyncSafe(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}
