import type {
  Encoder,
  EncoderApproval,
  EncoderCapabilities,
  EncoderKind,
  Job,
  JobError,
  JobEvent,
  JobStage,
  JobStatus,
  Priority,
  ProtocolFamily,
  QueueName,
  Rendition,
} from './types.js';
import { isOneOf, LEASED_STATUSES } from './vocabulary.js';

/** A jobs row as both drivers return it (snake_case, timestamps as Date, int8 possibly as string). */
export type JobRow = Record<string, unknown> & { id: string; status: JobStatus };

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
const num = (v: unknown): number => Number(v);
const numOrUndef = (v: unknown): number | undefined =>
  v === null || v === undefined ? undefined : Number(v);
const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

export function toJob(row: JobRow): Job {
  const leaseOwner = row.lease_owner as string | null;
  const leaseExpires = dateOrNull(row.lease_expires_at);
  const live = isOneOf(LEASED_STATUSES, row.status);
  return {
    id: row.id,
    shortId: row.short_id as string,
    tenant: row.tenant as string,
    owner: (row.owner as string | null) ?? null,
    protocol: row.protocol as ProtocolFamily,
    spec: json(row.spec),
    metadata: (json(row.metadata) as Record<string, unknown>) ?? {},
    status: row.status,
    stage: (row.stage as JobStage | null) ?? null,
    progress: num(row.progress),
    etaS: row.eta_s === null || row.eta_s === undefined ? null : num(row.eta_s),
    speed: row.speed === null || row.speed === undefined ? null : num(row.speed),
    ...(row.parent_id ? { parentId: row.parent_id as string, chunkIndex: num(row.chunk_index) } : {}),
    queue: row.queue as QueueName,
    priority: row.priority as Priority,
    requirements: {
      codecs: (row.required_codecs as string[]) ?? [],
      tags: (row.required_tags as string[]) ?? [],
      preferredKinds: (row.preferred_kinds as EncoderKind[]) ?? [],
      hwaccel: (row.required_hwaccel as string | null) ?? undefined,
      sourceHeight: numOrUndef(row.source_height),
      durationS: numOrUndef(row.duration_s),
    },
    attempts: num(row.attempts),
    maxAttempts: num(row.max_attempts),
    runAfter: date(row.run_after),
    lease: live && leaseOwner && leaseExpires ? { encoderId: leaseOwner, expiresAt: leaseExpires } : null,
    encoderId: (row.encoder_id as string | null) ?? null,
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

export function toEvent(row: Record<string, unknown>): JobEvent {
  return {
    id: num(row.id),
    jobId: row.job_id as string,
    from: (row.from_status as JobStatus | null) ?? null,
    to: row.to_status as JobStatus,
    actor: row.actor as string,
    reason: (row.reason as string | null) ?? null,
    details: (json(row.details) as Record<string, unknown> | null) ?? null,
    at: date(row.at),
  };
}

export function toEncoder(row: Record<string, unknown>): Encoder {
  return {
    id: row.id as string,
    did: (row.did as string | null) ?? null,
    publicKey: (row.public_key as string | null) ?? null,
    name: row.name as string,
    kind: row.kind as EncoderKind,
    capabilities: json(row.capabilities) as EncoderCapabilities,
    tags: (row.tags as string[]) ?? [],
    version: (row.version as string | null) ?? null,
    tenant: (row.tenant as string | null) ?? null,
    status: row.status as 'online' | 'offline',
    approval: row.approval as EncoderApproval,
    registeredAt: date(row.registered_at),
    lastSeenAt: date(row.last_seen_at),
    jobsCompleted: num(row.jobs_completed),
    jobsFailed: num(row.jobs_failed),
    encodeSeconds: num(row.encode_seconds),
    activeJobs: num(row.active_jobs ?? 0),
  };
}
