import type { RenditionStatus, WebhookDelivery } from '../../jobs/index.js';

import { fileNameOf, mediaUrl } from '../../protocol/media-url.js';
import {
  type OutputResult,
  outputResultSchema,
  parseCompletionResult,
  type ResultRendition,
} from '../../protocol/result.js';

type Obj = Record<string, unknown>;

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

/** A rendition's state in the payload of every event but job.completed (`skipped`: never produced). */
export interface WebhookRenditionState {
  name: string;
  status: RenditionStatus;
  progress: number;
}

/**
 * The JSON body sent for a delivery (the same bytes on every attempt):
 * `{id, type, createdAt, data}` where `data` is the job snapshot taken at the transition (jobId,
 * shortId, tenant, metadata, status, previousStatus, reason, stage, progress, attempt, maxAttempts,
 * encoderId, timings {createdAt, claimedAt, finishedAt, waitS, runS}, and per event: `error`,
 * `retryable`, `dead`, `runAfter` for job.failed; `etaS` for job.progress; `rendition` for
 * rendition.completed; `output` (outputResultSchema) for output.completed/output.failed, and
 * `outputs` on job.completed of a job with outputs; `masterUrl`, `posterUrl`, `renditions`, `skipped` (names), `ipfsCid` for
 * job.completed; `renditions` states ({@link WebhookRenditionState}) for the others). URLs of
 * `local` destinations point at this coordinator's `publicUrl`. Pure.
 */
export function webhookBody(
  delivery: WebhookDelivery,
  publicUrl: string,
  mediaBase = `${publicUrl}/media`,
): string {
  const p = delivery.payload;
  const { result, destinationType, destinationPrefix, rendition, renditionStates, output, ...data } =
    p as Obj & {
      result?: unknown;
      output?: unknown;
      destinationType?: unknown;
      destinationPrefix?: unknown;
      rendition?: unknown;
      renditionStates?: unknown;
    };
  const jobId = String(p.jobId ?? delivery.jobId ?? '');
  const local = (destinationType ?? 'local') === 'local';
  const prefix = typeof destinationPrefix === 'string' ? destinationPrefix : undefined;
  const r = parseCompletionResult(result);
  const files = r?.publish.files ?? [];
  const media = (path: string) => mediaUrl(mediaBase, jobId, prefix, path);
  const localUrl = (reported: string | undefined, fallback: string) =>
    local ? media((reported && fileNameOf(reported)) || fallback) : reported;
  const shapeRendition = (x: ResultRendition): WebhookRendition => {
    const playlist = x.playlist;
    const file = playlist ? files.find((f) => f.path === playlist) : undefined;
    const { width, height } = x;
    const out: WebhookRendition = {
      name: x.name,
      ...(width && height ? { resolution: `${width}x${height}`, width, height } : {}),
      bitrate: x.bandwidth,
      averageBitrate: x.averageBandwidth,
      durationS: x.durationS,
      bytes: x.bytes,
      playlist,
      url: local && playlist ? media(playlist) : file?.url,
      key: file?.key,
      cid: file?.cid,
    };
    return JSON.parse(JSON.stringify(out)) as WebhookRendition;
  };

  const body: Obj = { ...data };
  // Payloads enqueued before migration 0008 have no rendition states.
  const states = Array.isArray(renditionStates) ? (renditionStates as WebhookRenditionState[]) : undefined;
  if (states && delivery.event !== 'job.completed') body.renditions = states;
  if (delivery.event === 'rendition.completed') {
    // The trigger snapshots one element of `result.renditions`: the same tolerant parse applies.
    const one = parseCompletionResult({ renditions: [rendition] })?.renditions[0];
    if (one) body.rendition = shapeRendition(one);
  }
  // Relative `local` URLs (an in-process encoder's) are made absolute on this coordinator.
  const absolute = (u: string) => (u.startsWith('/') ? `${publicUrl}${u}` : u);
  const shapeOutput = (o: OutputResult) => ({
    ...o,
    ...(o.url ? { url: absolute(o.url) } : {}),
    ...(o.files ? { files: o.files.map(absolute) } : {}),
  });
  if (delivery.event === 'output.completed' || delivery.event === 'output.failed') {
    const one = outputResultSchema.safeParse(output);
    if (one.success) body.output = shapeOutput(one.data);
  }
  if (delivery.event === 'job.completed' && r?.outputs) body.outputs = r.outputs.map(shapeOutput);
  if (delivery.event === 'job.completed' && r) {
    body.masterUrl = localUrl(r.masterUrl || undefined, 'master.m3u8') ?? '';
    if (r.posterUrl) body.posterUrl = localUrl(r.posterUrl, 'poster.jpg');
    body.renditions = r.renditions.map(shapeRendition);
    if (states) body.skipped = states.filter((s) => s.status === 'skipped').map((s) => s.name);
    if (r.publish.cid) body.ipfsCid = r.publish.cid;
    if (r.encode) body.encode = { backend: r.encode.backend, speed: r.encode.speed };
  } else if (delivery.event === 'job.completed') {
    body.masterUrl = local ? media('master.m3u8') : '';
    body.renditions = [];
  }
  return JSON.stringify({
    id: `whd_${delivery.id}`,
    type: delivery.event,
    createdAt: typeof p.at === 'string' ? p.at : delivery.createdAt.toISOString(),
    data: body,
  });
}
