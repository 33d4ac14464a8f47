/**
 * The 3Speak legacy gateway's wire shapes and the pure mapping from vidmesh jobs to them.
 *
 * Terms: a *gateway job* is the 3Speak job document (`spknetwork/video-encoder`
 * `src/modules/encoder.model.ts` GatewayJob, extended by `Mantequilla-Soft/3speakencoder` fdf0111
 * `src/types/index.ts` VideoJob); a *legacy node* is a 3Speak encoder identified only by its did:key.
 * vidmesh keeps the 3Speak-only fields of a job under `metadata.threespeak` (see {@link ThreeSpeakMeta}).
 */
import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import type { Job, JobStatus, SubmitInput } from '../../jobs/index.js';
import { type JobSpec, jobSpecSchema } from '../../jobs/spec.js';
import { parseCompletionResult } from '../../protocol/result.js';

/** 3Speak gateway job statuses (encoder.model.ts JobStatus plus the modern encoder's `cancelled`). */
export type LegacyStatus =
  | 'queued'
  | 'assigned'
  | 'running'
  | 'uploading'
  | 'complete'
  | 'failed'
  | 'cancelled';

/** The fixed 3Speak ladder: legacy encoders produce these names (never upscaled). */
export const LEGACY_PROFILES = [
  { name: '1080p', size: '?x1080', height: 1080 },
  { name: '720p', size: '?x720', height: 720 },
  { name: '480p', size: '?x480', height: 480 },
] as const;

/**
 * Required tag of every 3Speak-family job. The store's claim also refuses `protocol = '3speak'` jobs
 * outright, so the tag only marks them; the gateway's own claim is the one way they are leased.
 */
export const THREESPEAK_TAG = '3speak-legacy';

/** 3Speak fields kept in `job.metadata.threespeak`. */
export const threeSpeakMetaSchema = z.object({
  input: z.object({ uri: z.string().min(1).max(2048), size: z.number().int().nonnegative() }),
  metadata: z.object({ video_owner: z.string().max(256), video_permlink: z.string().max(256) }),
  storageMetadata: z.record(z.string(), z.unknown()).default({}),
  /** Short video: 480p only (Direct API `short`). */
  short: z.boolean().optional(),
});
export type ThreeSpeakMeta = z.output<typeof threeSpeakMetaSchema>;
export type ThreeSpeakJobInput = z.input<typeof threeSpeakMetaSchema>;

/** The gateway job document as legacy encoders read it (`myJob`, `getJob`, `jobstatus`). */
export interface GatewayJob {
  id: string;
  type: 'gateway';
  status: LegacyStatus;
  created_at: string;
  updated_at: string;
  assigned_to: string | null;
  assigned_date: string | null;
  last_pinged: string | null;
  completed_at: string | null;
  input: { uri: string; size: number };
  metadata: { video_owner: string; video_permlink: string };
  storageMetadata: Record<string, unknown>;
  profiles: Array<{ name: string; size: string; height: number }>;
  output: Array<{ profile: string; uri: string }>;
  progress: number;
  result: { cid: string; uri: string } | null;
}

/** vidmesh status (and stage) -> 3Speak status. `failed` (retryable, waiting) is `queued` there. */
export function legacyStatus(status: JobStatus, stage: Job['stage']): LegacyStatus {
  switch (status) {
    case 'queued':
    case 'failed':
      return 'queued';
    case 'leased':
      return 'assigned';
    case 'running':
      return stage === 'uploading' ? 'uploading' : 'running';
    // The coordinator checks what was uploaded before publishing: still uploading as 3Speak sees it.
    case 'verifying':
      return 'uploading';
    case 'completed':
      return 'complete';
    case 'dead':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
  }
}

/** The 3Speak fields of a job, or null when the job is not a 3Speak-family job. */
export function threeSpeakMeta(job: Job): ThreeSpeakMeta | null {
  if (job.protocol !== '3speak') return null;
  const parsed = threeSpeakMetaSchema.safeParse(job.metadata.threespeak);
  return parsed.success ? parsed.data : null;
}

/**
 * Maps a stored 3Speak-family job to the gateway job document. `assigned_to` is the holder's DID
 * (`didOf` maps vidmesh encoder ids to DIDs); `last_pinged` is the last lease-renewing update.
 */
