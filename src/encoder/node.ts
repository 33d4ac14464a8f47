import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isVidmeshError } from '../errors.js';
import type { Logger } from '../log.js';
import { type CodecSupport, type HwaccelReport, HwaccelUnavailableError } from '../media/index.js';
import { isLiveSpec } from '../protocol/live.js';
import type { StorageContext } from '../storage/index.js';
import { spanFromTraceparent, withSpan } from '../tracing.js';
import { backoffMs, sleep } from './backoff.js';
import { detectCapabilities, type HwaccelChoice } from './capabilities.js';
import { classifyFailure } from './classify.js';
import {
  CoordinatorRejectedError,
  EncoderStoppingError,
  JobCancelledError,
  LeaseLostError,
} from './errors.js';
import { runLiveJob } from './live-runner.js';
import { createGpuSampler, sampleHostReport } from './load.js';
import { runPipeline } from './pipeline.js';
import { JobReporter } from './reporter.js';
import { type CachedResult, ResultCache } from './result-cache.js';
import type {
  ClaimedJob,
  EncoderKind,
  EncoderRegistration,
  EncoderTransport,
  JobStage,
  LeaseRef,
} from './transport.js';

/** Report retry interval (ms) while the lease may still be alive. */
const FAST_REPORT_MS = 1000;

/** What happened on an encoder node; for logs, the CLI and tests. */
export type EncoderNodeEvent =
  | { type: 'registered'; encoderId: string }
  | { type: 'job-claimed'; jobId: string; attempt: number }
  | { type: 'job-stage'; jobId: string; stage: JobStage }
  | { type: 'job-completed'; jobId: string; result?: CachedResult['result'] }
  | { type: 'job-failed'; jobId: string; code: string; retryable: boolean }
  | { type: 'job-aborted'; jobId: string; reason: 'lease_lost' | 'cancelled' }
  | { type: 'job-released'; jobId: string }
  | { type: 'result-cached'; jobId: string }
  | { type: 'result-reported'; jobId: string; outcome: 'acknowledged' | 'lease_lost' };

export interface EncoderNodeOptions {
  transport: EncoderTransport;
  /** The vidmesh data dir; the node uses `<dataDir>/encoder/work/<jobId>` and `<dataDir>/encoder/results/`. */
  dataDir: string;
  /**
   * Storage context for `fetchSource`/`publish`. For an HTTP transport the node replaces `uploads` with
   * the coordinator's upload route and publishes `local` destinations through the agent outputs route.
   */
  storage: StorageContext;
  /** Registration name (default: host name). Same name + kind re-registers the same encoder. */
  name: string;
  kind?: EncoderKind;
  /** vidmesh version reported at registration. */
  version: string;
  /** Jobs at once (default 1). */
  concurrency?: number;
  /** Encoder backend choice passed to media's detectHwaccel (default `auto`). */
  hwaccel?: HwaccelChoice;
  /** Operator tags matched against jobs' required tags. */
  tags?: string[];
  /** Largest output height accepted (default 2160). */
  maxHeight?: number;
  log?: Logger;
  /** Minimum ms between two progress calls of one job (default 3000). */
  progressIntervalMs?: number;
  /** ms between heartbeats (default 10000). */
  heartbeatIntervalMs?: number;
  /** Long-poll wait of one claim in ms (default 25000, ≤ 30000). */
  claimWaitMs?: number;
  /** false: no claim loop, jobs are claimed only by {@link EncoderNode.claimNow} (default true). */
  autoClaim?: boolean;
  /** Backoff of completion-report retries in ms (default base 1000, cap 60000). */
  reportBackoff?: { baseMs: number; maxMs: number };
  /** Observer of node events (never throws into the node). */
  onEvent?(event: EncoderNodeEvent): void;
}

export interface StopOptions {
  /** true (default): stop claiming, release unstarted jobs, let encodes run up to `graceMs`. false: release all now. */
  graceful?: boolean;
  /** How long running encodes may finish in ms (default 60000). */
  graceMs?: number;
}

/** A running encoder node; see {@link startEncoderNode}. */
export interface EncoderNode {
  /** Resolves once registered and cached results were reported once; rejects only if stopped first. */
  readonly ready: Promise<void>;
  /** The id the coordinator assigned (undefined until registered). */
  readonly encoderId: string | undefined;
  /** Ids of the jobs running now. */
  activeJobs(): string[];
  /** Job ids with a completion report waiting for the coordinator. */
  pendingReports(): string[];
  /** Stops the node (see {@link StopOptions}); resolves when every job was finished or released. */
  stop(options?: StopOptions): Promise<void>;
  /**
   * Claims one job now (the running long-poll is cut short and resumes afterwards) and starts it,
   * waiting up to `waitMs` for one; null when none came, the node is full, not registered yet or
   * stopping. Claim errors are thrown (the transport's typed errors).
   */
  claimNow(waitMs: number): Promise<ClaimedJob | null>;
  /**
   * Stops a running job of this node and reports it failed with `error` (its `retryable` decides
   * whether it waits for another attempt). False when no such job runs here.
   */
  failJob(jobId: string, error: Error): boolean;
}

