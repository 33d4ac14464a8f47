import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DID } from 'dids';
import Fastify, { type FastifyInstance } from 'fastify';
import * as KeyResolver from 'key-did-resolver';
import {
  type GatewayJob,
  kuboRpcRoutes,
  readIpfsFile,
  startThreeSpeakEncoder,
  type ThreeSpeakEncoderEvent,
} from '../../src/compat/threespeak/index.js';

import { generateIdentity } from '../../src/identity/index.js';
import { mediaDir } from '../../src/paths.js';
import { makeClip } from '../helpers/media.js';

const run = promisify(execFile);
const verifier = new DID({ resolver: KeyResolver.getResolver() });

/**
 * A protocol-faithful 3Speak gateway: the legacy endpoints verify `{jws}` bodies the way
 * spknetwork/video-encoder's `unwrapJWS` does (dids `verifyJWS`, DID = kid before '#'), a Gateway
 * Monitor `GET /api/jobs/:id`, a kubo `add` endpoint (vidmesh's kubo subset on a temp blockstore)
 * and the source video over HTTP.
 */
class TestGateway {
  app!: FastifyInstance;
  url = '';
  job: GatewayJob | null = null;
  calls: Array<{ path: string; did: string; payload: Record<string, unknown> }> = [];
  finishDown = 0;
  /** What the Monitor reports as owner; default the assignee. */
  monitorOwner: string | null | undefined;
  onPing?: (payload: Record<string, unknown>) => void;

  constructor(
    readonly dir: string,
    readonly sourceFile: string,
  ) {}

  async start(): Promise<void> {
    this.app = Fastify();
    const unwrap = async (body: unknown) => {
      const v = await verifier.verifyJWS((body as { jws: never }).jws);
      return { did: v.kid.split('#')[0] as string, payload: v.payload as Record<string, unknown> };
    };
    for (const path of ['updateNode', 'myJob', 'acceptJob', 'pingJob', 'finishJob', 'failJob', 'rejectJob']) {
      this.app.post(`/api/v0/gateway/${path}`, async (req, reply) => {
        const { did, payload } = await unwrap(req.body);
        this.calls.push({ path, did, payload });
        const job = this.job;
        switch (path) {
          case 'myJob':
            if (job && job.status === 'queued') {
              job.status = 'assigned';
              job.assigned_to = did;
              return { success: true, job };
            }
            return { success: true, job: null };
          case 'acceptJob':
          case 'pingJob':
            // Before auto-assignment (getJob flow) the gateway assigned the job at acceptJob.
            if (path === 'acceptJob' && job && job.status === 'queued') {
              job.status = 'assigned';
              job.assigned_to = did;
            }
            if (!job || job.assigned_to !== did) return reply.status(409).send({ message: 'not assigned' });
            if (path === 'pingJob') {
              job.status = 'running';
              this.onPing?.(payload);
            }
            return 'ok';
          case 'finishJob':
            if (this.finishDown > 0) {
              this.finishDown--;
              return reply.status(503).send({ message: 'gateway overloaded' });
            }
            if (!job || job.assigned_to !== did) return reply.status(409).send({ message: 'not assigned' });
            job.status = 'complete';
            job.result = { cid: String((payload.output as { cid: string }).cid), uri: '' };
            return { status: 'success', message: 'Job finished successfully' };
          case 'failJob':
          case 'rejectJob':
            if (job) {
              job.status = 'queued';
              job.assigned_to = null;
            }
            return 'ok';
          default:
            return 'ok';
        }
      });
    }
    // Old gateways: unauthenticated `getJob` answers the oldest queued job itself (not wrapped), 404 if none.
    this.app.get('/api/v0/gateway/getJob', async (_req, reply) => {
      this.calls.push({ path: 'getJob', did: '', payload: {} });
      const job = this.job;
      if (job?.status !== 'queued') return reply.status(404).send({ message: 'no jobs' });
      return job;
    });
    this.app.get('/monitor/jobs/:id', async (req, reply) => {
      const job = this.job;
      if (!job || job.id !== (req.params as { id: string }).id)
        return reply.status(404).send({ success: false });
      const owner = this.monitorOwner === undefined ? job.assigned_to : this.monitorOwner;
      return { success: true, data: { id: job.id, _id: job.id, status: job.status, assigned_to: owner } };
    });
    this.app.get('/source.mp4', async (_req, reply) => {
      const st = await stat(this.sourceFile);
      reply.header('content-type', 'video/mp4').header('content-length', String(st.size));
      return reply.send(createReadStream(this.sourceFile));
    });
    await this.app.register(async (k) =>
      kuboRpcRoutes(k, { blockstoreDir: join(this.dir, 'kubo'), version: 't' }),
    );
    await this.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = this.app.server.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  queue(id: string): void {
    const now = new Date().toISOString();
    this.job = {
      id,
      type: 'gateway',
      status: 'queued',
      created_at: now,
      updated_at: now,
      assigned_to: null,
      assigned_date: null,
      last_pinged: null,
      completed_at: null,
      input: { uri: `${this.url}/source.mp4`, size: 1 },
      metadata: { video_owner: 'carol', video_permlink: id },
      storageMetadata: { app: '3speak', key: id, type: 'legacy' },
      profiles: [],
      output: [],
      progress: 0,
      result: null,
    };
  }
}

function waitFor(
  enc: { on(l: (e: ThreeSpeakEncoderEvent) => void): () => void },
  pred: (e: ThreeSpeakEncoderEvent) => boolean,
  ms: number,
): Promise<ThreeSpeakEncoderEvent> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error('timed out waiting for an encoder event'));
    }, ms);
    const off = enc.on((e) => {
      if (pred(e)) {
        clearTimeout(t);
        off();
        resolve(e);
      }
    });
  });
}

