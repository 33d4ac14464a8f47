import type { WebhookDelivery } from '../../jobs/index.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** One produced rendition as webhooks describe it. `bitrate` bits per second, `durationS` seconds. */
export interface WebhookRendition {
  name: string;
  resolution?: string;
  width?: number;
  height?: number;
  /** Peak bits per second (the master playlist's BANDWIDTH). */
  bitrate?: number;
  averageBitrate?: number;
  durationS?: number;
  bytes?: number;
  /** Playlist path relative to the master playlist. */
  playlist?: string;
  url?: string;
  /** Object key (S3) or path at the destination, when the destination reported one. */
  key?: string;
  cid?: string;
}

/**
 * The JSON body sent for a delivery (the same bytes on every attempt):
 * `{id, type, createdAt, data}` where `data` is the job snapshot taken at the transition (jobId,
 * shortId, tenant, metadata, status, previousStatus, reason, stage, progress, attempt, maxAttempts,
 * encoderId, timings {createdAt, claimedAt, finishedAt, waitS, runS}, and per event: `error`,
 * `retryable`, `dead`, `runAfter` for job.failed; `etaS` for job.progress; `rendition` for
 * rendition.completed; `masterUrl`, `posterUrl`, `renditions`, `ipfsCid` for job.completed). URLs of
 * `local` destinations point at this coordinator's `publicUrl`. Pure.
 */
export function webhookBody(delivery: WebhookDelivery, publicUrl: string): string {
  const p = delivery.payload;
  const { result, destinationType, rendition, ...data } = p as Obj & {
    result?: unknown;
    destinationType?: unknown;
    rendition?: unknown;
  };
  const jobId = String(p.jobId ?? delivery.jobId ?? '');
  const local = (destinationType ?? 'local') === 'local';
  const r = isObj(result) ? result : {};
  const files = isObj(r.publish) && Array.isArray(r.publish.files) ? r.publish.files.filter(isObj) : [];
  const mediaBase = `${publicUrl}/media/${encodeURIComponent(jobId)}`;
  const localUrl = (reported: string | undefined, fallback: string) => {
    if (!local) return reported;
    const file = reported ? reported.split('?')[0].split('/').slice(-1)[0] : fallback;
    return `${mediaBase}/${file || fallback}`;
  };
  const shapeRendition = (x: Obj): WebhookRendition => {
    const playlist = str(x.playlist);
    const file = playlist ? files.find((f) => f.path === playlist) : undefined;
    const width = num(x.width);
    const height = num(x.height);
    const out: WebhookRendition = {
      name: str(x.name) ?? '?',
      ...(width && height ? { resolution: `${width}x${height}`, width, height } : {}),
      bitrate: num(x.bandwidth),
      averageBitrate: num(x.averageBandwidth),
      durationS: num(x.durationS),
      bytes: num(x.bytes),
      playlist,
      url: local && playlist ? `${mediaBase}/${playlist}` : (str(file?.url) ?? undefined),
      key: str(file?.key),
      cid: str(file?.cid),
    };
    return JSON.parse(JSON.stringify(out)) as WebhookRendition;
  };

  const body: Obj = { ...data };
  if (delivery.event === 'rendition.completed' && isObj(rendition))
    body.rendition = shapeRendition(rendition);
  if (delivery.event === 'job.completed') {
    body.masterUrl = localUrl(str(r.masterUrl), 'master.m3u8') ?? '';
    if (str(r.posterUrl)) body.posterUrl = localUrl(str(r.posterUrl), 'poster.jpg');
    body.renditions = (Array.isArray(r.renditions) ? r.renditions : []).filter(isObj).map(shapeRendition);
    if (isObj(r.publish) && str(r.publish.cid)) body.ipfsCid = str(r.publish.cid);
    if (isObj(r.encode)) body.encode = { backend: str(r.encode.backend), speed: num(r.encode.speed) };
  }
  return JSON.stringify({
    id: `whd_${delivery.id}`,
    type: delivery.event,
    createdAt: str(p.at) ?? delivery.createdAt.toISOString(),
    data: body,
  });
}
