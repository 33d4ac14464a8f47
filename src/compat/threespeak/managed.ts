/**
 * Managed mode of the 3Speak embed protocol: the coordinator pushes jobs to registered encoders'
 * Direct API (`POST <url>/encode`, `X-API-Key`, body the embed job, answered 2xx `{job_id, status}`:
 * Mantequilla-Soft/3speakencoder HEAD `DirectApiService.ts`), and they report by the job's webhook
 * like embed-mode pollers. A push is the hand-out's acknowledgement: one that is not answered 2xx in
 * time hands the job back (no attempt counted) and rests that encoder, so the job goes elsewhere; an
 * encoder that dies after acknowledging loses the job when its 3Speak lease lapses (the sweeper
 * rescues it, and the next tick dispatches it again).
 *
 * Several coordinators on one database: only the one for which `isLeader()` holds (the maintenance
 * leader) dispatches, so one coordinator pushes to each encoder; the hand-out itself is the store's
 * compare-and-set claim (a queued job leased to one encoder, fenced by its lease token), and a push
 * always ends before its acknowledgement lease does, so a job the sweeper hands back can be pushed again
 * only after the push that held it has been answered or abandoned.
 */
import type { Logger } from '../../log.js';
import { directEncodeAnswerSchema, type EmbedJob } from './embed.js';

/** A job handed to a managed encoder, awaiting the push's answer. */
export interface ManagedHandout {
  jobId: string;
  encoderId: string;
  embed: EmbedJob;
}

export interface ManagedEncoderTarget {
  /** Direct API base URL (`http://host:3002`). */
  url: string;
  /** Its `DIRECT_API_KEY`. */
  apiKey: string;
}

export interface ManagedDispatchOptions {
  encoders: readonly ManagedEncoderTarget[];
  /** The encoder row of a Direct API (registered once); its id. */
  register(target: ManagedEncoderTarget): Promise<string>;
  /** Leases the next embed job to `encoderId` with the short acknowledgement lease, or null. */
  handOut(encoderId: string): Promise<ManagedHandout | null>;
  /** The push was acknowledged: the lease becomes the 3Speak lease. */
  acknowledged(h: ManagedHandout): Promise<void>;
  /** The push was not acknowledged: the job goes back to the queue, the attempt not counted. */
  handBack(h: ManagedHandout, reason: string): Promise<void>;
  /**
   * Whether this process dispatches now (the maintenance leader among coordinators sharing the
   * database); checked before each round and before each push (default: always).
   */
  isLeader?: () => boolean;
  /** Between dispatch rounds, ms (default 1000). */
  intervalMs?: number;
  /** Wait for the push's answer, ms (default 10 000). */
  pushTimeoutMs?: number;
  /** An encoder whose push failed is skipped this long, ms (default 30 000). */
  restMs?: number;
  log?: Logger;
}

export interface ManagedDispatch {
  /** One round now (tests and the loop): pushes at most one job per encoder. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the dispatch loop. Rounds never overlap; each free, rested encoder gets at most one job per
 * round (the claim's per-node capacity keeps a busy one from getting more).
 */
export function startManagedDispatch(opts: ManagedDispatchOptions): ManagedDispatch {
  const intervalMs = opts.intervalMs ?? 1000;
  const pushTimeoutMs = opts.pushTimeoutMs ?? 10_000;
  const restMs = opts.restMs ?? 30_000;
  const restingUntil = new Map<string, number>();
  const ids = new Map<string, string>();
  let running: Promise<void> | null = null;
  let stopped = false;

  async function push(target: ManagedEncoderTarget, h: ManagedHandout): Promise<string | null> {
    try {
      const res = await fetch(`${target.url.replace(/\/+$/, '')}/encode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': target.apiKey },
        body: JSON.stringify(h.embed),
        signal: AbortSignal.timeout(pushTimeoutMs),
        redirect: 'error',
      });
      const text = await res.text();
      if (!res.ok) return `POST /encode answered ${res.status}`;
      const answer = directEncodeAnswerSchema.safeParse(JSON.parse(text));
      return answer.success ? null : 'POST /encode answered without a job_id';
    } catch (err) {
      return `POST /encode failed: ${(err as Error).message}`;
    }
  }

  const leads = opts.isLeader ?? (() => true);

  async function round(): Promise<void> {
    for (const target of opts.encoders) {
      if (stopped) return;
      if ((restingUntil.get(target.url) ?? 0) > Date.now()) continue;
      try {
        let encoderId = ids.get(target.url);
        if (!encoderId) {
          encoderId = await opts.register(target);
          ids.set(target.url, encoderId);
        }
        // Every coordinator registers the encoder (one shared row); only the leader pushes.
        if (!leads()) continue;
        const h = await opts.handOut(encoderId);
        if (!h) continue;
        if (!leads()) {
          // Leadership lost while claiming: hand the job back unpushed (the new leader dispatches it).
          await opts.handBack(h, 'this coordinator no longer leads managed dispatch');
          return;
        }
        const failure = await push(target, h);
        if (failure === null) {
          await opts.acknowledged(h);
          opts.log?.info({ jobId: h.jobId, encoder: target.url }, '3speak job pushed to a managed encoder');
        } else {
          restingUntil.set(target.url, Date.now() + restMs);
          await opts.handBack(h, failure);
          opts.log?.warn(
            { jobId: h.jobId, encoder: target.url, failure },
            'managed encoder did not take the job',
          );
        }
      } catch (err) {
        opts.log?.error({ err, encoder: target.url }, 'managed dispatch round failed');
      }
    }
  }

  const tick = (): Promise<void> => {
    running ??= round().finally(() => {
      running = null;
    });
    return running;
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
