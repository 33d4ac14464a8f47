/**
 * A vidmesh encoder working for a 3Speak gateway (`vidmesh encoder --protocol 3speak`): polls
 * `myJob` (or `getJob` on old gateways), checks the Gateway Monitor before claiming and during the
 * encode, `acceptJob`, downloads the source, encodes the 3Speak ladder (1080p/720p/480p, never
 * upscaled; 480p for shorts) in the 3Speak layout with vidmesh's media pipeline, reports progress with
 * `pingJob` (throttled; the first ping is awaited), adds the output to kubo (`add`, wrap-with-directory,
 * CID checked against the one computed locally) and reports `finishJob {job_id, output: {cid}}`.
 * Completions the gateway did not acknowledge are kept on disk and retried. Failures go to `failJob`
 * with `retryable`; on shutdown unstarted/interrupted jobs are handed back with `rejectJob`. Losing the
 * job (ping answered 409, or the Monitor shows another DID) aborts ffmpeg at once.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { classifyFailure } from '../../encoder/index.js';
import type { Identity } from '../../identity/index.js';
import type { Logger } from '../../log.js';
import { type Backend, encodeLadder, planLadder, probe } from '../../media/index.js';
import { addDirectory, fetchSource, type SourceRef, type StorageContext } from '../../storage/index.js';
import { pushToKubo } from '../../storage/ipfs.js';
import {
  createGatewayClient,
  createMonitorClient,
  type GatewayClient,
  GatewayRejectedError,
  GatewayUnavailableError,
  sameDid,
} from './client.js';
import { type GatewayJob, LEGACY_PROFILES } from './legacy.js';

export interface ThreeSpeakEncoderOptions {
  gatewayUrl: string;
  identity: Identity;
  /** kubo RPC base URL uploads go to (`IPFS_API_ADDR`, converted from a multiaddr). */
  kuboApiUrl: string;
  /** Gateway Monitor base URL; absent: no pre-claim or ownership checks. */
  monitorUrl?: string;
  /** Working directory: `work/` (per-job temp folders) and `results/` (unacknowledged completions). */
  dataDir: string;
  storage: StorageContext;
  hiveUsername: string;
  nodeName: string;
  version: string;
  /** Jobs encoded at once (`MAX_CONCURRENT_JOBS`, default 1). */
  concurrency?: number;
  /** Poll `getJob` instead of `myJob` (gateways before the Feb 2026 auto-assignment). */
  legacyPoll?: boolean;
  /** Idle poll interval, ms (default 10 000). */
  pollIntervalMs?: number;
  /** Minimum interval between progress pings, ms (default 5 000). */
  pingIntervalMs?: number;
  /** Ownership re-check through the Monitor during the encode, ms (default 15 000). */
  ownershipCheckMs?: number;
  /** Retry interval of unacknowledged completions, ms (default 5 000, doubling to 5 min). */
  finishRetryMs?: number;
  /** x264 speed preset (default `veryfast`). */
  speed?: 'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast' | 'medium';
  hwaccel?: Backend | Backend[];
  log?: Logger;
}

export type ThreeSpeakEncoderEvent =
  | { type: 'claimed'; jobId: string }
  | { type: 'skipped'; jobId: string; reason: string }
  | { type: 'completed'; jobId: string; cid: string }
  | { type: 'finish_cached'; jobId: string; cid: string }
  | { type: 'finish_reported'; jobId: string; cid: string }
  | { type: 'failed'; jobId: string; code: string; retryable: boolean }
  | { type: 'lost'; jobId: string; reason: string }
  | { type: 'rejected'; jobId: string };

export interface ThreeSpeakEncoder {
  readonly did: string;
  /** Subscribe to job events (tests, logs). Returns unsubscribe. */
  on(listener: (e: ThreeSpeakEncoderEvent) => void): () => void;
  /** Stops polling; running encodes are aborted and handed back with `rejectJob`. */
  stop(): Promise<void>;
}

class OwnershipLostError extends Error {}