export function toGatewayJob(job: Job, meta: ThreeSpeakMeta, assignedDid: string | null): GatewayJob {
  const result = job.status === 'completed' ? cidResult(job.result) : null;
  const profiles = meta.short ? LEGACY_PROFILES.filter((p) => p.name === '480p') : LEGACY_PROFILES;
  return {
    id: job.id,
    type: 'gateway',
    status: legacyStatus(job.status, job.stage),
    created_at: job.createdAt.toISOString(),
    updated_at: job.updatedAt.toISOString(),
    assigned_to: job.lease || job.status === 'completed' ? assignedDid : null,
    assigned_date: job.lease && job.claimedAt ? job.claimedAt.toISOString() : null,
    last_pinged: job.lease ? job.updatedAt.toISOString() : null,
    completed_at: job.finishedAt && job.status === 'completed' ? job.finishedAt.toISOString() : null,
    input: meta.input,
    metadata: meta.metadata,
    storageMetadata: meta.storageMetadata,
    profiles: profiles.map((p) => ({ ...p })),
    output: result ? [{ profile: 'manifest', uri: result.uri }] : [],
    progress: job.progress,
    result,
  };
}

function cidResult(result: unknown): { cid: string; uri: string } | null {
  // The gateway stores the CID as `publish.cid`, where every vidmesh result keeps its IPFS root.
  const cid = parseCompletionResult(result)?.publish.cid;
  return cid ? { cid, uri: `ipfs://${cid}/manifest.m3u8` } : null;
}

/**
 * Builds the job-store input of a 3Speak-family job: protocol `3speak`, the fixed 3Speak ladder in
 * the 3Speak layout, the source from `input.uri` (`ipfs://CID[/path]` or http(s)), and the tag
 * {@link THREESPEAK_TAG} so only legacy nodes (or vidmesh encoders tagged for it) lease it.
 * @throws ZodError when `input` does not match {@link threeSpeakMetaSchema}.
 */
export function threeSpeakSubmitInput(input: ThreeSpeakJobInput, tenant?: string): SubmitInput {
  const meta = threeSpeakMetaSchema.parse(input);
  const uri = meta.input.uri;
  const source = /^ipfs:\/\//i.test(uri) ? { type: 'ipfs', url: uri } : { type: 'http', url: uri };
  const renditions = meta.short ? ['480p'] : LEGACY_PROFILES.map((p) => p.name);
  return {
    spec: {
      source,
      ladder: { layout: '3speak', only: renditions },
      destination: { type: 'ipfs' },
      priority: 'medium',
      queue: 'default',
    },
    renditions,
    protocol: '3speak',
    metadata: { threespeak: meta },
    requirements: { tags: [THREESPEAK_TAG] },
    ...(tenant ? { tenant } : {}),
  };
}

/**
 * A `POST /api/v1/jobs` spec with `protocol: '3speak'` as the job-store input of a 3Speak-family job
 * ({@link threeSpeakSubmitInput}), plus the normalized spec that is stored (and compared for
 * `Idempotency-Key` reuse): source as `ipfs://CID[/path]` or the http(s) URL, `ladder` the 3Speak
 * layout and fixed renditions, `destination` the coordinator's IPFS store.
 * Scheduling fields (`priority`, `queue`, `maxAttempts`, `webhook`, string `metadata`) are kept.
 * @throws ValidationError when `threespeak` is missing, the source is not ipfs/http(s) (legacy
 *   encoders only fetch `input.uri`), or the spec sets `ladder`, `tags` or a non-local `destination`
 *   (the 3Speak ladder and publication are fixed).
 */
export function threeSpeakSpecInput(spec: JobSpec): { spec: JobSpec; input: SubmitInput } {
  const ts = spec.threespeak;
  if (!ts) throw new ValidationError('threespeak: required when protocol is 3speak (owner, permlink)');
  if (spec.ladder) throw new ValidationError('ladder: 3speak jobs encode the fixed 3Speak ladder');
  if (spec.tags?.length) throw new ValidationError('tags: 3speak jobs go to 3Speak gateway nodes only');
  if (spec.destination.type !== 'local') {
    throw new ValidationError("destination: 3speak jobs publish to this coordinator's IPFS store");
  }
  const src = spec.source;
  let uri: string;
  if (src.type === 'ipfs') {
    uri = src.url ?? `ipfs://${src.cid}${src.path ? `/${src.path.replace(/^\/+/, '')}` : ''}`;
  } else if (src.type === 'http') {
    uri = src.url;
  } else {
    throw new ValidationError(`source.type: 3speak jobs need an ipfs or http(s) source, not ${src.type}`);
  }
  const base = threeSpeakSubmitInput({
    input: { uri, size: ts.size ?? 0 },
    metadata: { video_owner: ts.owner, video_permlink: ts.permlink },
    storageMetadata: ts.storageMetadata ?? {},
    ...(ts.short ? { short: true } : {}),
  });
  const fixed = base.spec as Pick<JobSpec, 'source' | 'ladder' | 'destination'>;
  const stored = jobSpecSchema.parse({
    ...spec,
    source: fixed.source,
    ladder: fixed.ladder,
    destination: fixed.destination,
    protocol: '3speak',
  });
  return {
    spec: stored,
    input: { ...base, spec: stored, metadata: { ...spec.metadata, ...base.metadata } },
  };
}
