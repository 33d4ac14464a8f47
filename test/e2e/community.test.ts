import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { createHttpTransport, type EncoderNode, startEncoderNode } from '../../src/encoder/index.js';
import { generateIdentity } from '../../src/identity/index.js';
import { createTenantKey } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';
import { s3rverClient } from '../storage/helpers.js';

/**
 * A community encoder (a stranger's did:key, issue 12) runs an S3 → S3 job of another tenant end to
 * end against s3rver, and no secret ever reaches it: not in its claim, not in any answer it reads, not
 * in the job log, not on its disk. It reads the source through the coordinator's lease-bound relay
 * and stages its outputs; the coordinator publishes them to the bucket with the credentials only it
 * holds. s3rver's fixed credentials (`S3RVER`) are the secret looked for.
 */

const SECRET = 'S3RVER';
const credentials = { accessKeyId: SECRET, secretAccessKey: SECRET };
const SRC = 'community-src';
const OUT = 'community-out';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

describe('community encoder: S3 → S3 with no secret on the node', () => {
  let tmp: string;
  let s3: S3rver;
  let endpoint: string;
  let server: RunningCoordinator;
  let node: EncoderNode;
  let client: VidmeshClient;
  const seen: string[] = [];
  const s3client = () => s3rverClient(endpoint);

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-community-'));
    const clip = await makeClip(join(tmp, 'clip.mp4'), { seconds: 3 });
    s3 = new S3rver({
      port: 0,
      address: '127.0.0.1',
      directory: join(tmp, 's3rver'),
      silent: true,
      configureBuckets: [{ name: SRC }, { name: OUT }],
    });
    endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
    const c = s3client();
    await c.send(new PutObjectCommand({ Bucket: SRC, Key: 'in/clip.mp4', Body: await readFile(clip) }));
    c.destroy();

    server = await startCoordinator(
      loadConfig({
        env: { VIDMESH_SSRF_ALLOW: '127.0.0.1' },
        flags: {
          port: 0,
          dataDir: join(tmp, 'coordinator'),
          encoders: 0,
          heartbeatMs: 1000,
          logLevel: 'silent',
        },
      }),
    );
    client = createClient({ url: server.url, apiKey: await createTenantKey(server, 'acme') });

    // Every byte the coordinator answers the community node with is kept for the secret check.
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if ((res.headers.get('content-type') ?? '').includes('json')) seen.push(await res.clone().text());
      return res;
    };
    const encDir = join(tmp, 'encoder');
    node = startEncoderNode({
      transport: createHttpTransport({ url: server.url, identity: generateIdentity(), fetch: recording }),
      dataDir: encDir,
      // The node's own storage reaches no private address: only the coordinator (exempt, operator config).
      storage: {
        localRoot: join(encDir, 'media'),
        fileRoots: [],
        ssrf: {},
        ipfs: { blockstoreDir: join(encDir, 'ipfs') },
      },
      name: 'stranger',
      kind: 'community',
      version: '0.0.0-test',
      hwaccel: 'none',
      progressIntervalMs: 300,
      heartbeatIntervalMs: 1000,
      claimWaitMs: 1000,
    });
    await node.ready;
  });

  after(async () => {
    await node?.stop({ graceful: false });
    await server?.stop({ graceMs: 1000 });
    await s3?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('the job completes into the bucket; claim, answers, job log and encoder disk hold no secret', async () => {
    const submitted = await client.submitJob({
      source: {
        type: 's3',
        bucket: SRC,
        key: 'in/clip.mp4',
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        credentials,
      },
      destination: {
        type: 's3',
        bucket: OUT,
        region: 'us-east-1',
        endpoint,
        forcePathStyle: true,
        credentials,
        prefix: 'videos/{jobId}',
      },
      ladder: { short: true, speed: 'ultrafast', segmentDuration: 1 },
      network: 'community',
    });
    let job = await client.getJob(submitted.id);
    const deadline = Date.now() + 120_000;
    while (!['completed', 'dead', 'cancelled'].includes(job.status)) {
      assert.ok(Date.now() < deadline, `job still ${job.status}/${job.stage}`);
      await new Promise((r) => setTimeout(r, 250));
      job = await client.getJob(submitted.id);
    }
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    const encoders = await server.store.listEncoders();
    const stranger = encoders.find((e) => e.name === 'stranger');
    assert.ok(stranger?.did, 'the community node is a did:key encoder');
    assert.equal(job.encoderId, stranger.id, 'the community node encoded it');

    const c = s3client();
    try {
      const prefix = `videos/${job.id}/`;
      const listed = await c.send(new ListObjectsV2Command({ Bucket: OUT, Prefix: prefix }));
      const keys = (listed.Contents ?? []).map((o) => o.Key ?? '');
      assert.ok(keys.includes(`${prefix}master.m3u8`), `keys: ${keys.join(', ')}`);
      assert.ok(
        keys.some((k) => k.endsWith('.ts')),
        'segments published',
      );
      const master = await c.send(new GetObjectCommand({ Bucket: OUT, Key: `${prefix}master.m3u8` }));
      assert.match((await master.Body?.transformToString()) ?? '', /^#EXTM3U/);
    } finally {
      c.destroy();
    }
    assert.ok(job.result?.masterUrl.endsWith(`videos/${job.id}/master.m3u8`), job.result?.masterUrl);

    const claims = seen.filter((t) => t.includes('"leaseToken"') && t.includes('"transfer"'));
    assert.ok(claims.length >= 1, 'the claim answer was recorded');
    assert.match(claims[0]!, /"source":"coordinator","output":"coordinator"/);
    for (const text of seen)
      assert.ok(!text.includes(SECRET), `an answer to the node held the secret: ${text.slice(0, 200)}`);
    const logs = await server.store.getLogs(job.id, { limit: 10_000 });
    assert.ok(logs.length > 0, 'the job has a log');
    assert.ok(!JSON.stringify(logs).includes(SECRET), 'the job log holds no secret');
    for (const file of await filesUnder(join(tmp, 'encoder'))) {
      if ((await stat(file)).size > 50 * 1024 * 1024) continue;
      assert.ok(!(await readFile(file)).includes(SECRET), `${file} on the encoder holds the secret`);
    }
    // The staging and relay copies on the coordinator are gone once published.
    assert.deepEqual(await readdir(join(tmp, 'coordinator', 'staging')).catch(() => []), []);
  });
});
