import { randomBytes } from 'node:crypto';
import { NotFoundError } from '../errors.js';
import type { Database, Queryable } from './db.js';

/**
 * The durable webhook delivery queue and tenant subscriptions (tables `webhook_deliveries`,
 * `webhook_attempts`, `webhook_subscriptions`). Deliveries are enqueued by database triggers in the
 * transaction of the job transition that causes them (drizzle/0005_webhook_enqueue.sql), so this module
 * only reads the queue and records what the sender did.
 *
 * Terminology:
 * - delivery: one event for one endpoint (URL); `pending` until a 2xx (`delivered`) or until the retry
 *   schedule is spent (`failed`). A re-send makes it `pending` again.
 * - attempt: one HTTP request of a delivery (status code or error, latency, first bytes of the body).
 * - subscription: a tenant-wide endpoint receiving the events of every job of that tenant.
 */

export type WebhookEvent =
  | 'job.queued'
  | 'job.started'
  | 'job.progress'
  | 'rendition.completed'
  /** Jobs with outputs: one per output an attempt published, or could not produce (docs/outputs.md). */
  | 'output.completed'
  | 'output.failed'
  | 'job.completed'
  | 'job.failed'
  | 'job.cancelled'
  /** A job out of attempts (its `job.failed` also fires, with `dead: true`). */
  | 'job.dead';

export const WEBHOOK_EVENTS: readonly WebhookEvent[] = [
  'job.queued',
  'job.started',
  'job.progress',
  'rendition.completed',
  'output.completed',
  'output.failed',
  'job.completed',
  'job.failed',
  'job.cancelled',
  'job.dead',
];

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  id: number;
  jobId: string | null;
  tenant: string;
  url: string;
  event: WebhookEvent;
  /** The job snapshot taken at the transition (see the migration for its fields). */
  payload: Record<string, unknown>;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastStatusCode: number | null;
  lastError: string | null;
  lastLatencyMs: number | null;
  lastResponse: string | null;
  /** `job`: the job spec's webhook; otherwise the id of the tenant subscription. */
  subscriptionId: string | null;
  eventId: number | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

export interface WebhookAttempt {
  id: number;
  deliveryId: number;
  at: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  response: string | null;
}

export interface WebhookSubscription {
  id: string;
  tenant: string;
  url: string;
  /** Empty: every event. */
  events: WebhookEvent[];
  /** Stored form of the secret (sealed by the caller when a secret box is configured); null: unsigned. */
  secret: string | null;
  description: string | null;
  createdAt: Date;
}

/** What the sender learned from one attempt and what happens next. */
export interface AttemptRecord {
  at: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  response: string | null;
  /** `delivered`: 2xx; `retry`: try again at `nextAttemptAt`; `failed`: the schedule is spent. */
  outcome: 'delivered' | 'retry' | 'failed';
  nextAttemptAt?: Date;
}

export interface DeliveryFilter {
  jobId?: string;
  tenant?: string;
  status?: DeliveryStatus;
  /** 1..500, default 100. */
  limit?: number;
}

/** Queue operations; every method is one statement or one short transaction. Errors: NotFoundError. */
export interface WebhookQueue {
  /**
   * Pending deliveries due at `now`, oldest first, at most `limit`, skipping any delivery while an
   * older one of the same job and URL is still pending (per-endpoint order of a job's events).
   */
  due(now: Date, limit: number): Promise<WebhookDelivery[]>;
  /** Appends the attempt to the log and moves the delivery on, in one transaction. */
  recordAttempt(deliveryId: number, attempt: AttemptRecord): Promise<void>;
  list(filter?: DeliveryFilter): Promise<WebhookDelivery[]>;
  get(deliveryId: number): Promise<WebhookDelivery>;
  attempts(deliveryId: number): Promise<WebhookAttempt[]>;
  /** Makes a delivered or failed delivery pending again with a fresh retry budget (due now). */
  resend(deliveryId: number, options?: { tenant?: string }): Promise<WebhookDelivery>;
  createSubscription(input: {
    tenant: string;
    url: string;
    events?: readonly WebhookEvent[];
    secret?: string | null;
    description?: string | null;
  }): Promise<WebhookSubscription>;
  /** Subscriptions of one tenant (all tenants when absent), oldest first. */
  listSubscriptions(tenant?: string): Promise<WebhookSubscription[]>;
  getSubscription(id: string): Promise<WebhookSubscription>;
  /** Deletes it (pending deliveries to it stay and are still sent, unsigned if its secret is gone). */
  deleteSubscription(id: string, options?: { tenant?: string }): Promise<void>;
  /** Counts by status (for metrics). */
  counts(): Promise<Record<DeliveryStatus, number>>;
}

type Row = Record<string, unknown>;
const date = (v: unknown) => new Date(v as string | Date);
const dateOrNull = (v: unknown) => (v === null || v === undefined ? null : date(v));
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown) => (v === null || v === undefined ? null : String(v));

function toDelivery(r: Row): WebhookDelivery {
  return {
    id: Number(r.id),
    jobId: strOrNull(r.job_id),
    tenant: String(r.tenant),
    url: String(r.url),
    event: r.event as WebhookEvent,
    payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as Record<string, unknown>,
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    nextAttemptAt: date(r.next_attempt_at),
    lastStatusCode: numOrNull(r.last_status_code),
    lastError: strOrNull(r.last_error),
    lastLatencyMs: numOrNull(r.last_latency_ms),
    lastResponse: strOrNull(r.last_response),
    subscriptionId: strOrNull(r.subscription_id),
    eventId: numOrNull(r.event_id),
    createdAt: date(r.created_at),
    deliveredAt: dateOrNull(r.delivered_at),
  };
}

