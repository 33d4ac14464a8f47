import type { Encoder, Job, JobEvent } from '../jobs/index.js';
import type { EncoderView, JobEventView, JobView } from './schemas.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * The public view of a job (the allowlist `jobViewSchema` drops anything else). Result URLs of `local`
 * destinations are rebuilt on this coordinator's public URL: a remote encoder only knows the PUT URL
 * it uploaded to, and an in-process one may have run behind another host name.
 */
export function jobView(job: Job, publicUrl: string): JobView {
  const spec = isObj(job.spec) ? job.spec : {};
  const source = isObj(spec.source) ? spec.source : {};
  const destination = isObj(spec.destination) ? spec.destination : { type: 'local' };
  const isLocal = destination.type === 'local';
  const self = `${publicUrl}/api/v1/jobs/${job.id}`;
  const mediaBase = `${publicUrl}/media/${encodeURIComponent(job.id)}`;
  const localUrl = (reported: string | undefined, fallback: string) => {
    if (!isLocal) return reported;
    const file = reported ? reported.split('?')[0].split('/').slice(-1)[0] : fallback;
    return `${mediaBase}/${file || fallback}`;
  };

  let result: JobView['result'] = null;
  if (job.status === 'completed' && isObj(job.result)) {
    const r = job.result;
    const publish = isObj(r.publish) ? r.publish : {};
    const masterUrl = localUrl(str(r.masterUrl), 'master.m3u8') ?? '';
    const posterUrl = localUrl(str(r.posterUrl), 'poster.jpg');
    const encode = isObj(r.encode) ? r.encode : undefined;
    result = {
      masterUrl,
      ...(str(r.posterUrl) && posterUrl ? { posterUrl } : {}),
      renditions: (Array.isArray(r.renditions) ? r.renditions : []).filter(isObj).map((x) => ({
        name: str(x.name) ?? '?',
        width: num(x.width),
        height: num(x.height),
        bandwidth: num(x.bandwidth),
        averageBandwidth: num(x.averageBandwidth),
        codecs: str(x.codecs),
        frameRate: num(x.frameRate),
        durationS: num(x.durationS),
        bytes: num(x.bytes),
        playlist: str(x.playlist),
        url: isLocal && str(x.playlist) ? `${mediaBase}/${str(x.playlist)}` : undefined,
      })),
      ...(str(publish.cid) ? { ipfsCid: str(publish.cid) } : {}),
      ...(encode
        ? {
            encode: {
              backend: str(encode.backend),
              wallS: num(encode.wallS),
              speed: num(encode.speed),
              fallbacks: Array.isArray(encode.fallbacks) ? encode.fallbacks : [],
            },
          }
        : {}),
    };
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(isObj(spec.metadata) ? spec.metadata : job.metadata)) {
    if (typeof v === 'string') metadata[k] = v;
  }
  const showError = job.lastError && ['failed', 'dead', 'cancelled', 'queued'].includes(job.status);
  return {
    id: job.id,
    status: job.status,
    stage: job.status === 'running' ? job.stage : null,
    progress: job.status === 'completed' ? 100 : job.progress,
    etaS: job.status === 'running' ? job.etaS : null,
    queue: job.queue,
    priority: job.priority,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    encoderId: job.encoderId,
    metadata,
    source: { type: str(source.type) ?? 'unknown' },
    destination: { type: str(destination.type) ?? 'local' },
    // Rows are the renditions asked for; once completed, what was actually produced is authoritative
    // (a 360p source yields 360p, not the requested 1080p/720p/480p).
    renditions:
      result && result.renditions.length > 0
        ? result.renditions.map((r) => ({ name: r.name, status: 'completed' as const, progress: 100 }))
        : job.renditions.map((r) => ({ name: r.name, status: r.status, progress: r.progress })),
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

export function eventView(e: JobEvent): JobEventView {
  return { id: e.id, from: e.from, to: e.to, actor: e.actor, reason: e.reason, at: e.at.toISOString() };
}

export function encoderView(e: Encoder): EncoderView {
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
  };
}
