import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { loadConfig } from '../../src/config.js';
import { createClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { probe } from '../../src/media/index.js';
import { createReputationStore } from '../../src/trust/index.js';
import { type Cheat, startCommunityNode } from '../helpers/community-node.js';
import { createTenantKey } from '../helpers/coordinator.js';
import { withTestDatabase } from '../helpers/db.js';
import { makeClip, makeSyntheticClip } from '../helpers/media.js';
import { until } from '../helpers/processes.js';
import { s3rverClient } from '../storage/helpers.js';

/**
 * Jobs with `outputs[]` on the community network (issue 18 with issue 14's verification): did:key
 * encoder nodes stage an mp4 output (published by the coordinator to s3rver, whose credentials only it
 * holds) and thumbnails (published to the coordinator's local storage). Two cheaters, each an honest
 * node with one dishonest upload (a smaller video declared as the planned one; a substituted video of
 * the planned size), are refused per output and nothing of their jobs is published; their jobs complete
 * on the honest node afterwards, which is never refused.
 */

const run = promisify(execFile);
const SECRET = 'S3RVER';
const OUT = 'outputs-out';

describe('community encoders run jobs with outputs: staged, verified per output, published', () => {
  const tdb = withTestDatabase();
  let root: string;
  let s3: S3rver;
  let endpoint: string;
  let coordinator: RunningCoordinator;
  let key = '';
  let uploadId = '';
  const material: Record<string, Buffer> = {};
  const seen: string[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-community-outputs-'));
    const clip = await makeClip(join(root, 'clip.mp4'), { seconds: 4 });
    const fps = (await probe(clip)).video!.fps;
    s3 = new S3rver({
      port: 0,
      address: '127.0.0.1',
      directory: join(root, 's3rver'),
      silent: true,
      configureBuckets: [{ name: OUT }],
    });
    endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
    coordinator = await startCoordinator(
      loadConfig({
        env: { VIDMESH_SSRF_ALLOW: '127.0.0.1' },
        flags: {
          port: 0,
          host: '127.0.0.1',
          dataDir: join(root, 'coordinator'),
          encoders: 0,
          logLevel: 'silent',
          databaseUrl: tdb.current.url,
          heartbeatMs: 1000,
        },
      }),
    );
    key = await createTenantKey(coordinator, 'acme');
    uploadId = (await createClient({ url: coordinator.url, apiKey: key }).upload(clip)).upload.id;

    // What the cheaters upload as `mp4/video.mp4`: the clip at 320x180 (planned 426x240), and a test
    // pattern of the planned size, frame rate and length.
    const small = join(root, 'small.mp4');
    await run('ffmpeg', [
      ...['-v', 'error', '-y', '-i', clip, '-vf', 'scale=320:180', '-c:v', 'libx264'],
      ...['-preset', 'ultrafast', '-c:a', 'aac', '-movflags', '+faststart', small],
    ]);
    material.small = await readFile(small);
    material.other = await readFile(
      await makeSyntheticClip(join(root, 'other.mp4'), { kind: 'testsrc', seconds: 4, size: '426x240', fps }),
    );
  });

  after(async () => {
    await coordinator?.stop({ graceMs: 0 });
    await s3?.close();
    await rm(root, { recursive: true, force: true });
  });

  /** A job only nodes with all `tags` may claim: an mp4 to s3rver and thumbnails to local storage. */
  const submit = async (tags: string[]) => {
    const r = await fetch(`${coordinator.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        source: { type: 'upload', id: uploadId },
        network: 'community',
        tags,
        outputs: [
          {
            name: 'mp4',
            kind: 'mp4',
            height: 240,
            speed: 'ultrafast',
            destination: {
              type: 's3',
              bucket: OUT,
              region: 'us-east-1',
              endpoint,
              forcePathStyle: true,
              credentials: { accessKeyId: SECRET, secretAccessKey: SECRET },
              prefix: 'videos/{jobId}',
            },
          },
          { name: 'thumbs', kind: 'thumbnails', intervalS: 2, height: 120, destination: { type: 'local' } },
        ],
      }),
    });
    assert.equal(r.status, 202, await r.clone().text());
    return ((await r.json()) as { job: { id: string } }).job.id;
  };

  const bucketKeys = async (jobId: string) => {
    const c = s3rverClient(endpoint);
    try {
      const listed = await c.send(new ListObjectsV2Command({ Bucket: OUT, Prefix: `videos/${jobId}/` }));
      return (listed.Contents ?? []).map((o) => o.Key ?? '');
    } finally {
      c.destroy();
    }
  };

  const logsOf = async (jobId: string) =>
    (await coordinator.store.getLogs(jobId, { limit: 10_000 })).map((l) => l.line).join('\n');

  test('cheaters (wrong resolution, substituted video) are refused and publish nothing; the honest node completes every job', async () => {
    const replaceMp4 =
      (body: Buffer): Cheat =>
      (path, real) =>
        path === 'mp4/video.mp4' ? body : real;
    const cheats = [
      { name: 'wrong-resolution', cheat: replaceMp4(material.small!), check: /FAIL plan: mp4: size 320x180/ },
      {
        name: 'substituted',
        cheat: replaceMp4(material.other!),
        check: /FAIL spot re-encode: .*mp4\/video\.mp4/,
      },
    ];
    const cheatJobs: string[] = [];
    for (const c of cheats) {
      const cheater = await startCommunityNode({
        coordinatorUrl: coordinator.url,
        root,
        name: c.name,
        tags: [c.name],
        cheat: c.cheat,
      });
      try {
        const jobId = await submit([c.name]);
        cheatJobs.push(jobId);
        const rep = await until(`${c.name} refused`, 180_000, async () => {
          const r = await createReputationStore(coordinator.db).get(cheater.encoderId);
          return r.verifiedFailures > 0 && r;
        });
        assert.equal(rep.verifiedFailures, 1, `${c.name}: one verification failure on its record`);
        const logs = await logsOf(jobId);
        assert.match(logs, c.check, `${c.name} caught by its check:\n${logs}`);
        const job = await coordinator.store.get(jobId);
        assert.ok(
          ['queued', 'failed'].includes(job.status),
          `${c.name}: job back in the queue (${job.status})`,
        );
        assert.equal(job.attempts, 0, `${c.name}: the refused attempt is not counted`);
        const history = await coordinator.store.listEvents(jobId);
        assert.ok(
          history.some((e) => e.from === 'verifying' && e.to === 'queued'),
          `${c.name}: verifying → queued in the audit trail`,
        );
        // Nothing of the refused result was published: not the mp4, not the (honest) thumbnails.
        assert.deepEqual(await bucketKeys(jobId), [], `${c.name}: nothing in the bucket`);
        const thumb = await fetch(`${coordinator.url}/media/${jobId}/thumbs/thumb_0001.jpg`);
        assert.equal(thumb.status, 404, `${c.name}: no thumbnail published`);
        await thumb.body?.cancel();
        assert.deepEqual(
          await readdir(join(root, 'coordinator', 'staging', jobId)).catch(() => []),
          [],
          `${c.name}: its staged files are deleted`,
        );
      } finally {
        await cheater.stop();
      }
    }

    // The honest node: every answer it gets is recorded for the secret check.
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if ((res.headers.get('content-type') ?? '').includes('json')) seen.push(await res.clone().text());
      return res;
    };
    const honest = await startCommunityNode({
      coordinatorUrl: coordinator.url,
      root,
      name: 'honest',
      tags: cheats.map((c) => c.name),
      fetch: recording,
    });
    try {
      const honestJob = await submit([]);
      for (const id of [...cheatJobs, honestJob]) {
        const job = await until(`job ${id} completed`, 240_000, async () => {
          const j = await coordinator.store.get(id);
          assert.notEqual(j.status, 'dead', JSON.stringify(j.lastError));
          return j.status === 'completed' && j;
        }).catch(async (err: Error) => {
          const j = await coordinator.store.get(id);
          throw new Error(`${err.message}: ${j.status} ${JSON.stringify(j.lastError)}\n${await logsOf(id)}`);
        });
        assert.equal(job.encoderId, honest.encoderId, 'completed by the honest node');
        const view = (await (
          await fetch(`${coordinator.url}/api/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } })
        ).json()) as {
          job: {
            result: { verification?: { ok: boolean; checks: Array<{ name: string }> } };
            outputs?: Array<{
              name: string;
              status: string;
              url?: string;
              files?: string[];
              width?: number;
            }>;
          };
        };
        const result = view.job.result;
        assert.equal(result.verification?.ok, true, JSON.stringify(result.verification));
        assert.deepEqual(
          result.verification?.checks.map((c) => c.name),
          ['files', 'hashes', 'plan', 'spot re-encode'],
        );
        // The stored result keeps the spot SSIMs (the API view shows the checks).
        const stored = job.result as { verification?: { spots: Array<{ rendition: string; ssim: number }> } };
        assert.deepEqual(
          stored.verification?.spots.map((x) => x.rendition).sort(),
          ['mp4', 'mp4', 'thumbs', 'thumbs'],
          'two mp4 spans and two thumbnails spot-checked',
        );
        const mp4 = view.job.outputs?.find((o) => o.name === 'mp4');
        const thumbs = view.job.outputs?.find((o) => o.name === 'thumbs');
        assert.equal(mp4?.status, 'completed');
        assert.equal(thumbs?.status, 'completed');
        assert.ok(mp4?.url?.includes(`videos/${id}/video.mp4`), mp4?.url);

        // The mp4 is in the bucket, as planned (checked with ffprobe there).
        assert.deepEqual(await bucketKeys(id), [`videos/${id}/video.mp4`]);
        const c = s3rverClient(endpoint);
        try {
          const got = await c.send(new GetObjectCommand({ Bucket: OUT, Key: `videos/${id}/video.mp4` }));
          const file = join(root, `${id}.mp4`);
          await writeFile(file, await got.Body!.transformToByteArray());
          const info = await probe(file);
          assert.equal(info.video?.displayWidth, 426);
          assert.equal(info.video?.displayHeight, 240);
          assert.ok(Math.abs(info.durationS - 4) < 0.5, `duration ${info.durationS}`);
        } finally {
          c.destroy();
        }
        // The thumbnails are in the coordinator's local storage, served.
        assert.ok((thumbs?.files?.length ?? 0) >= 2, JSON.stringify(thumbs));
        assert.equal(thumbs?.files?.[0], `${coordinator.url}/media/${id}/thumbs/thumb_0001.jpg`);
        const img = await fetch(thumbs!.files![0]!);
        assert.equal(img.status, 200, 'thumbnail published');
        assert.match(img.headers.get('content-type') ?? '', /^image\/jpeg/);
        await img.body?.cancel();
      }
      const rep = await createReputationStore(coordinator.db).get(honest.encoderId);
      assert.equal(rep.verifiedFailures, 0, 'no false refusal of the honest node');
      assert.equal(rep.verifiedPasses, 3);
      // The claim hand-out: staged transfer, no destination credential in anything the node was told.
      const claims = seen.filter((t) => t.includes('"leaseToken"') && t.includes('"transfer"'));
      assert.ok(claims.length >= 3, 'the claim answers were recorded');
      assert.match(claims[0]!, /"output":"coordinator"/);
      for (const text of seen)
        assert.ok(!text.includes(SECRET), `an answer to the node held the secret: ${text.slice(0, 200)}`);
    } finally {
      await honest.stop();
    }
  });
});
