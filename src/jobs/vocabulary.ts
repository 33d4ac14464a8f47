/**
 * The job vocabulary, defined once: every status, stage, kind, queue and priority name vidmesh uses, as
 * `as const` arrays. The TypeScript types, the zod enums of the API and job specs, the SQL `IN (…)`
 * lists and CHECK constraints, and the dashboard's types (web/src) all derive from these arrays, so a
 * new name is added here and nowhere else. Pure data, no imports: the dashboard bundles this file.
 *
 * - job status: `queued` (waiting, claimable from `run_after`), `leased` (claimed, no progress yet),
 *   `running` (progress reported), `verifying` (an untrusted encoder's result is checked by the
 *   coordinator before publication, docs/verification.md; the lease stays, renewed by the coordinator),
 *   `failed` (retryable, waits for its backoff), and the final ones
 *   `completed`, `dead` (attempts exhausted or non-retryable), `cancelled` (final until a manual retry).
 * - stage: what a running job is doing.
 * - rendition status: `skipped` is a rendition the encoder's plan leaves out for this source (never
 *   upscaled): it will not be produced.
 * - encoder kind: how an encoder reaches the coordinator and how far it is trusted.
 * - queue, priority: scheduling; claim weight = queue weight × priority weight.
 */

export const JOB_STATUSES = [
  'queued',
  'leased',
  'running',
  'verifying',
  'completed',
  'failed',
  'dead',
  'cancelled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses a job leaves only by a manual retry. */
export const FINAL_STATUSES = ['completed', 'dead', 'cancelled'] as const satisfies readonly JobStatus[];
/** Statuses in which a lease is held. */
export const LEASED_STATUSES = ['leased', 'running', 'verifying'] as const satisfies readonly JobStatus[];
/** Statuses waiting for a claim (from `run_after`). */
export const WAITING_STATUSES = ['queued', 'failed'] as const satisfies readonly JobStatus[];

export const JOB_STAGES = ['downloading', 'encoding', 'uploading'] as const;
export type JobStage = (typeof JOB_STAGES)[number];

export const RENDITION_STATUSES = ['pending', 'running', 'completed', 'failed', 'skipped'] as const;
export type RenditionStatus = (typeof RENDITION_STATUSES)[number];
/** Rendition statuses of work not done yet (a lost lease sends them back to `pending`). */
export const OPEN_RENDITION_STATUSES = ['pending', 'running'] as const satisfies readonly RenditionStatus[];
/** Rendition statuses that need no more encoding (a retry without names leaves them alone). */
export const SETTLED_RENDITION_STATUSES = [
  'completed',
  'skipped',
] as const satisfies readonly RenditionStatus[];

export const ENCODER_KINDS = ['infrastructure', 'community', 'desktop', 'browser'] as const;
export type EncoderKind = (typeof ENCODER_KINDS)[number];

/**
 * Limits a kind of encoder never exceeds, applied by every claim whatever the encoder declares: a
 * browser tab (WebCodecs, docs/encoders.md) takes jobs of at most 120 s (`maxDurationS`, seconds) whose
 * tallest planned rendition is at most 480 pixels high (`maxHeight`). A limited encoder is offered only
 * jobs whose duration and output height the coordinator measured at submit.
 */
export const ENCODER_KIND_LIMITS: Readonly<
  Partial<Record<EncoderKind, { readonly maxDurationS: number; readonly maxHeight: number }>>
> = { browser: { maxDurationS: 120, maxHeight: 480 } };

export const QUEUES = ['live', 'default', 'batch'] as const;
export type QueueName = (typeof QUEUES)[number];

export const PRIORITIES = ['high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const PROTOCOL_FAMILIES = ['vidmesh', '3speak'] as const;
export type ProtocolFamily = (typeof PROTOCOL_FAMILIES)[number];

/** Who may claim a job beyond its tenant's and the operator's encoders: nobody else, or the open network. */
export const JOB_NETWORKS = ['private', 'community'] as const;
export type JobNetwork = (typeof JOB_NETWORKS)[number];

/** An encoder's liveness: online while heartbeats arrive, offline after the silence threshold. */
export const ENCODER_STATUSES = ['online', 'offline'] as const;
export type EncoderStatus = (typeof ENCODER_STATUSES)[number];

/** The operator's decision on an encoder; `suspended`: failed verifications (src/trust), reinstated by hand. */
export const ENCODER_APPROVALS = ['approved', 'pending', 'banned', 'suspended'] as const;
export type EncoderApproval = (typeof ENCODER_APPROVALS)[number];

/** Claim order weight = queue weight × priority weight (as in the FFmpeg-RTMP farm). */
export const QUEUE_WEIGHTS: Readonly<Record<QueueName, number>> = { live: 10, default: 5, batch: 1 };
export const PRIORITY_WEIGHTS: Readonly<Record<Priority, number>> = { high: 3, medium: 2, low: 1 };

/**
 * Every transition of the job store: the statuses it may start from and the ones it may end in
 * (docs/jobs.md, "Transitions"). The store's compare-and-set statements take their `status IN (…)`
 * guards from `from`.
 */
export const TRANSITIONS = {
  submit: { from: [], to: ['queued'] },
  claim: { from: WAITING_STATUSES, to: ['leased'] },
  /** A renew on a cancelled job is answered (`cancelled: true`) but changes nothing; `verifying` stays. */
  renew: { from: [...LEASED_STATUSES, 'cancelled'], to: ['running', 'verifying'] },
  /** The encoder reported a staged result; the coordinator verifies it under the same lease. */
  verify: { from: ['leased', 'running'], to: ['verifying'] },
  complete: { from: LEASED_STATUSES, to: ['completed'] },
  fail: { from: LEASED_STATUSES, to: ['failed', 'dead'] },
  release: { from: LEASED_STATUSES, to: ['queued'] },
  rescue: { from: LEASED_STATUSES, to: ['queued', 'dead'] },
  cancel: { from: [...WAITING_STATUSES, ...LEASED_STATUSES], to: ['cancelled'] },
  /** Plus `completed` when renditions are named (re-run some renditions of a finished job). */
  retry: { from: ['dead', 'failed', 'cancelled'], to: ['queued'] },
} as const satisfies Record<string, { from: readonly JobStatus[]; to: readonly JobStatus[] }>;
export type Transition = keyof typeof TRANSITIONS;

/** Whether `status` is one of `list` (narrows the type). */
export function isOneOf<T extends string>(list: readonly T[], status: string): status is T {
  return (list as readonly string[]).includes(status);
}

/**
 * `('a', 'b')`: a SQL list of quoted literals for `IN` guards and CHECK constraints, built from the
 * fixed arrays above only (never from input). Anything but lowercase names is refused, so no quoting
 * question can arise.
 */
export function sqlList(values: readonly string[]): string {
  for (const v of values) {
    if (!/^[a-z0-9_]+$/.test(v)) throw new RangeError(`not a vocabulary name: ${JSON.stringify(v)}`);
  }
  if (values.length === 0) throw new RangeError('empty SQL list');
  return `(${values.map((v) => `'${v}'`).join(', ')})`;
}

/**
 * Tags in this namespace are the coordinator's own (a split job's `vidmesh:stitch`, docs/chunking.md):
 * refused in job specs and encoder capabilities, so no client can strand a job and no encoder can
 * claim what only the coordinator may lease.
 */
export const RESERVED_TAG_PREFIX = 'vidmesh:';
export const isReservedTag = (tag: string): boolean => tag.toLowerCase().startsWith(RESERVED_TAG_PREFIX);

/**
 * The marketplace's vocabulary (src/market, docs/marketplace.md).
 * - ledger account kind: `user` (a payer's HBD), `encoder` (an encoder's earnings), `escrow` (one per job,
 *   holds the accepted price until settlement), `platform` (fees), `external` (the Hive hot wallet: the
 *   mirror of money outside the ledger, the only account that goes below zero).
 * - order state: `open` (taking bids), `accepted` (a bid won, its price held in escrow), and the final
 *   `paid` (released to the encoder after verification) and `refunded` (the job died or was cancelled).
 * - bid state: `open`, `accepted`, `lost` (another bid won or the job closed), `paid`, `refunded`.
 * - payout state: `pending` (debited, not signed yet), `signed` (trx id recorded, broadcast at least
 *   once), `confirmed` (seen by the Hive node).
 */
export const LEDGER_ACCOUNT_KINDS = ['user', 'encoder', 'escrow', 'platform', 'external'] as const;
export type LedgerAccountKind = (typeof LEDGER_ACCOUNT_KINDS)[number];
export const MARKET_ORDER_STATES = ['open', 'accepted', 'paid', 'refunded'] as const;
export type MarketOrderState = (typeof MARKET_ORDER_STATES)[number];
/** Orders whose escrow may still move (a hold to release or refund): their job is never removed. */
export const UNSETTLED_ORDER_STATES = ['open', 'accepted'] as const satisfies readonly MarketOrderState[];
export const BID_STATES = ['open', 'accepted', 'lost', 'paid', 'refunded'] as const;
export type BidState = (typeof BID_STATES)[number];
export const PAYOUT_STATES = ['pending', 'signed', 'confirmed'] as const;
export type PayoutState = (typeof PAYOUT_STATES)[number];
/** Rendition tiers an offer prices (by output height: sd ≤ 480, hd ≤ 720, fhd ≤ 1080, uhd above). */
export const PRICE_TIERS = ['sd', 'hd', 'fhd', 'uhd'] as const;
export type PriceTier = (typeof PRICE_TIERS)[number];