describe('vidmesh encoder --protocol 3speak against a 3Speak gateway', () => {
  let dir: string;
  let shortClip: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-3speak-encoder-'));
    shortClip = join(dir, 'short.mp4');
    await makeClip(shortClip, { seconds: 2 });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function encoderFor(
    gw: TestGateway,
    name: string,
    extra: { ownershipCheckMs?: number; speed?: 'ultrafast' | 'veryfast'; legacyPoll?: boolean } = {},
  ) {
    return startThreeSpeakEncoder({
      gatewayUrl: gw.url,
      identity: generateIdentity(),
      kuboApiUrl: gw.url,
      monitorUrl: `${gw.url}/monitor`,
      dataDir: join(dir, name),
      storage: {
        localRoot: join(dir, name, 'local'),
        fileRoots: [],
        ssrf: { allowHosts: ['127.0.0.1'] },
        ipfs: { blockstoreDir: join(dir, name, 'ipfs') },
      },
      hiveUsername: 'carol',
      nodeName: name,
      version: 'test',
      pollIntervalMs: 100,
      pingIntervalMs: 200,
      ownershipCheckMs: extra.ownershipCheckMs ?? 60_000,
      finishRetryMs: 200,
      speed: extra.speed ?? 'ultrafast',
      legacyPoll: extra.legacyPoll ?? false,
    });
  }

  it('completes a job; a finishJob refused while the gateway is down is cached and reported later', async () => {
    const gw = new TestGateway(join(dir, 'gw1'), shortClip);
    await gw.start();
    const enc = encoderFor(gw, 'enc1');
    try {
      gw.finishDown = 2;
      gw.queue('job-ok');
      const cached = await waitFor(enc, (e) => e.type === 'finish_cached', 45_000);
      assert.equal(cached.type === 'finish_cached' && cached.jobId, 'job-ok');
      assert.ok((await readdir(join(dir, 'enc1', 'results'))).some((n) => n.endsWith('.json')));
      const reported = await waitFor(enc, (e) => e.type === 'finish_reported', 10_000);
      const cid = reported.type === 'finish_reported' ? reported.cid : '';
      assert.equal(gw.job?.status, 'complete');
      assert.equal(gw.job?.result?.cid, cid);
      const paths = gw.calls.map((c) => c.path);
      assert.deepEqual(paths.slice(0, 3), ['updateNode', 'myJob', 'acceptJob']);
      assert.equal(paths[3], 'pingJob', 'the first ping follows accept');
      assert.equal(gw.calls[3]?.payload.progressPct, 1);
      assert.ok(paths.filter((p) => p === 'finishJob').length >= 1);
      assert.ok(
        gw.calls.every((c) => c.did === enc.did),
        'every call signed by the node DID',
      );
      const manifest = (await readIpfsFile(join(dir, 'gw1', 'kubo'), cid, 'manifest.m3u8')).toString();
      assert.match(manifest, /720p\/index\.m3u8/);
      assert.match(manifest, /480p\/index\.m3u8/);
      assert.doesNotMatch(manifest, /1080p/, 'a 720p source is never upscaled');
      await readIpfsFile(join(dir, 'gw1', 'kubo'), cid, '480p/480p_0.ts');
      assert.deepEqual(await readdir(join(dir, 'enc1', 'results')), [], 'cache emptied once acknowledged');
    } finally {
      await enc.stop();
      await gw.app.close();
    }
  });

  it('polls getJob on an old gateway (GATEWAY_LEGACY_POLL): claims with acceptJob, then completes', async () => {
    const gw = new TestGateway(join(dir, 'gw3'), shortClip);
    await gw.start();
    const enc = encoderFor(gw, 'enc3', { legacyPoll: true });
    try {
      const idle = gw.calls.length;
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(
        gw.calls.slice(idle).some((c) => c.path === 'getJob'),
        'polls getJob while nothing is queued',
      );
      gw.queue('job-legacy-poll');
      const reported = await waitFor(enc, (e) => e.type === 'finish_reported', 45_000);
      const cid = reported.type === 'finish_reported' ? reported.cid : '';
      assert.equal(gw.job?.status, 'complete');
      assert.equal(gw.job?.assigned_to, enc.did, 'assigned by acceptJob');
      assert.equal(gw.job?.result?.cid, cid);
      const paths = gw.calls.map((c) => c.path);
      assert.ok(!paths.includes('myJob'), 'never calls myJob');
      const accept = paths.indexOf('acceptJob');
      assert.equal(paths[accept - 1], 'getJob', 'acceptJob claims the job getJob offered');
      assert.equal(paths[accept + 1], 'pingJob');
      const manifest = (await readIpfsFile(join(dir, 'gw3', 'kubo'), cid, 'manifest.m3u8')).toString();
      assert.match(manifest, /480p\/index\.m3u8/);
    } finally {
      await enc.stop();
      await gw.app.close();
    }
  });

  it('stops ffmpeg when the Gateway Monitor shows the job moved to another DID mid-encode', async () => {
    const gw = new TestGateway(join(dir, 'gw2'), join(mediaDir(), 'big_buck_bunny_10s.mp4'));
    await gw.start();
    const enc = encoderFor(gw, 'enc2', { ownershipCheckMs: 150, speed: 'veryfast' });
    let movedAt = 0;
    gw.onPing = (p) => {
      if (Number(p.progressPct) > 1 && !movedAt) {
        movedAt = Date.now();
        gw.monitorOwner = 'did:key:z6MkotherEncoderTookThisJob';
      }
    };
    try {
      gw.queue('job-moved');
      const lost = await waitFor(enc, (e) => e.type === 'lost', 45_000);
      const latency = Date.now() - movedAt;
      assert.ok(movedAt > 0);
      assert.match(lost.type === 'lost' ? lost.reason : '', /another|assigned to did:key:z6Mkother/);
      // The encode was cut short: nothing finished or failed, and no ffmpeg child is left.
      await new Promise((r) => setTimeout(r, 300));
      const paths = gw.calls.map((c) => c.path);
      assert.ok(!paths.includes('finishJob'));
      assert.ok(!paths.includes('failJob'));
      const { stdout } = await run('ps', ['--ppid', String(process.pid), '-o', 'comm=']).catch(() => ({
        stdout: '',
      }));
      assert.doesNotMatch(stdout, /ffmpeg/);
      console.log(`# ownership loss -> encoder stopped in ${latency} ms`);
      assert.ok(latency < 15_000, `stopped ${latency} ms after the move`);
    } finally {
      await enc.stop();
      await gw.app.close();
    }
  });
});
