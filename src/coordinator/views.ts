import { threeSpeakMeta } from '../compat/threespeak/legacy.js';
import { type Encoder, isOneOf, type Job, type JobEvent, LEASED_STATUSES } from '../jobs/index.js';
import { fileNameOf, mediaUrl } from '../protocol/media-url.js';
import { outputResultSchema, parseCompletionResult } from '../protocol/result.js';
import { type Reputation, reputationScore } from '../trust/index.js';
import type { EncoderView, JobEventView, JobView, OutputView } from './schemas.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The public view of a job (the allowlist `jobViewSchema` drops anything else). Result URLs of `local`
 * destinations are rebuilt on this coordinator's public URL ({@link mediaUrl}, with the destination's
 * `prefix`): a remote encoder only knows the PUT URL it uploaded to, and an in-process one may have run
 * behind another host name.
 */
export function jobView(job: Job, publicUrl: string, mediaBase = `${publicUrl}/media`): JobView {
  // The spec was validated at submit; it stays opaque JSON in the store, so only its shape is read here.
  const spec = isObj(job.spec) ? job.spec : {};
  const source = isObj(spec.source) ? spec.source : {};
  const destination = isObj(spec.destination) ? spec.destination : { type: 'local' };
  const destinationType = typeof destination.type === 'string' ? destination.type : 'local';
  const prefix = typeof destination.prefix === 'string' ? destination.prefix : undefined;
  const isLocal = destinationType === 'local';
  const self = `${publicUrl}/api/v1/jobs/${job.id}`;
  const media = (path: string) => mediaUrl(mediaBase, job.id, prefix, path);
  // Master and poster sit at the top of the rendered ladder: the reported file name is all that counts.
  const localUrl = (reported: string | undefined, fallback: string) =>
    isLocal ? media((reported && fileNameOf(reported)) || fallback) : reported;

  const r = job.status === 'completed' ? parseCompletionResult(job.result) : null;
  const result: JobView['result'] = r
    ? {
        masterUrl: localUrl(r.masterUrl || undefined, 'master.m3u8') ?? '',
        ...(r.posterUrl ? { posterUrl: localUrl(r.posterUrl, 'poster.jpg') } : {}),
        renditions: r.renditions.map((x) => ({
          name: x.name,
          width: x.width,
          height: x.height,
          bandwidth: x.bandwidth,
          averageBandwidth: x.averageBandwidth,
          codecs: x.codecs,
          frameRate: x.frameRate,
          durationS: x.durationS,
          bytes: x.bytes,
          playlist: x.playlist,
          url: isLocal && x.playlist ? media(x.playlist) : undefined,
        })),
        ...(r.publish.cid ? { ipfsCid: r.publish.cid } : {}),
        ...(r.encode
          ? {
              encode: {
                backend: r.encode.backend,
                wallS: r.encode.wallS,
                speed: r.encode.speed,
                fallbacks: r.encode.fallbacks,
              },
            }
          : {}),
        ...(r.verification
          ? {
              verification: {
                ok: r.verification.ok,
                checks: r.verification.checks,
                cpuS: r.verification.cpuS,
              },
            }
          : {}),
      }
    : null;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(isObj(spec.metadata) ? spec.metadata : job.metadata)) {
    if (typeof v === 'string') metadata[k] = v;
  }
  // A 3Speak job's identity (Hive owner and permlink) lives in `metadata.threespeak`, an object the
  // string-only view would drop; it is shown under 3Speak's own field names.
  const threespeak = threeSpeakMeta(job)?.metadata;
  if (threespeak) {
    metadata.video_owner = threespeak.video_owner;
    metadata.video_permlink = threespeak.video_permlink;
  }
  // A queued job may carry the error of its last attempt (a rescued lease, a manual retry).
  const showError = job.lastError && job.status !== 'completed' && !isOneOf(LEASED_STATUSES, job.status);
  return {
    id: job.id,
    status: job.status,
    stage: job.status === 'running' ? job.stage : null,
    progress: job.status === 'completed' ? 100 : job.progress,
    etaS: job.status === 'running' ? job.etaS : null,
    speed: job.status === 'running' ? job.speed : null,
    fps: job.status === 'running' ? job.fps : null,
    ...(job.parentId ? { parentId: job.parentId, chunkIndex: job.chunkIndex } : {}),
    queue: job.queue,
    priority: job.priority,
    network: job.network,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    encoderId: job.encoderId,
    metadata,
    source: { type: typeof source.type === 'string' ? source.type : 'unknown' },
    destination: { type: destinationType },
    // Rows are the renditions asked for; once completed, what was actually produced is authoritative
    // (a 360p source yields 360p, not the requested 1080p/720p/480p), followed by the skipped ones.
    // A job with outputs shows its rows as `outputs` (below), not as ladder renditions.
    renditions: Array.isArray(spec.outputs)
      ? []
      : result && result.renditions.length > 0
        ? [
            ...result.renditions.map((r) => ({ name: r.name, status: 'completed' as const, progress: 100 })),
            ...job.renditions
              .filter((r) => r.status === 'skipped' && !result.renditions.some((x) => x.name === r.name))
              .map((r) => ({ name: r.name, status: r.status, progress: 0 })),
          ]
        : job.renditions.map((r) => ({ name: r.name, status: r.status, progress: r.progress })),
    ...(Array.isArray(spec.outputs)
      ? { outputs: outputViews(job, spec.outputs, destinationType, publicUrl) }
      : {}),
    result,
    error:
      showError && job.lastError
        ? { code: job.lastError.code ?? 'error', message: job.lastError.message }
        : null,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    finishedAt: job.finishedAt ? job.finishedAt.toISOString() : null,
    links: {
      self,
      events: `${self}/events`,
      logs: `${self}/logs`,
      ...(result?.masterUrl ? { master: result.masterUrl } : {}),
    },
  };
}

