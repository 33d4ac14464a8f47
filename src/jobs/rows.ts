import type { Column, Table } from 'drizzle-orm';
import type { encoders, jobEvents, jobs } from './schema.js';
import type {
  Encoder,
  EncoderCapabilities,
  EncoderLoad,
  Job,
  JobError,
  JobEvent,
  Rendition,
} from './types.js';
import { isOneOf, LEASED_STATUSES } from './vocabulary.js';

type ColumnValue<C> = C extends Column
  ? C['_']['notNull'] extends true
    ? C['_']['data']
    : C['_']['data'] | null
  : never;

/** `leaseExpiresAt` → `lease_expires_at`: the schema names every column as its key in snake_case. */
export type SnakeCase<S extends string> = S extends `${infer H}${infer T}`
  ? `${H extends Lowercase<H> ? H : `_${Lowercase<H>}`}${SnakeCase<T>}`
  : S;

/** The runtime twin of {@link SnakeCase} (rows.test.ts checks it against every column's real name). */
export const snakeCase = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * A row of table `T` as the SQL drivers return it, derived from the Drizzle schema: keys are the
 * column names (snake_case), values the columns' TypeScript types (nullable unless NOT NULL). Both
 * drivers agree on these except int8/numeric (possibly strings) and JSON read through `json_agg`
 * (possibly text), which the converters below normalise.
 */
export type SqlRow<T extends Table> = {
  [K in keyof T['_']['columns'] & string as SnakeCase<K>]: ColumnValue<T['_']['columns'][K]>;
};

/** A jobs row with its renditions (the `renditionsOf` JSON array, absent from partial selects). */
export type JobRow = SqlRow<typeof jobs> & { renditions?: unknown };
export type JobEventRow = SqlRow<typeof jobEvents>;
/** An encoders row with the number of leases it holds (`active_jobs`, from a join). */
export type EncoderRow = SqlRow<typeof encoders> & { active_jobs?: number | string };

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

export function toJob(row: JobRow): Job {
  const leaseOwner = row.lease_owner;
  const leaseExpires = dateOrNull(row.lease_expires_at);
  const live = isOneOf(LEASED_STATUSES, row.status);
  return {
    id: row.id,
    shortId: row.short_id,
    tenant: row.tenant,
    owner: row.owner ?? null,
    protocol: row.protocol,
    spec: json(row.spec),
    metadata: (json(row.metadata) as Record<string, unknown>) ?? {},
    status: row.status,
    stage: row.stage ?? null,
    progress: num(row.progress),
    etaS: numOrNull(row.eta_s),
    speed: numOrNull(row.speed),
    fps: numOrNull(row.fps),
    ...(row.parent_id ? { parentId: row.parent_id, chunkIndex: num(row.chunk_index) } : {}),
    queue: row.queue,
    priority: row.priority,
    requirements: {
      codecs: row.required_codecs ?? [],
      tags: row.required_tags ?? [],
      preferredKinds: row.preferred_kinds ?? [],
      hwaccel: row.required_hwaccel ?? undefined,
      sourceHeight: numOrNull(row.source_height) ?? undefined,
      durationS: numOrNull(row.duration_s) ?? undefined,
    },
    attempts: num(row.attempts),
    maxAttempts: num(row.max_attempts),
    runAfter: date(row.run_after),
    lease: live && leaseOwner && leaseExpires ? { encoderId: leaseOwner, expiresAt: leaseExpires } : null,
    encoderId: row.encoder_id ?? null,
    result: json(row.result) ?? null,
    lastError: (json(row.last_error) as JobError | null) ?? null,
    renditions: ((json(row.renditions) as Rendition[] | undefined) ?? []).map((r) => ({
      name: r.name,
      status: r.status,
      progress: num(r.progress),
      result: r.result ?? null,
      error: r.error ?? null,
    })),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
    claimedAt: dateOrNull(row.claimed_at),
    finishedAt: dateOrNull(row.finished_at),
    ...(typeof row.traceparent === 'string' ? { traceparent: row.traceparent } : {}),
    network: row.network === 'community' ? 'community' : 'private',
  };
}

export function toEvent(row: JobEventRow): JobEvent {
  return {
    id: num(row.id),
    jobId: row.job_id,
    from: row.from_status ?? null,
    to: row.to_status,
    actor: row.actor,
    reason: row.reason ?? null,
    details: (json(row.details) as Record<string, unknown> | null) ?? null,
    at: date(row.at),
  };
}

export function toEncoder(row: EncoderRow): Encoder {
  return {
    id: row.id,
    did: row.did ?? null,
    publicKey: row.public_key ?? null,
    name: row.name,
    kind: row.kind,
    capabilities: json(row.capabilities) as EncoderCapabilities,
    tags: row.tags ?? [],
    version: row.version ?? null,
    tenant: row.tenant ?? null,
    status: row.status,
    approval: row.approval,
    registeredAt: date(row.registered_at),
    lastSeenAt: date(row.last_seen_at),
    jobsCompleted: num(row.jobs_completed),
    jobsFailed: num(row.jobs_failed),
    encodeSeconds: num(row.encode_seconds),
    activeJobs: num(row.active_jobs ?? 0),
    host: row.host ?? null,
    load: (json(row.load) as EncoderLoad | null) ?? null,
    user: row.user_name && row.user_tenant ? { tenant: row.user_tenant, name: row.user_name } : null,
  };
}