interface ActiveJob {
  job: ClaimedJob;
  lease: LeaseRef;
  controller: AbortController;
  encodeStarted: boolean;
  done: Promise<void>;
}

/**
 * Starts an encoder node: registers with detected capabilities (retrying while the coordinator is
 * unreachable), reports completion results left in the cache by an earlier run, heartbeats, and
 * long-poll claims up to `concurrency` jobs; each job runs the pipeline (fetch → probe → plan → encode →
 * publish → complete) in its own work dir.
 *
 * A 409 `lease_lost` or a `cancelled` progress answer aborts the job at once (ffmpeg's process group is
 * killed, the work dir removed, nothing reported). Failures are reported with `retryable` from
 * {@link classifyFailure}. A published job's completion is cached on disk before it is reported and
 * retried with exponential backoff until the coordinator acknowledges it, also after a restart.
 */
export function startEncoderNode(options: EncoderNodeOptions): EncoderNode {
  const { transport } = options;
  // Rebound to a child carrying `encoderId` once registered, so every later line names the node.
  let log = options.log;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const progressIntervalMs = options.progressIntervalMs ?? 3000;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 10_000;
  const claimWaitMs = Math.min(30_000, options.claimWaitMs ?? 25_000);
  const reportBackoff = options.reportBackoff ?? { baseMs: 1000, maxMs: 60_000 };
  const encoderDir = join(options.dataDir, 'encoder');
  const workRoot = join(encoderDir, 'work');
  const cache = new ResultCache(join(encoderDir, 'results'));

  const stopController = new AbortController();
  const active = new Map<string, ActiveJob>();
  const reports = new Map<
    string,
    { entry: CachedResult; controller: AbortController; done: Promise<void> }
  >();
  let encoderId: string | undefined;
  let hwaccel: HwaccelReport | undefined;
  let codecBackends: CodecSupport['backends'] | undefined;
  let registration: EncoderRegistration | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let slotFreed: (() => void) | undefined;
  let claimLoop: Promise<void> = Promise.resolve();
  // The loop's current long-poll (cut short by claimNow) and a claimNow in progress (the loop waits).
  let poll: AbortController | undefined;
  let manualClaim: Promise<unknown> | undefined;
  let stopping: Promise<void> | undefined;

  const emit = (event: EncoderNodeEvent) => {
    try {
      options.onEvent?.(event);
    } catch (err) {
      log?.warn({ err }, 'encoder event observer threw');
    }
  };

  async function register(): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      if (stopController.signal.aborted) throw new EncoderStoppingError('encoder stopped before registering');
      try {
        await mkdir(workRoot, { recursive: true });
        const detected = await detectCapabilities({
          dataDir: options.dataDir,
          hwaccel: options.hwaccel ?? 'auto',
          concurrency,
          tags: options.tags ?? [],
          maxHeight: options.maxHeight ?? 2160,
        });
        const capabilities = detected.capabilities;
        hwaccel = detected.hwaccel;
        codecBackends = detected.codecs.backends;
        registration = {
          name: options.name,
          kind: options.kind ?? (transport.kind === 'db' ? 'infrastructure' : 'community'),
          version: options.version,
          capabilities,
        };
        const { encoderId: id } = await transport.register(registration);
        log?.info({ encoderId: id, capabilities }, 'encoder registered');
        return id;
      } catch (err) {
        // A refused key or an explicit backend this machine lacks will not fix itself: give up.
        if (err instanceof CoordinatorRejectedError || err instanceof HwaccelUnavailableError) throw err;
        const wait = backoffMs(attempt, reportBackoff);
        log?.warn({ err: (err as Error).message, retryInMs: wait }, 'encoder registration failed');
        await sleep(wait, stopController.signal);
      }
    }
  }

  // Reports one cached completion; true when the coordinator settled it (acknowledged or 409).
  async function reportOnce(entry: CachedResult): Promise<boolean> {
    const lease = { jobId: entry.jobId, leaseToken: entry.leaseToken };
    try {
      await withSpan('encoder.complete', { 'vidmesh.job.id': entry.jobId }, () =>
        transport.complete(entry.encoderId, lease, entry.result),
      );
      await cache.delete(entry.jobId);
      log?.info({ jobId: entry.jobId }, 'completion acknowledged');
      emit({ type: 'result-reported', jobId: entry.jobId, outcome: 'acknowledged' });
      return true;
    } catch (err) {
      if (err instanceof LeaseLostError) {
        // Someone else owns the job now (rescued while we could not report): their result counts.
        await cache.delete(entry.jobId);
        log?.warn(
          { jobId: entry.jobId, err: err.message },
          'cached result refused: job owned by another lease',
        );
        emit({ type: 'result-reported', jobId: entry.jobId, outcome: 'lease_lost' });
        return true;
      }
      log?.warn({ jobId: entry.jobId, err: (err as Error).message }, 'completion report failed; will retry');
      return false;
    }
  }

  // While the lease may still be alive, a report that gets through keeps the job ours, and the
  // coordinator's sweeper rescues it the moment the lease ends: retry about every second until then
  // (a capped backoff could sleep past the end of the lease). Afterwards, the normal backoff.
  function reportDelayMs(attempt: number, entry: CachedResult): number {
    const delay = backoffMs(attempt, reportBackoff);
    const leaseEnd = entry.leaseExpiresAt ? Date.parse(entry.leaseExpiresAt) : Number.NaN;
    return Date.now() < leaseEnd ? Math.min(delay, FAST_REPORT_MS) : delay;
  }

  // Background retries of one cached report, until settled or the node stops (the file stays on disk).
  function retryReport(entry: CachedResult): void {
    const existing = reports.get(entry.jobId);
    if (existing) existing.controller.abort();
    const controller = new AbortController();
    const done = (async () => {
      for (let attempt = 0; !controller.signal.aborted; attempt++) {
        await sleep(reportDelayMs(attempt, entry), controller.signal);
        if (controller.signal.aborted) return;
        if (await reportOnce(entry)) break;
      }
      if (reports.get(entry.jobId)?.controller === controller) reports.delete(entry.jobId);
    })();
    reports.set(entry.jobId, { entry, controller, done });
  }

  async function reportCachedResults(): Promise<void> {
    const { entries, corrupt } = await cache.list();
    for (const name of corrupt) log?.error({ file: name }, 'unreadable cached result skipped');
    const settled = await Promise.all(entries.map((e) => reportOnce(e)));
    entries.forEach((e, i) => {
      if (!settled[i]) retryReport(e);
    });
  }

  const gpu = createGpuSampler();
  const heartbeat = async (id: string): Promise<void> => {
    // Any NVIDIA GPU counts (NVDEC/CUDA work without NVENC too); without nvidia-smi the sampler stops.
    const report = await sampleHostReport(gpu);
    await transport.heartbeat(id, [...active.keys()], report).catch(async (err: unknown) => {
      log?.warn({ err: (err as Error).message }, 'heartbeat failed');
      // The coordinator forgot us (database reset, purged row): register again. The id is derived
      // from kind + name (or the DID), so it comes back the same and running leases stay valid.
      if (registration && isNotFound(err)) {
        const again = await transport.register(registration).catch(() => undefined);
        if (again) log?.info({ encoderId: again.encoderId }, 'encoder registered again');
      }
    });
  };

  function startHeartbeats(): void {
    // The first one at once, so the fleet view shows host and load without waiting an interval.
    if (encoderId) void heartbeat(encoderId);
    heartbeatTimer = setInterval(() => {
      if (encoderId) void heartbeat(encoderId);
    }, heartbeatIntervalMs);
    heartbeatTimer.unref();
  }

  async function runClaimLoop(id: string): Promise<void> {
    const signal = stopController.signal;
    for (let failures = 0; !signal.aborted; ) {
      if (active.size >= concurrency) {
        await new Promise<void>((resolve) => {
          // One listener per wait, removed again: a long-running node must not pile them up.
          const done = () => {
            signal.removeEventListener('abort', done);
            slotFreed = undefined;
            resolve();
          };
          slotFreed = done;
          signal.addEventListener('abort', done, { once: true });
        });
        continue;
      }
      if (manualClaim) {
        await manualClaim.catch(() => undefined);
        continue;
      }
      let job: ClaimedJob | null;
      poll = new AbortController();
      try {
        job = await transport.claim(id, claimWaitMs, AbortSignal.any([signal, poll.signal]));
        failures = 0;
      } catch (err) {
        if (poll.signal.aborted && !signal.aborted) continue;
        const wait = backoffMs(failures++, { baseMs: 500, maxMs: 15_000 });
        log?.warn({ err: (err as Error).message, retryInMs: wait }, 'claim failed');
        await sleep(wait, signal);
        continue;
      }
      if (!job) continue;
      if (signal.aborted || manualClaim) {
        // Claimed while stopping (or while a claimNow took the slot): give it straight back, no
        // attempt counted.
        await releaseQuietly(
          id,
          { jobId: job.id, leaseToken: job.leaseToken },
          signal.aborted ? 'encoder stopping' : 'slot taken by a direct claim',
        );
        if (signal.aborted) break;
        continue;
      }
      startJob(id, job);
    }
  }

  async function releaseQuietly(id: string, lease: LeaseRef, reason: string): Promise<void> {
    try {
      await transport.release(id, lease, reason);
      emit({ type: 'job-released', jobId: lease.jobId });
      log?.info({ jobId: lease.jobId, reason }, 'job released');
    } catch (err) {
      log?.warn({ jobId: lease.jobId, err: (err as Error).message }, 'release failed; the lease will expire');
    }
  }

  function startJob(id: string, job: ClaimedJob): void {
    const lease = { jobId: job.id, leaseToken: job.leaseToken };
    const controller = new AbortController();
    const entry: ActiveJob = { job, lease, controller, encodeStarted: false, done: Promise.resolve() };
    active.set(job.id, entry);
    emit({ type: 'job-claimed', jobId: job.id, attempt: job.attempt });
    log?.info({ jobId: job.id, attempt: job.attempt }, 'job claimed');
    entry.done = runJob(id, entry).finally(() => {
      active.delete(job.id);
      slotFreed?.();
      slotFreed = undefined;
    });
  }

  // One span per job attempt, in the job's trace (the claim's traceparent): the stage spans of the
  // pipeline and the lease calls made while it runs become its children.
  function runJob(id: string, entry: ActiveJob): Promise<void> {
    return spanFromTraceparent(
      entry.job.traceparent,
      'encoder.job',
      { 'vidmesh.job.id': entry.job.id, 'vidmesh.job.attempt': entry.job.attempt, 'vidmesh.encoder.id': id },
      () => runJobInSpan(id, entry),
    );
  }

  async function runJobInSpan(id: string, entry: ActiveJob): Promise<void> {
    const { job, lease, controller } = entry;
    const jobLog = log?.child({ jobId: job.id });
    const reporter = new JobReporter({
      transport,
      encoderId: id,
      lease,
      leaseExpiresAt: job.leaseExpiresAt,
      intervalMs: progressIntervalMs,
      log: jobLog,
      onLeaseLost: (err) => controller.abort(err),
      onCancelled: () => controller.abort(new JobCancelledError(`job ${job.id} was cancelled`)),
    });
    const workDir = join(workRoot, job.id);

    // A job whose outputs were already published by us (its report is still pending) is completed with
    // the new lease: never re-encode a finished job because a report failed.
    const pending = reports.get(job.id);
    if (pending) {
      pending.controller.abort();
      reports.delete(job.id);
      await finish({ ...pending.entry, encoderId: id, leaseToken: job.leaseToken }, jobLog);
      return;
    }

    reporter.start();
    try {
      await rm(workDir, { recursive: true, force: true });
      await mkdir(workDir, { recursive: true });
      // ---- live (issue 23): a live job runs the live runner for as long as its stream lasts ----
      const result = isLiveSpec(job.spec)
        ? await runLiveJob({
            job,
            workDir,
            signal: controller.signal,
            reporter,
            transport,
            lease,
            ...(jobLog ? { log: jobLog } : {}),
          })
        : await runPipeline({
            job,
            workDir,
            signal: controller.signal,
            reporter,
            storage: options.storage,
            transport,
            lease,
            hwaccel: hwaccel!,
            codecBackends,
            log: jobLog,
            onStage: (stage) => {
              if (stage === 'encoding') entry.encodeStarted = true;
              emit({ type: 'job-stage', jobId: job.id, stage });
            },
          });
      await reporter.flush();
      await finish(
        {
          jobId: job.id,
          encoderId: id,
          leaseToken: job.leaseToken,
          result,
          finishedAt: new Date().toISOString(),
          leaseExpiresAt: reporter.leaseExpiresAt,
        },
        jobLog,
      );
    } catch (err) {
      const logs = await reporter.stop();
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
      if (reason instanceof LeaseLostError || reason instanceof JobCancelledError) {
        const why = reason instanceof LeaseLostError ? 'lease_lost' : 'cancelled';
        jobLog?.warn({ reason: why }, 'job aborted; work discarded');
        emit({ type: 'job-aborted', jobId: job.id, reason: why });
      } else if (reason instanceof EncoderStoppingError) {
        await releaseQuietly(id, lease, reason.message);
      } else {
        // A failure asked for from outside (failJob) is reported as given, not as the abort it caused.
        const failure = classifyFailure(reason ?? err);
        jobLog?.error(
          { code: failure.code, retryable: failure.retryable, err: failure.message },
          'job failed',
        );
        emit({ type: 'job-failed', jobId: job.id, code: failure.code, retryable: failure.retryable });
        try {
          await transport.fail(id, lease, {
            error: { code: failure.code, message: failure.message },
            retryable: failure.retryable,
            logs: [...logs, ...reporter.tail()].slice(-100),
          });
        } catch (failErr) {
          jobLog?.warn(
            { err: (failErr as Error).message },
            'fail report not delivered; the lease will expire',
          );
        }
      }
    } finally {
      await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  // Caches a published job's completion, then reports it; on failure keeps retrying in the background.
  async function finish(entry: CachedResult, jobLog: Logger | undefined): Promise<void> {
    try {
      await cache.put(entry);
      emit({ type: 'result-cached', jobId: entry.jobId });
    } catch (err) {
      jobLog?.error({ err: (err as Error).message }, 'could not cache the result; reporting it directly');
    }
    if (await reportOnce(entry)) {
      emit({ type: 'job-completed', jobId: entry.jobId, result: entry.result });
      return;
    }
    if (!stopController.signal.aborted) retryReport(entry);
  }

  const ready = (async () => {
    encoderId = await register();
    log = options.log?.child({ encoderId });
    emit({ type: 'registered', encoderId });
    await reportCachedResults();
    if (stopController.signal.aborted) return;
    startHeartbeats();
    if (options.autoClaim === false) return;
    claimLoop = runClaimLoop(encoderId).catch((err: unknown) => {
      log?.error({ err }, 'claim loop crashed');
    });
  })();
  // `ready` may reject when stopped before registering; callers that never await it must not crash.
  ready.catch(() => undefined);

  async function stop(stopOptions: StopOptions = {}): Promise<void> {
    const graceful = stopOptions.graceful ?? true;
    const graceMs = graceful ? (stopOptions.graceMs ?? 60_000) : 0;
    stopController.abort(new EncoderStoppingError('encoder stopping'));
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    await claimLoop;
    const stopJob = (j: ActiveJob) => j.controller.abort(new EncoderStoppingError('encoder shutting down'));
    for (const j of active.values()) if (!j.encodeStarted || graceMs === 0) stopJob(j);
    const all = Promise.all([...active.values()].map((j) => j.done));
    if (graceMs > 0 && active.size > 0) {
      const graceOver = new AbortController();
      await Promise.race([all, sleep(graceMs, graceOver.signal)]);
      graceOver.abort();
      for (const j of active.values()) stopJob(j);
    }
    await all;
    // Finished jobs whose report is still pending stay in the cache for the next start.
    for (const r of reports.values()) r.controller.abort();
    await Promise.all([...reports.values()].map((r) => r.done));
    await transport.close?.();
  }

  return {
    ready,
    get encoderId() {
      return encoderId;
    },
    activeJobs: () => [...active.keys()],
    pendingReports: () => [...reports.keys()],
    async claimNow(waitMs) {
      const id = encoderId;
      if (!id || stopController.signal.aborted || manualClaim || active.size >= concurrency) return null;
      const claiming = (async () => {
        poll?.abort();
        const job = await transport.claim(id, waitMs, stopController.signal);
        if (!job) return null;
        if (stopController.signal.aborted) {
          await releaseQuietly(id, { jobId: job.id, leaseToken: job.leaseToken }, 'encoder stopping');
          return null;
        }
        startJob(id, job);
        return job;
      })();
      manualClaim = claiming;
      try {
        return await claiming;
      } finally {
        manualClaim = undefined;
      }
    },
    failJob(jobId, error) {
      const entry = active.get(jobId);
      if (!entry) return false;
      entry.controller.abort(error);
      return true;
    },
    stop(stopOptions) {
      // A second, forced stop (second SIGTERM) cuts the grace period short.
      if (stopping && stopOptions?.graceful === false) {
        for (const j of active.values()) j.controller.abort(new EncoderStoppingError('encoder stopping now'));
      }
      stopping ??= stop(stopOptions);
      return stopping;
    },
  };
}

function isNotFound(err: unknown): boolean {
  if (!isVidmeshError(err)) return false;
  return (
    err.code === 'encoder_not_found' ||
    err.details?.code === 'encoder_not_found' ||
    err.details?.status === 404
  );
}
