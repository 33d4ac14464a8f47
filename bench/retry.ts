/**
 * Cost of a per-rendition retry (issue #13, bug 4): the same 10 s 720p source through the job store
 * and an in-process encoder (db transport, embedded PGlite, local destination). (a) the whole default
 * ladder (1080p skipped: 720p + 480p), (b) a retry of 720p only, which encodes that one rendition and
 * keeps 480p. Prints claim→complete wall times (median of `--runs`, default 3) and their ratio.
 *
 * Run: `npm run build && node dist/bench/retry.js [--runs 3] [--input file]`
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createDbTransport, startEncoderNode } from '../src/encoder/index.js';
import { createDatabase, createJobStore, type Job } from '../src/jobs/index.js';
import { jobSpecSchema, requestedRenditions } from '../src/jobs/spec.js';
import { mediaDir } from '../src/paths.js';
import { parseCompletionResult } from '../src/protocol/result.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, input: { type: 'string' } },
});
const runs = Math.max(1, Number(values.runs));
const input = resolve(values.input ?? join(mediaDir(), 'big_buck_bunny_10s.mp4'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const dir = await mkdtemp(join(tmpdir(), 'vidmesh-bench-retry-'));
const db = await createDatabase({ dataDir: 'memory://' });
const store = createJobStore(db, { pollIntervalMs: 100 });
const node = startEncoderNode({
  transport: createDbTransport(store),
  dataDir: join(dir, 'node'),
  storage: {
    localRoot: join(dir, 'media'),
    uploads: { kind: 'dir', dir: join(dir, 'uploads') },
    fileRoots: [resolve(input, '..')],
    ssrf: {},
    ipfs: { blockstoreDir: join(dir, 'ipfs') },
  },
  name: 'bench',
  version: '0.0.0-bench',
  concurrency: 1,
  hwaccel: 'none',
  progressIntervalMs: 500,
  claimWaitMs: 500,
});
await node.ready;

/** Seconds from the lease of the job's latest attempt to its completion. */
async function untilCompleted(id: string, completions: number): Promise<{ s: number; job: Job }> {
  for (;;) {
    const events = await store.listEvents(id);
    const done = events.filter((e) => e.to === 'completed');
    if (done.length >= completions) {
      const leased = events.filter((e) => e.to === 'leased').at(-1);
      const at = done.at(-1)?.at.getTime() ?? 0;
      return { s: (at - (leased?.at.getTime() ?? at)) / 1000, job: await store.get(id) };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const whole: number[] = [];
const one: number[] = [];
const wholeEncode: number[] = [];
const oneEncode: number[] = [];
const encodeWall = (job: Job) => parseCompletionResult(job.result)?.encode?.wallS ?? 0;
try {
  for (let i = 0; i < runs; i++) {
    const spec = jobSpecSchema.parse({
      source: { type: 'file', path: input },
      ladder: { ladder: 'default' },
    });
    const { id } = await store.submit({ spec, renditions: requestedRenditions(spec) });
    const a = await untilCompleted(id, 1);
    whole.push(a.s);
    wholeEncode.push(encodeWall(a.job));
    await store.retry(id, { renditions: ['720p'] });
    const b = await untilCompleted(id, 2);
    one.push(b.s);
    oneEncode.push(encodeWall(b.job));
    const states = b.job.renditions.map((r) => `${r.name}:${r.status}`).join(' ');
    console.log(
      `run ${i + 1}: whole ladder ${a.s.toFixed(2)} s (ffmpeg ${encodeWall(a.job).toFixed(2)} s), ` +
        `720p retry ${b.s.toFixed(2)} s (ffmpeg ${encodeWall(b.job).toFixed(2)} s); ${states}; load ${loadavg()[0]?.toFixed(1)}`,
    );
  }
  console.log('\n| measure (median) | claim → complete, s | ffmpeg ladder encode, s |');
  console.log('| --- | --- | --- |');
  console.log(
    `| whole default ladder (720p + 480p; 1080p skipped) | ${median(whole).toFixed(2)} | ${median(wholeEncode).toFixed(2)} |`,
  );
  console.log(
    `| retry of 720p only (480p kept) | ${median(one).toFixed(2)} | ${median(oneEncode).toFixed(2)} |`,
  );
  console.log(
    `| ratio retry / whole | ${(median(one) / median(whole)).toFixed(2)} | ${(median(oneEncode) / median(wholeEncode)).toFixed(2)} |`,
  );
} finally {
  await node.stop({ graceful: false });
  await store.close();
  await db.close();
  await rm(dir, { recursive: true, force: true });
}