/**
 * Each output of a job with outputs, from its row (status, progress) and the result its last run
 * stored (URL, bytes, duration, size, error). Relative `local` URLs are made absolute on this
 * coordinator.
 */
function outputViews(job: Job, outputs: unknown[], jobDestination: string, publicUrl: string): OutputView[] {
  return outputs.filter(isObj).flatMap((o) => {
    const name = typeof o.name === 'string' ? o.name : undefined;
    const row = job.renditions.find((r) => r.name === name);
    if (!name || !row) return [];
    const parsed = outputResultSchema.safeParse(row.result);
    const r = parsed.success ? parsed.data : undefined;
    const dest =
      isObj(o.destination) && typeof o.destination.type === 'string' ? o.destination.type : jobDestination;
    const absolute = (u: string) => (u.startsWith('/') ? `${publicUrl}${u}` : u);
    const error = r?.error ?? (row.error ? { code: 'output_failed', message: row.error } : undefined);
    return [
      {
        name,
        kind: typeof o.kind === 'string' ? o.kind : 'unknown',
        status: row.status,
        progress: row.status === 'completed' ? 100 : row.progress,
        destinationType: dest,
        ...(r?.url ? { url: absolute(r.url) } : {}),
        ...(r?.files ? { files: r.files.map(absolute) } : {}),
        ...(r?.bytes !== undefined ? { bytes: r.bytes } : {}),
        ...(r?.durationS !== undefined ? { durationS: r.durationS } : {}),
        ...(r?.width !== undefined ? { width: r.width, height: r.height } : {}),
        ...(r?.cid ? { cid: r.cid } : {}),
        ...(row.status === 'failed' && error ? { error } : {}),
      },
    ];
  });
}

export function eventView(e: JobEvent): JobEventView {
  const view: JobEventView = {
    id: e.id,
    from: e.from,
    to: e.to,
    actor: e.actor,
    reason: e.reason,
    at: e.at.toISOString(),
  };
  // Only the routing part of details leaves the server (other details may name errors or encoders' logs).
  const d = e.details ?? {};
  if (e.reason === 'routed' && Array.isArray(d.steps))
    view.routing = { steps: d.steps as Array<Record<string, unknown>> };
  if (e.reason === 'claimed' && typeof d.route === 'string') view.routing = { route: d.route };
  // A step that ended early (its agent fell silent, or the owner's encoder failed the job).
  if (d.rerouted && typeof d.rerouted === 'object')
    view.routing = { rerouted: d.rerouted as NonNullable<JobEventView['routing']>['rerouted'] };
  return view;
}

/**
 * Whether a caller of `tenant` (undefined: the operator) may see an encoder in fleet lists: the
 * operator's and community encoders (tenant null) serve everyone, a tenant's own are its own, and a
 * desktop agent belongs to the tenant of the user its DID is paired with (its own tenant is null,
 * as it registers with its did:key, but its host and status are that user's).
 */
export function encoderVisibleTo(e: Encoder, tenant: string | undefined): boolean {
  if (tenant === undefined) return true;
  if (e.user) return e.user.tenant === tenant;
  return e.tenant === null || e.tenant === tenant;
}

export function encoderView(e: Encoder, reputation?: Reputation): EncoderView {
  return {
    id: e.id,
    name: e.name,
    kind: e.kind,
    did: e.did,
    version: e.version,
    status: e.status,
    approval: e.approval,
    capabilities: {
      codecs: e.capabilities.codecs,
      hwaccel: e.capabilities.hwaccel,
      maxHeight: e.capabilities.maxHeight,
      ...(e.capabilities.maxDurationS === undefined ? {} : { maxDurationS: e.capabilities.maxDurationS }),
      concurrency: e.capabilities.concurrency,
      ...(e.capabilities.freeDiskBytes === undefined ? {} : { freeDiskBytes: e.capabilities.freeDiskBytes }),
      tags: e.capabilities.tags,
    },
    registeredAt: e.registeredAt.toISOString(),
    lastSeenAt: e.lastSeenAt.toISOString(),
    jobsCompleted: e.jobsCompleted,
    jobsFailed: e.jobsFailed,
    encodeSeconds: e.encodeSeconds,
    activeJobs: e.activeJobs,
    host: e.host,
    load: e.load,
    ...(reputation
      ? {
          reputation: {
            score: Math.round(reputationScore(reputation) * 1000) / 1000,
            verifiedPasses: reputation.verifiedPasses,
            verifiedFailures: reputation.verifiedFailures,
            consecutiveFailures: reputation.consecutiveFailures,
            lastFailure: reputation.lastFailure,
          },
        }
      : {}),
  };
}