interface PendingFinish {
  jobId: string;
  cid: string;
  finishedAt: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/** The legacy rendition names to encode for a source of display height `height`. */
export function legacyRenditions(height: number, short: boolean): string[] {
  if (short) return ['480p'];
  const fit = LEGACY_PROFILES.filter((p) => p.height <= height).map((p) => p.name);
  return fit.length > 0 ? fit : ['480p'];
}

/** Source reference of a gateway job's `input.uri` (`ipfs://CID[/path]`, `/ipfs/CID`, or http(s)). */
export function sourceOf(uri: string): SourceRef {
  if (/^ipfs:\/\//i.test(uri) || uri.startsWith('/ipfs/')) return { type: 'ipfs', url: uri } as SourceRef;
  if (/^https?:\/\//i.test(uri)) return { type: 'http', url: uri } as SourceRef;
  throw new GatewayRejectedError(`unsupported input uri scheme: ${uri.slice(0, 40)}`, 400);
}

/** What {@link encodeToKubo} needs from the encoder options. */
export type EncodeToKuboOptions = Pick<
  ThreeSpeakEncoderOptions,
  'storage' | 'kuboApiUrl' | 'speed' | 'hwaccel' | 'log'
>;

/**
 * Downloads `uri`, encodes the 3Speak ladder in the 3Speak layout under `work/out` (`full`: every
 * legacy rendition the source allows, else 480p only; `short`: 480p, first 60 s), computes the
 * directory CID as kubo would and adds the folder to kubo (root CID checked). `onProgress(pct,
 * downloadPct)` is called with percentages. Returns the CID and the renditions encoded.
 */
export async function encodeToKubo(
  opts: EncodeToKuboOptions,
  job: {
    uri: string;
    short: boolean;
    full: boolean;
    work: string;
    signal: AbortSignal;
    onProgress: (pct: number, downloadPct: number) => void;
  },
): Promise<{ cid: string; renditions: string[] }> {
  const input = join(job.work, 'source');
  await fetchSource(sourceOf(job.uri), input, opts.storage, {
    signal: job.signal,
    onProgress: (bytes, total) => job.onProgress(1, total ? Math.round((bytes / total) * 100) : 0),
  });
  const probed = await probe(input);
  const speed = opts.speed ?? 'veryfast';
  const full = planLadder(probed, { layout: '3speak', short: job.short, speed });
  // The plan never upscales; keep the 3Speak names it contains (the legacy fixed ladder).
  const legacy = job.full ? legacyRenditions(Number.POSITIVE_INFINITY, job.short) : ['480p'];
  const names = full.renditions.map((r) => r.name).filter((n) => legacy.includes(n));
  const plan = planLadder(probed, {
    layout: '3speak',
    short: job.short,
    speed,
    only: names.length > 0 ? names : full.encode,
    poster: false,
    thumbnail: false,
  });
  const out = join(job.work, 'out');
  await encodeLadder(plan, out, {
    signal: job.signal,
    hwaccel: opts.hwaccel,
    log: opts.log,
    onProgress: (p) => job.onProgress(Math.min(99, Math.max(1, p.percent)), 100),
  });
  const computed = await addDirectory(out, { put: async (c) => c });
  const cid = computed.cid.toString();
  await pushToKubo(out, [...computed.files.keys()], opts.kuboApiUrl, cid, opts.storage, job.signal);
  return { cid, renditions: plan.encode };
}

/** Starts the encoder loop(s). Call `stop()` to end them. */
export function startThreeSpeakEncoder(opts: ThreeSpeakEncoderOptions): ThreeSpeakEncoder {
  const gw: GatewayClient = createGatewayClient({ baseUrl: opts.gatewayUrl, identity: opts.identity });
  const monitor = opts.monitorUrl ? createMonitorClient({ baseUrl: opts.monitorUrl }) : undefined;
  const log = opts.log;
  const listeners = new Set<(e: ThreeSpeakEncoderEvent) => void>();
  const emit = (e: ThreeSpeakEncoderEvent) => {
    for (const l of listeners) l(e);
  };
  const stopping = new AbortController();
  const running = new Map<string, AbortController>();
  const resultsDir = join(opts.dataDir, 'results');
  const pollMs = opts.pollIntervalMs ?? 10_000;
  const pingMs = opts.pingIntervalMs ?? 5_000;
  const checkMs = opts.ownershipCheckMs ?? 15_000;

  async function cachePut(p: PendingFinish): Promise<void> {
    await mkdir(resultsDir, { recursive: true });
    const tmp = join(resultsDir, `.${randomUUID()}.tmp`);
    await writeFile(tmp, JSON.stringify(p), { mode: 0o600 });
    await rename(tmp, join(resultsDir, `${encodeURIComponent(p.jobId)}.json`));
  }
  async function cacheList(): Promise<PendingFinish[]> {
    const names = await readdir(resultsDir).catch(() => [] as string[]);
    const out: PendingFinish[] = [];
    for (const n of names) {
      if (!n.endsWith('.json') || n.startsWith('.')) continue;
      try {
        out.push(JSON.parse(await readFile(join(resultsDir, n), 'utf8')) as PendingFinish);
      } catch {
        // a corrupt entry is skipped; the gateway rescues that job after its lease
      }
    }
    return out;
  }
  const cacheDelete = (jobId: string) =>
    rm(join(resultsDir, `${encodeURIComponent(jobId)}.json`), { force: true });

  /** Reports cached completions until each is acknowledged (or refused: someone else's now). */
  async function finishRetryLoop(): Promise<void> {
    let delay = opts.finishRetryMs ?? 5_000;
    while (!stopping.signal.aborted) {
      const pending = await cacheList();
      let failed = false;
      for (const p of pending) {
        try {
          await gw.finishJob(p.jobId, p.cid);
          await cacheDelete(p.jobId);
          emit({ type: 'finish_reported', jobId: p.jobId, cid: p.cid });
        } catch (err) {
          if (err instanceof GatewayRejectedError) {
            log?.warn({ jobId: p.jobId, err: err.message }, 'cached completion refused; dropping it');
            await cacheDelete(p.jobId);
          } else failed = true;
        }
      }
      delay = failed ? Math.min(delay * 2, 300_000) : (opts.finishRetryMs ?? 5_000);
      await sleep(delay, stopping.signal);
    }
  }

  async function ownedByOther(jobId: string): Promise<string | null> {
    if (!monitor) return null;
    try {
      const j = await monitor.job(jobId);
      if (!j) return 'job not found in the Gateway Monitor';
      if (j.assigned_to && !sameDid(j.assigned_to, gw.did)) return `assigned to ${j.assigned_to}`;
      if (['complete', 'failed', 'cancelled'].includes(j.status)) return `job is ${j.status}`;
      return null;
    } catch (err) {
      // The Monitor is an extra check: when it is down the gateway's own answers decide.
      log?.warn({ jobId, err: (err as Error).message }, 'gateway monitor unavailable');
      return null;
    }
  }

  async function runJob(job: GatewayJob): Promise<void> {
    const pre = await ownedByOther(job.id);
    if (pre && !(job.assigned_to && sameDid(job.assigned_to, gw.did))) {
      emit({ type: 'skipped', jobId: job.id, reason: pre });
      return;
    }
    try {
      await gw.acceptJob(job.id);
    } catch (err) {
      emit({ type: 'skipped', jobId: job.id, reason: (err as Error).message });
      return;
    }
    emit({ type: 'claimed', jobId: job.id });
    const abort = new AbortController();
    running.set(job.id, abort);
    const work = await mkdtemp(join(opts.dataDir, 'work-'));
    let lost: string | undefined;
    const lose = (reason: string) => {
      if (lost) return;
      lost = reason;
      abort.abort(new OwnershipLostError(reason));
    };
    let lastPing = 0;
    let pinging: Promise<void> | undefined;
    const ping = (pct: number, dl: number) => {
      const now = Date.now();
      if (pinging || now - lastPing < pingMs) return;
      lastPing = now;
      pinging = gw
        .pingJob(job.id, pct, dl)
        .catch((err) => {
          if (err instanceof GatewayRejectedError) lose(`pingJob refused: ${err.message}`);
        })
        .finally(() => {
          pinging = undefined;
        });
    };
    const checker = monitor
      ? setInterval(() => {
          void ownedByOther(job.id).then((reason) => {
            if (reason) lose(`Gateway Monitor: ${reason}`);
          });
        }, checkMs)
      : undefined;
    try {
      // The first ping is awaited: it moves the job to running before any slow work starts.
      lastPing = Date.now();
      await gw.pingJob(job.id, 1, 0);
      const { cid } = await encodeToKubo(opts, {
        uri: job.input.uri,
        short: (job as { short?: boolean }).short === true,
        full: true,
        work,
        signal: abort.signal,
        onProgress: ping,
      });
      if (lost) throw new OwnershipLostError(lost);
      emit({ type: 'completed', jobId: job.id, cid });
      try {
        await gw.finishJob(job.id, cid);
        emit({ type: 'finish_reported', jobId: job.id, cid });
      } catch (err) {
        if (!(err instanceof GatewayUnavailableError)) throw err;
        // Published already: only the report is retried, never the encode.
        await cachePut({ jobId: job.id, cid, finishedAt: new Date().toISOString() });
        emit({ type: 'finish_cached', jobId: job.id, cid });
      }
    } catch (err) {
      if (lost || err instanceof OwnershipLostError) {
        emit({ type: 'lost', jobId: job.id, reason: lost ?? (err as Error).message });
      } else if (stopping.signal.aborted) {
        await gw.rejectJob(job.id).catch(() => {});
        emit({ type: 'rejected', jobId: job.id });
      } else {
        const f = classifyFailure(err);
        log?.warn({ jobId: job.id, code: f.code, err: f.message }, '3speak job failed');
        await gw.failJob(job.id, { message: f.message, code: f.code }, f.retryable).catch(() => {});
        emit({ type: 'failed', jobId: job.id, code: f.code, retryable: f.retryable });
      }
    } finally {
      if (checker) clearInterval(checker);
      running.delete(job.id);
      await pinging;
      await rm(work, { recursive: true, force: true });
    }
  }

  async function slot(): Promise<void> {
    while (!stopping.signal.aborted) {
      let job: GatewayJob | null = null;
      try {
        job = opts.legacyPoll ? await gw.getJob() : await gw.myJob();
      } catch (err) {
        log?.warn({ err: (err as Error).message }, 'gateway poll failed');
      }
      if (!job) {
        await sleep(pollMs, stopping.signal);
        continue;
      }
      await runJob(job);
    }
  }

  const started = (async () => {
    await mkdir(opts.dataDir, { recursive: true });
    await gw
      .updateNode({
        name: opts.nodeName,
        cryptoAccounts: { hive: opts.hiveUsername },
        peer_id: '',
        commit_hash: opts.version,
      })
      .catch((err) => log?.warn({ err: (err as Error).message }, 'updateNode failed'));
    const loops = [finishRetryLoop()];
    for (let i = 0; i < Math.max(1, opts.concurrency ?? 1); i++) loops.push(slot());
    await Promise.all(loops);
  })();

  return {
    did: gw.did,
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      stopping.abort();
      for (const a of running.values()) a.abort(new Error('encoder stopping'));
      await started;
    },
  };
}
