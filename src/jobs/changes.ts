import type { Logger } from '../log.js';
import type { Database } from './db.js';
import type { JobChange, JobStatus } from './types.js';

/** NOTIFY channel fed by the job_events trigger for transitions to `queued` (claim wake-ups). */
export const JOB_EVENTS_CHANNEL = 'vidmesh_job_events';

/** A sequence id not yet visible may belong to a transaction still committing; look again this long. */
const GAP_PATIENCE_MS = 10_000;

interface EventRow {
  id: number | string;
  job_id: string;
  from_status: JobStatus | null;
  to_status: JobStatus;
  actor: string;
  at: Date;
}

/**
 * Job change delivery for one store.
 *
 * Wake-ups: transitions to `queued` NOTIFY (PostgreSQL LISTEN/NOTIFY, PGlite in-process), which only
 * shortens an idle claimer's sleep; its own polling is the guarantee (pg-boss notifier style).
 *
 * Changes: `subscribe` listeners get every transition by tailing job_events in id order, woken by a
 * notification or by this process's own writes (`kick`), else every `tailIntervalMs`. NOTIFY is not
 * used for every transition because it serialises all notifying commits of a database. Ids that are
 * skipped (a transaction that allocated a lower id commits later) are re-read for
 * {@link GAP_PATIENCE_MS}, so late commits are still delivered, possibly after higher ids.
 */
export class ChangeFeed {
  readonly #db: Database;
  readonly #log: Logger | undefined;
  readonly #tailIntervalMs: number;
  readonly #listeners = new Set<(change: JobChange) => void>();
  readonly #sleepers = new Set<() => void>();
  #unlisten: Promise<() => Promise<void>> | null = null;
  #cursor: number | null = null;
  readonly #gaps = new Map<number, number>();
  #tailTimer: NodeJS.Timeout | null = null;
  #tailing: Promise<void> | null = null;
  #again = false;
  #stopped = false;

  constructor(db: Database, options: { log?: Logger; tailIntervalMs?: number } = {}) {
    this.#db = db;
    this.#log = options.log;
    this.#tailIntervalMs = options.tailIntervalMs ?? 250;
  }

  /** Starts listening for wake-ups if not yet; resolves once LISTEN is active. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#unlisten ??= this.#db.listen(JOB_EVENTS_CHANNEL, (payload) => this.#onPayload(payload));
    try {
      await this.#unlisten;
    } catch (err) {
      this.#unlisten = null;
      throw err;
    }
  }

  /** Delivers every transition committed from now on. Returns unsubscribe. */
  async subscribe(listener: (change: JobChange) => void): Promise<() => void> {
    await this.start();
    if (this.#cursor === null) {
      const { rows } = await this.#db.query<{ id: number | null }>('SELECT max(id) AS id FROM job_events');
      this.#cursor = Number(rows[0]?.id ?? 0);
    }
    this.#listeners.add(listener);
    this.#scheduleTail(this.#tailIntervalMs);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        if (this.#tailTimer) clearTimeout(this.#tailTimer);
        this.#tailTimer = null;
        this.#cursor = null;
        this.#gaps.clear();
      }
    };
  }

  /**
   * Resolves after `ms`, on a wake-up (a job became claimable), or on abort, whichever is first.
   * Call before the claim query that precedes the sleep, so a wake-up in between is not lost.
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

  /** Wakes every sleeping claimer of this store (a job became claimable here). */
  wake(): void {
    for (const s of [...this.#sleepers]) s();
    this.kick();
  }

  /** This process changed a job: tail the events now rather than at the next interval. */
  kick(): void {
    if (this.#listeners.size > 0) this.#scheduleTail(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#listeners.clear();
    if (this.#tailTimer) clearTimeout(this.#tailTimer);
    this.#tailTimer = null;
    for (const s of [...this.#sleepers]) s();
    await this.#tailing?.catch(() => {});
    const u = this.#unlisten;
    this.#unlisten = null;
    if (u) await (await u.catch(() => async () => {}))();
  }

  #onPayload(payload: string | null): void {
    for (const s of [...this.#sleepers]) s();
    if (payload === null) this.#emit({ type: 'resync' });
    this.kick();
  }

  #emit(change: JobChange): void {
    for (const l of [...this.#listeners]) {
      try {
        l(change);
      } catch (err) {
        this.#log?.error({ err }, 'jobs: onJobChange listener threw');
      }
    }
  }

  #scheduleTail(ms: number): void {
    if (this.#stopped || this.#listeners.size === 0) return;
    if (this.#tailing) {
      this.#again = true;
      return;
    }
    if (this.#tailTimer) {
      if (ms > 0) return;
      clearTimeout(this.#tailTimer);
    }
    this.#tailTimer = setTimeout(() => {
      this.#tailTimer = null;
      this.#tailing = this.#tail()
        .catch((err: unknown) => this.#log?.warn({ err }, 'jobs: reading job events failed'))
        .finally(() => {
          this.#tailing = null;
          const again = this.#again;
          this.#again = false;
          this.#scheduleTail(again ? 0 : this.#tailIntervalMs);
        });
    }, ms);
    this.#tailTimer.unref();
  }

  async #tail(): Promise<void> {
    for (;;) {
      const cursor = this.#cursor;
      if (cursor === null || this.#listeners.size === 0) return;
      const gaps = [...this.#gaps.keys()];
      const { rows } = await this.#db.query<EventRow>(
        `SELECT id, job_id, from_status, to_status, actor, at FROM job_events
         WHERE id > $1 OR id = ANY($2::bigint[]) ORDER BY id LIMIT 500`,
        [cursor, gaps],
      );
      if (this.#cursor !== cursor) return; // unsubscribed and resubscribed meanwhile
      const now = Date.now();
      let next = cursor;
      for (const row of rows) {
        const id = Number(row.id);
        if (this.#gaps.has(id)) this.#gaps.delete(id);
        else if (id > next) {
          for (let missing = next + 1; missing < id && this.#gaps.size < 10_000; missing++) {
            this.#gaps.set(missing, now);
          }
          next = id;
        }
        this.#emit({
          type: 'transition',
          eventId: id,
          jobId: row.job_id,
          from: row.from_status,
          to: row.to_status,
          actor: row.actor,
          at: new Date(row.at),
        });
      }
      this.#cursor = next;
      for (const [id, since] of this.#gaps) if (now - since > GAP_PATIENCE_MS) this.#gaps.delete(id);
      if (rows.length < 500) return;
    }
  }
}
