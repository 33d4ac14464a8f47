import { mkdir, rm } from 'node:fs/promises';
import {
  type ChunkTaskInput,
  claimStitch,
  createChunkTasks,
  listChildren,
  STITCH_TAG,
  sweepChunkedJobs,
} from '../jobs/chunks.js';
import type { Queryable } from '../jobs/db.js';
import type { Claim, Job, JobStore } from '../jobs/index.js';
import type { JobSpec } from '../jobs/spec.js';
import type { Logger } from '../log.js';
import {
  type ChunkingDefaults,
  type ChunkPlan,
  DEFAULT_CHUNKING,
  type ProbeResult,
  planChunks,
  planLadder,
  probe,
  stitchLadder,
} from '../media/index.js';
import { type StorageContext, safeJoin } from '../storage/index.js';
import { uploadPath } from './routes/uploads.js';
import { publishStaged } from './staging.js';

/**
 * Chunked encoding on the coordinator (docs/chunking.md): the split at submit (probe the source,
 * plan chunks of whole segments, create the chunk tasks) and the stitcher (lease a parent whose chunk
 * tasks all completed, join their outputs, publish to the job's destination, complete).
 */

/** Lease owner of stitches in the audit trail; not an encoder row. */
export const STITCHER_ID = 'coordinator:stitch';

export interface ChunkingDeps {
  db: Queryable;
  /** `<dataDir>/uploads`: upload sources are probed here (the only sources split today). */
  uploadsDir: string;
  defaults?: ChunkingDefaults;
  log?: Logger;
}

/** A split decided at submit: the chunks, the source duration and the tags the parent is stored with. */
export interface SplitDecision {
  plan: ChunkPlan;
  durationS: number;
}

/**
 * Whether a submitted spec is split, and how: only `upload` sources (the coordinator probes its own
 * file; other sources are never fetched at submit), MPEG-TS ladders with video, no `short` trim.
 * Any probe or planning failure means "not split": the job then runs whole, as before. `probed`: the
 * source's probe when the caller already has it (submit probes upload sources once).
 */
export async function decideSplit(
  deps: ChunkingDeps,
  spec: JobSpec,
  probed?: ProbeResult,
): Promise<SplitDecision | null> {
  const option = spec.chunking ?? 'auto';
  if (option === 'off' || spec.source.type !== 'upload' || spec.protocol === '3speak' || spec.outputs)
    return null;
  try {
    const info = probed ?? (await probe(await uploadPath(deps.uploadsDir, spec.source.id)));
    const ladder = planLadder(info, spec.ladder ?? {});
    // The stitcher joins H.264/TS HLS chunks: fMP4 (HEVC, AV1, VP9, DASH) and storyboard ladders run whole.
    if (ladder.kind !== 'video' || ladder.format !== 'ts' || ladder.trimS !== undefined) return null;
    if (ladder.dash || ladder.storyboard) return null;
    const plan = planChunks(
      info.durationS,
      ladder.segmentDuration,
      option,
      deps.defaults ?? DEFAULT_CHUNKING,
    );
    return plan ? { plan, durationS: info.durationS } : null;
  } catch (err) {
    deps.log?.warn({ err }, 'chunking: the source could not be planned; the job runs unsplit');
    return null;
  }
}

/** Required tags a split parent is stored with: the spec's and the stitch tag (no encoder claims it). */
export function splitTags(tags: readonly string[] | undefined): string[] {
  return [...(tags ?? []), STITCH_TAG];
}

/**
 * Creates the chunk tasks of a split parent: one audio task (index -1, whole duration) and one video
 * task per chunk. Each gets the parent's spec with its `chunk` part, a `local` destination (the
 * coordinator's media folder, where the stitcher reads it) and no per-job webhook. `seal` seals the
 * task spec as the parent's was. Idempotent (a resubmit with the same Idempotency-Key adds nothing).
 */
export async function createSplitTasks(
  deps: ChunkingDeps,
  parent: Job,
  spec: JobSpec,
  split: SplitDecision,
  renditions: string[],
  seal: (spec: JobSpec) => unknown = (s) => s,
): Promise<number> {
  if (!parent.requirements.tags.includes(STITCH_TAG)) return 0;
  const { webhook: _webhook, chunking: _chunking, ...base } = spec;
  const task = (chunk: NonNullable<JobSpec['chunk']>): JobSpec => ({
    ...base,
    destination: { type: 'local' },
    chunk,
  });
  const tasks: ChunkTaskInput[] = [
    {
      chunkIndex: -1,
      durationS: split.durationS,
      renditions: ['audio'],
      spec: seal(
        task({ parentId: parent.id, role: 'audio', index: -1, startS: 0, durationS: split.durationS }),
      ),
    },
    ...split.plan.chunks.map((c) => ({
      chunkIndex: c.index,
      durationS: c.durationS,
      renditions,
      spec: seal(
        task({
          parentId: parent.id,
          role: 'video',
          index: c.index,
          startS: c.startS,
          durationS: c.durationS,
          ...(c.prerollS > 0 ? { prerollS: c.prerollS } : {}),
        }),
      ),
    })),
  ];
  return createChunkTasks(deps.db, parent.id, tasks, { actor: 'coordinator' });
}

