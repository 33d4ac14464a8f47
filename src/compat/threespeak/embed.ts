/**
 * The 3Speak embed protocol (the encoder client's "v2", Mantequilla-Soft/3speakencoder HEAD
 * `src/services/EmbedPollerService.ts`, `DirectApiService.ts`, `WebhookService.ts`,
 * `src/types/DirectApi.ts`): wire shapes and the pure parts vidmesh's gateway needs to serve it.
 *
 * Terms: an *embed job* is the job request the client takes (`DirectJobRequest`); *embed mode* is the
 * client polling `myJob` for one; *managed mode* is the coordinator pushing one to the client's Direct
 * API (`POST /encode`). Either way the client reports by `POST webhook_url` (and progress by
 * `POST <webhook_url>/progress`) with `X-API-Key: api_key`; it never calls acceptJob/pingJob/finishJob.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Job } from '../../jobs/index.js';
import type { ThreeSpeakMeta } from './legacy.js';

/** Which generation of the 3Speak client a node runs: the legacy gateway protocol or the embed poller. */
export type ClientGeneration = 'legacy' | 'embed';

/** Encoder tag recording a node's generation, from its registration or the calls it makes. */
export const generationTag = (g: ClientGeneration): string => `3speak-client:${g}`;

/**
 * The generation an `updateNode` `node_info` shows. The legacy gateway client (GatewayClient, fdf0111)
 * sends `{name, cryptoAccounts, peer_id, commit_hash}` (`peer_id` from its kubo, possibly empty); the
 * embed poller (EmbedPollerService.registerNode) sends `{name, cryptoAccounts, commit_hash}` only.
 */
export function generationOfNodeInfo(nodeInfo: Record<string, unknown>): ClientGeneration {
  return Object.hasOwn(nodeInfo, 'peer_id') ? 'legacy' : 'embed';
}

/**
 * The generation a node's User-Agent hints at: `3Speak-Encoder/<version>` is the embed poller's,
 * `3Speak-Encoder-Modern/1.0.0` the legacy client's. Only a hint, for nodes that never registered
 * with this gateway and made no protocol-specific call: both sign the same `{timestamp}` myJob payload,
 * and a proxy may rewrite the header.
 */
export function isEmbedClient(userAgent: string | undefined): boolean {
  return typeof userAgent === 'string' && /^3Speak-Encoder\/\d/i.test(userAgent);
}

/**
 * The generation to answer a node's `myJob` for: its recorded generation (registration shape or the
 * calls it made: acceptJob/pingJob/finishJob are legacy-only, the job webhook embed-only), else the
 * User-Agent hint.
 */
export function clientGeneration(tags: readonly string[], userAgent: string | undefined): ClientGeneration {
  if (tags.includes(generationTag('embed'))) return 'embed';
  if (tags.includes(generationTag('legacy'))) return 'legacy';
  return isEmbedClient(userAgent) ? 'embed' : 'legacy';
}

/** The job an embed client takes (`DirectJobRequest`; required: owner, permlink, input_cid, webhook_url, api_key, short). */
export interface EmbedJob {
  owner: string;
  permlink: string;
  /** Bare CID of the source (the client fetches it from IPFS gateways or its kubo). */
  input_cid: string;
  /** 480p only and the first 60 s. */
  short: boolean;
  /** The full 1080p/720p/480p ladder (never upscaled); false or absent: 480p only. */
  premium: boolean;
  webhook_url: string;
  /** Sent back as `X-API-Key` on the webhook and progress calls. */
  api_key: string;
  originalFilename?: string;
}

/** The bare CID of an `ipfs://CID[/path]` source, or null (embed clients take CIDs only). */
export function sourceCid(uri: string): string | null {
  const m = /^ipfs:\/\/([A-Za-z0-9]+)\/?$/.exec(uri);
  return m?.[1] ?? null;
}

/**
 * The embed job for a leased 3Speak-family job: `premium` unless short, so the client encodes the
 * 3Speak ladder the job asks for. Null when the source is not a bare IPFS CID.
 */
export function toEmbedJob(meta: ThreeSpeakMeta, webhookUrl: string, apiKey: string): EmbedJob | null {
  const cid = sourceCid(meta.input.uri);
  if (!cid) return null;
  const short = meta.short === true;
  return {
    owner: meta.metadata.video_owner,
    permlink: meta.metadata.video_permlink,
    input_cid: cid,
    short,
    premium: !short,
    webhook_url: webhookUrl,
    api_key: apiKey,
  };
}

/**
 * The per-job API key of an embed hand-out: HMAC-SHA256 keyed by the lease token (a server-side
 * secret) over the job id, base64url. It needs no storage, holds on every coordinator sharing the
 * database, and dies with the lease: a rescued or re-leased job has another token, so an old holder's
 * key no longer opens its webhook.
 */
export function embedApiKey(leaseToken: string, jobId: string): string {
  return createHmac('sha256', leaseToken).update(`3speak-embed:${jobId}`).digest('base64url');
}

/** Whether `presented` is the embed key of this lease (constant time). */
export function embedKeyMatches(presented: unknown, leaseToken: string, jobId: string): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 128) return false;
  const want = Buffer.from(embedApiKey(leaseToken, jobId));
  const got = Buffer.from(presented);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The completion/failure webhook body (`WebhookPayload`); fields vidmesh does not read are allowed through. */
export const embedWebhookSchema = z.looseObject({
  owner: z.string().max(256).optional(),
  permlink: z.string().max(256).optional(),
  status: z.enum(['complete', 'failed']),
  manifest_cid: z.string().max(128).optional(),
  video_url: z.string().max(2048).optional(),
  job_id: z.string().max(256).optional(),
  qualities_encoded: z.array(z.string().max(32)).max(16).optional(),
  processing_time_seconds: z.number().nonnegative().optional(),
  error: z.string().max(4000).optional(),
});
export type EmbedWebhook = z.output<typeof embedWebhookSchema>;

/** The progress ping body (`sendProgressPing`): percent 0..100, stage (the profile being encoded). */
export const embedProgressSchema = z.looseObject({
  progress: z.coerce.number().min(0).max(100),
  stage: z.string().max(64).optional(),
});

/** The Direct API's answer to `POST /encode` (`DirectJobResponse`): the node's own job id. */
export const directEncodeAnswerSchema = z.looseObject({
  job_id: z.string().min(1).max(256),
  status: z.string().max(32).optional(),
});

/** Routes of the webhook an embed job reports to, under the gateway (`:id` the vidmesh job id). */
export const EMBED_WEBHOOK_ROUTE = '/api/v0/gateway/embed/jobs/:id/webhook';

/** The webhook URL of `job` on a coordinator reachable at `base` (no trailing slash). */
export function embedWebhookUrl(base: string, job: Pick<Job, 'id'>): string {
  return `${base}/api/v0/gateway/embed/jobs/${encodeURIComponent(job.id)}/webhook`;
}