function toSubscription(r: Row): WebhookSubscription {
  return {
    id: String(r.id),
    tenant: String(r.tenant),
    url: String(r.url),
    events: (r.events as WebhookEvent[]) ?? [],
    secret: strOrNull(r.secret),
    description: strOrNull(r.description),
    createdAt: date(r.created_at),
  };
}

const DUE = `
SELECT d.* FROM webhook_deliveries d
WHERE d.status = 'pending' AND d.next_attempt_at <= $1
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
    WHERE p.status = 'pending' AND p.job_id = d.job_id AND p.url = d.url AND p.id < d.id)
ORDER BY d.next_attempt_at, d.id
LIMIT $2`;

/** Creates the queue on an open, migrated database (job store's `Database` or a transaction). */
export function createWebhookQueue(db: Queryable & { transaction?: Database['transaction'] }): WebhookQueue {
  const get = async (id: number) => {
    const { rows } = await db.query('SELECT * FROM webhook_deliveries WHERE id = $1', [id]);
    if (!rows[0])
      throw new NotFoundError(`webhook delivery ${id} not found`, { details: { deliveryId: id } });
    return toDelivery(rows[0]);
  };
  const getSubscription = async (id: string) => {
    const { rows } = await db.query('SELECT * FROM webhook_subscriptions WHERE id = $1', [id]);
    if (!rows[0]) throw new NotFoundError(`webhook subscription ${id} not found`, { details: { id } });
    return toSubscription(rows[0]);
  };
  return {
    async due(now, limit) {
      const { rows } = await db.query(DUE, [now, limit]);
      return rows.map(toDelivery);
    },

    async recordAttempt(id, a) {
      const run = async (tx: Queryable) => {
        await tx.query(
          `INSERT INTO webhook_attempts (delivery_id, at, status_code, latency_ms, error, response)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [id, a.at, a.statusCode, Math.round(a.latencyMs), a.error, a.response],
        );
        await tx.query(
          `UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2, last_status_code = $3,
             last_error = $4, last_latency_ms = $5, last_response = $6,
             next_attempt_at = coalesce($7, next_attempt_at),
             delivered_at = CASE WHEN $2 = 'delivered' THEN $8::timestamptz ELSE delivered_at END
           WHERE id = $1`,
          [
            id,
            a.outcome === 'retry' ? 'pending' : a.outcome,
            a.statusCode,
            a.error,
            Math.round(a.latencyMs),
            a.response,
            a.nextAttemptAt ?? null,
            a.at,
          ],
        );
      };
      if (db.transaction) await db.transaction(run);
      else await run(db);
    },

    async list(filter = {}) {
      const limit = Math.min(Math.max(Math.floor(filter.limit ?? 100), 1), 500);
      const { rows } = await db.query(
        `SELECT * FROM webhook_deliveries
         WHERE ($1::text IS NULL OR job_id = $1) AND ($2::text IS NULL OR tenant = $2)
           AND ($3::text IS NULL OR status = $3)
         ORDER BY id DESC LIMIT $4`,
        [filter.jobId ?? null, filter.tenant ?? null, filter.status ?? null, limit],
      );
      return rows.map(toDelivery);
    },

    get,

    async attempts(id) {
      await get(id);
      const { rows } = await db.query('SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id', [
        id,
      ]);
      return rows.map((r) => ({
        id: Number(r.id),
        deliveryId: Number(r.delivery_id),
        at: date(r.at),
        statusCode: numOrNull(r.status_code),
        latencyMs: Number(r.latency_ms),
        error: strOrNull(r.error),
        response: strOrNull(r.response),
      }));
    },

    async resend(id, options = {}) {
      const { rows } = await db.query(
        `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(),
           delivered_at = NULL
         WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) RETURNING *`,
        [id, options.tenant ?? null],
      );
      if (!rows[0])
        throw new NotFoundError(`webhook delivery ${id} not found`, { details: { deliveryId: id } });
      return toDelivery(rows[0]);
    },

    async createSubscription(input) {
      const id = `whs_${randomBytes(9).toString('base64url')}`;
      const { rows } = await db.query(
        `INSERT INTO webhook_subscriptions (id, tenant, url, events, secret, description)
         VALUES ($1, $2, $3, $4::text[], $5, $6) RETURNING *`,
        [id, input.tenant, input.url, input.events ?? [], input.secret ?? null, input.description ?? null],
      );
      return toSubscription(rows[0] as Row);
    },

    async listSubscriptions(tenant) {
      const { rows } = await db.query(
        'SELECT * FROM webhook_subscriptions WHERE ($1::text IS NULL OR tenant = $1) ORDER BY created_at, id',
        [tenant ?? null],
      );
      return rows.map(toSubscription);
    },

    getSubscription,

    async deleteSubscription(id, options = {}) {
      const { rowCount } = await db.query(
        'DELETE FROM webhook_subscriptions WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)',
        [id, options.tenant ?? null],
      );
      if (!rowCount) throw new NotFoundError(`webhook subscription ${id} not found`, { details: { id } });
    },

    async counts() {
      const { rows } = await db.query<{ status: DeliveryStatus; n: number }>(
        'SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status',
      );
      const out: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0 };
      for (const r of rows) out[r.status] = Number(r.n);
      return out;
    },
  };
}
