import type { Logger } from '../log.js';
import type { Database } from './db.js';
import type { JobChange, JobStatus } from './types.js';

/** NOTIFY channel fed by the job_events trigger (drizzle/0001_job_events_notify.sql). */
export const JOB_EVENTS_CHANNEL = 'vidmesh_job_events';

/**
 * Fans the job-event notifications of one database out to in-process listeners and wakes idle
 * long-polling claimers. One LISTEN per store, started on first use. A notification only shortens a
 * claimer's sleep; its own polling is the guarantee (pg-boss notifier style).
 */
export class ChangeFeed {
  readonly #db: Database;
  readonly #log: Logger | undefined;
  readonly #listeners = new Set<(change: JobChange) => void>();
  readonly #sleepers = new Set<() => void>();
  #unlisten: Promise<() => Promise<void>> | null = null;

  constructor(db: Database, log?: Logger) {
    this.#db = db;
    this.#log = log;
  }

  /** Starts listening if not yet; resolves once LISTEN is active. */
  async start(): Promise<void> {
    this.#unlisten ??= this.#db.listen(JOB_EVENTS_CHANNEL, (payload) => this.#onPayload(payload));
    try {
      await this.#unlisten;
    } catch (err) {
      this.#unlisten = null;
      throw err;
    }
  }

  subscribe(listener: (change: JobChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves after `ms`, on a wake-up (a job became claimable somewhere), or on abort, whichever
   * comes first. Register before the claim query that precedes the sleep, so no wake-up is lost:
   * call `arm()` first, query, then await the returned promise.
   */
  arm(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#sleepers.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#sleepers.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Wakes every sleeping claimer (also used in-process right after a submit). */
  wake(): void {
    for (const s of [...this.#sleepers]) s();
  }

  async stop(): Promise<void> {
    const u = this.#unlisten;
    this.#unlisten = null;
    this.wake();
    if (u) await (await u.catch(() => async () => {}))();
  }

  #onPayload(payload: string | null): void {
    let change: JobChange;
    if (payload === null) change = { type: 'resync' };
    else {
      try {
        const p = JSON.parse(payload) as {
          eventId: number;
          jobId: string;
          from: JobStatus | null;
          to: JobStatus;
          actor: string;
          at: string;
        };
        change = {
          type: 'transition',
          eventId: Number(p.eventId),
          jobId: p.jobId,
          from: p.from,
          to: p.to,
          actor: p.actor,
          at: new Date(p.at),
        };
      } catch (err) {
        this.#log?.warn({ err }, 'jobs: unparsable job event notification');
        return;
      }
    }
    if (change.type === 'resync' || change.to === 'queued') this.wake();
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (err) {
        this.#log?.error({ err }, 'jobs: onJobChange listener threw');
      }
    }
  }
}