export interface StitcherDeps extends ChunkingDeps {
  store: Pick<JobStore, 'renew' | 'complete' | 'fail' | 'appendLogs'>;
  /** `<dataDir>/stitch`: work folders, one per parent. */
  workRoot: string;
  storage: () => StorageContext;
  openSpec?: (spec: unknown) => unknown;
  /** Lease of a stitch, ms (default 60 000); renewed every third of it while the stitch runs. */
  leaseMs?: number;
  /** How often split jobs are looked at, ms (default 1000). */
  intervalMs?: number;
}

/**
 * Starts the stitcher: every `intervalMs` it dead-letters parents with a dead chunk task, cancels
 * the chunk tasks of cancelled parents, and stitches each parent whose chunk tasks all completed. Safe
 * to run in every coordinator sharing the database (parents are leased with SKIP LOCKED). Returns stop.
 */
export function startChunkStitcher(deps: StitcherDeps): { stop(): Promise<void> } {
  const intervalMs = deps.intervalMs ?? 1000;
  const leaseMs = deps.leaseMs ?? 60_000;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    await sweepChunkedJobs(deps.db);
    for (;;) {
      if (stopped) return;
      const claim = await claimStitch(deps.db, STITCHER_ID, leaseMs);
      if (!claim) return;
      await stitchJob(deps, claim, leaseMs);
    }
  };
  const timer = setInterval(() => {
    running = running.then(tick).catch((err) => deps.log?.error({ err }, 'chunking: stitcher tick failed'));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/** Stitches one leased parent, publishes it and completes it; on failure fails it (the store retries). */
async function stitchJob(deps: StitcherDeps, claim: Claim, leaseMs: number): Promise<void> {
  const { store } = deps;
  const job = claim.job;
  const token = claim.leaseToken;
  const keepAlive = setInterval(
    () => void store.renew(job.id, token, STITCHER_ID).catch(() => undefined),
    Math.max(1000, leaseMs / 3),
  );
  const work = safeJoin(deps.workRoot, job.id);
  const logLine = (line: string) =>
    store.appendLogs(job.id, token, STITCHER_ID, [`[stitch] ${line}`]).catch(() => undefined);
  try {
    const spec = (deps.openSpec ? deps.openSpec(job.spec) : job.spec) as JobSpec;
    const children = await listChildren(deps.db, job.id);
    const local = deps.storage().localRoot;
    const audio = children.find((c) => c.chunkIndex === -1);
    const videos = children.filter((c) => (c.chunkIndex ?? -1) >= 0);
    if (!audio || videos.length === 0) throw new Error(`job ${job.id} has no complete set of chunk tasks`);
    if (spec.source.type !== 'upload') throw new Error('only upload sources are split');
    const info = await probe(await uploadPath(deps.uploadsDir, spec.source.id));
    const plan = planLadder(info, spec.ladder ?? {});
    await logLine(`${videos.length} video chunks + audio, ${plan.encode.join(', ')}`);
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    const encoded = await stitchLadder(
      plan,
      { chunkDirs: videos.map((c) => safeJoin(local, c.id)), audioDir: safeJoin(local, audio.id) },
      work,
    );
    await logLine(`stitched in ${encoded.encodeWallS.toFixed(2)} s; publishing to ${spec.destination.type}`);
    const published = await publishStaged({
      jobId: job.id,
      spec,
      stagingRoot: deps.workRoot,
      storage: deps.storage(),
      reported: { masterUrl: encoded.master, ...(encoded.poster ? { posterUrl: encoded.poster } : {}) },
    });
    const encodeSeconds = children.reduce((s, c) => s + (encodeWallOf(c) ?? 0), 0);
    const result = {
      renditions: encoded.renditions,
      ...published,
      encode: {
        backend: 'chunked',
        fallbacks: [],
        wallS: encoded.encodeWallS,
        speed: encoded.speed,
        renditions: encoded.encoded,
      },
      chunks: {
        count: videos.length,
        audioJobId: audio.id,
        chunkJobIds: videos.map((c) => c.id),
        encodeSeconds,
      },
    };
    await store.complete(job.id, token, STITCHER_ID, {
      result,
      renditions: encoded.renditions.map((r) => ({ name: r.name, status: 'completed', result: r })),
      encodeSeconds: encoded.encodeWallS,
    });
    // The chunk outputs served their purpose; the chunk tasks stay as the audit trail.
    for (const c of children) await rm(safeJoin(local, c.id), { recursive: true, force: true });
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; retryable?: unknown };
    deps.log?.warn({ err, jobId: job.id }, 'chunking: stitch failed');
    await logLine(`failed: ${String(e.message ?? err)}`);
    await store
      .fail(
        job.id,
        token,
        STITCHER_ID,
        { code: typeof e.code === 'string' ? e.code : 'stitch_failed', message: String(e.message ?? err) },
        { retryable: e.retryable !== false },
      )
      .catch(() => undefined);
  } finally {
    clearInterval(keepAlive);
    await rm(work, { recursive: true, force: true });
  }
}

const encodeWallOf = (job: Job): number | undefined =>
  (job.result as { encode?: { wallS?: number } } | null)?.encode?.wallS;
