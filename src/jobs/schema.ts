/**
 * The whole vidmesh database schema (Drizzle ORM, PostgreSQL dialect). `drizzle-kit generate` turns it
 * into the versioned SQL migrations committed in `drizzle/`; `src/jobs/migrate.ts` applies them.
 *
 * Terminology:
 * - job: one request to turn a source video into a rendition ladder; leased to one encoder at a time.
 * - rendition: one output of a job (e.g. `720p`); has its own status so it can be re-run alone.
 * - lease: (owner encoder id, random token, expiry); every renew/complete/fail names owner and token.
 * - event: one audit row per status transition (from, to, actor, reason, time, details).
 * - encoder: a node that claims jobs: infrastructure | community | desktop | browser.
 *
 * This module is imported by drizzle-kit directly, so it imports nothing but drizzle-orm and the
 * pure vocabulary (status, kind, priority names; the CHECK constraints and index predicates use it).
 */
import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  bigserial,
  boolean,
  check,
  doublePrecision,
  type ExtraConfigColumn,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  real,
  smallint,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import {
  BID_STATES,
  ENCODER_APPROVALS,
  ENCODER_KINDS,
  ENCODER_STATUSES,
  type EncoderApproval,
  type EncoderKind,
  type EncoderStatus,
  FINAL_STATUSES,
  JOB_STATUSES,
  type JobNetwork,
  type JobStage,
  type JobStatus,
  LEASED_STATUSES,
  LEDGER_ACCOUNT_KINDS,
  MARKET_ORDER_STATES,
  PAYOUT_STATES,
  PRIORITIES,
  PROTOCOL_FAMILIES,
  type Priority,
  type ProtocolFamily,
  type QueueName,
  RENDITION_STATUSES,
  type RenditionStatus,
  sqlList,
  WAITING_STATUSES,
} from './vocabulary.js';

/** `<column> IN ('a', 'b')` or `status IN (…)` from a vocabulary list. */
const inList = (values: readonly string[]) => sql.raw(`IN ${sqlList(values)}`);

const tz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

const rank = (kind: EncoderKind) => sql.raw(`coalesce(array_position(preferred_kinds, '${kind}'::text), 9)`);

const claimIndex = (
  kind: EncoderKind,
  t: { weight: ExtraConfigColumn; createdAt: ExtraConfigColumn; id: ExtraConfigColumn },
  rankColumn: ExtraConfigColumn,
) =>
  index(`jobs_claim_${kind}_idx`)
    .on(t.weight.desc(), rankColumn, t.createdAt, t.id)
    .where(sql`status ${inList(WAITING_STATUSES)}`);

export const jobs = pgTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    shortId: text('short_id').notNull(),
    tenant: text('tenant').notNull().default('default'),
    owner: text('owner'),
    idempotencyKey: text('idempotency_key'),
    protocol: text('protocol').$type<ProtocolFamily>().notNull().default('vidmesh'),
    spec: jsonb('spec').notNull(),
    metadata: jsonb('metadata').notNull().default(sql`'{}'::jsonb`),
    /** W3C traceparent of the submit span (drizzle/0006); null when tracing was off. */
    traceparent: text('traceparent'),
    /** Who may claim it beyond its tenant's and the operator's encoders (drizzle/0007). */
    network: text('network').$type<JobNetwork>().notNull().default('private'),
    /** Claim gate of the marketplace (drizzle/0021): NULL anyone, '' nobody yet, else that encoder only. */
    reservedFor: text('reserved_for'),
    /** A pin's end (drizzle/0028): the `reserved_for` encoder holds the job until then; NULL: no pin. */
    pinUntil: tz('pin_until'),
    /** When the pin ends: true, the owner's routing takes over; false, the job is dead-lettered. */
    pinFallback: boolean('pin_fallback').notNull().default(true),
    status: text('status').$type<JobStatus>().notNull().default('queued'),
    stage: text('stage').$type<JobStage>(),
    progress: real('progress').notNull().default(0),
    etaS: real('eta_s'),
    /** Encode speed (× real time) the encoder last reported (drizzle/0011). */
    speed: real('speed'),
    /** Frames per second the encoder last reported (drizzle/0018). */
    fps: real('fps'),
    /** Routing (drizzle/0022): the owner's browser encoder may claim from here, NULL: no browser step. */
    routeBrowserAt: tz('route_browser_at'),
    /** Routing (drizzle/0022): encoders other than the owner's claim from here; NULL: at once. */
    routeOpenAt: tz('route_open_at'),
    /** Routing (drizzle/0023): the owner's desktop agent offered the agent step; its silence ends it. */
    routeAgent: text('route_agent'),
    /** The owner's settings at submit (drizzle/0022): their browser encoder, community encoders. */
    allowBrowser: boolean('allow_browser').notNull().default(true),
    allowCommunity: boolean('allow_community').notNull().default(true),
    queue: text('queue').$type<QueueName>().notNull().default('default'),
    priority: text('priority').$type<Priority>().notNull().default('medium'),
    /** queue weight x priority weight, fixed at submit: the first claim ordering key. */
    weight: integer('weight').notNull(),
    requiredCodecs: text('required_codecs').array().notNull().default(sql`'{}'::text[]`),
    requiredHwaccel: text('required_hwaccel'),
    sourceHeight: integer('source_height'),
    durationS: doublePrecision('duration_s'),
    requiredTags: text('required_tags').array().notNull().default(sql`'{}'::text[]`),
    preferredKinds: text('preferred_kinds')
      .array()
      .$type<EncoderKind[]>()
      .notNull()
      .default(sql`'{}'::text[]`),
    // Position of each encoder kind in preferred_kinds (9: not listed), stored so the claim query of an
    // encoder of that kind walks one index in claim order instead of sorting every queued job.
    rankInfrastructure: smallint('rank_infrastructure').notNull().generatedAlwaysAs(rank('infrastructure')),
    rankCommunity: smallint('rank_community').notNull().generatedAlwaysAs(rank('community')),
    rankDesktop: smallint('rank_desktop').notNull().generatedAlwaysAs(rank('desktop')),
    rankBrowser: smallint('rank_browser').notNull().generatedAlwaysAs(rank('browser')),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(5),
    runAfter: tz('run_after').notNull(),
    leaseOwner: text('lease_owner'),
    leaseToken: text('lease_token'),
    leaseExpiresAt: tz('lease_expires_at'),
    /** The encoder that last held the lease (kept after the lease ends, for listing and load). */
    encoderId: text('encoder_id'),
    result: jsonb('result'),
    lastError: jsonb('last_error'),
    logSeq: bigint('log_seq', { mode: 'number' }).notNull().default(0),
    createdAt: tz('created_at').notNull(),
    updatedAt: tz('updated_at').notNull(),
    claimedAt: tz('claimed_at'),
    finishedAt: tz('finished_at'),
    /** Encoders whose result for this job failed verification: never leased it again (drizzle/0009). */
    excludedEncoders: text('excluded_encoders').array().notNull().default(sql`'{}'::text[]`),
    // Chunked encoding (drizzle/0015, docs/chunking.md): the job a chunk task is part of, and its place.
    parentId: text('parent_id').references((): AnyPgColumn => jobs.id, { onDelete: 'cascade' }),
    chunkIndex: integer('chunk_index'),
  },
  (t) => [
    uniqueIndex('jobs_parent_chunk_idx').on(t.parentId, t.chunkIndex).where(sql`parent_id IS NOT NULL`),
    uniqueIndex('jobs_short_id_key').on(t.shortId),
    uniqueIndex('jobs_idempotency_key').on(t.tenant, t.idempotencyKey),
    // The claim query, one per encoder kind: claimable rows in claim order.
    claimIndex('infrastructure', t, t.rankInfrastructure),
    claimIndex('community', t, t.rankCommunity),
    claimIndex('desktop', t, t.rankDesktop),
    claimIndex('browser', t, t.rankBrowser),
    // The rescue sweep: live leases by expiry.
    index('jobs_lease_expiry_idx')
      .on(t.leaseExpiresAt)
      .where(sql`status ${inList(LEASED_STATUSES)}`),
    // Listing (newest first) and retention.
    index('jobs_created_idx').on(t.createdAt.desc(), t.id.desc()),
    index('jobs_status_created_idx').on(t.status, t.createdAt.desc()),
    index('jobs_finished_idx')
      .on(t.finishedAt)
      .where(sql`status ${inList(FINAL_STATUSES)}`),
    index('jobs_owner_idx').on(t.tenant, t.owner, t.createdAt.desc()),
    index('jobs_encoder_idx').on(t.encoderId, t.status),
    // The silent-agent sweep (drizzle/0023).
    index('jobs_route_agent_idx').on(t.routeAgent).where(sql`route_agent IS NOT NULL`),
    check('jobs_status_check', sql`${t.status} ${inList(JOB_STATUSES)}`),
    check('jobs_priority_check', sql`${t.priority} ${inList(PRIORITIES)}`),
    check('jobs_protocol_check', sql`${t.protocol} ${inList(PROTOCOL_FAMILIES)}`),
  ],
);

export const renditions = pgTable(
  'renditions',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    position: integer('position').notNull().default(0),
    status: text('status').$type<RenditionStatus>().notNull().default('pending'),
    progress: real('progress').notNull().default(0),
    result: jsonb('result'),
    error: text('error'),
    updatedAt: tz('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.jobId, t.name] }),
    check('renditions_status_check', sql`${t.status} ${inList(RENDITION_STATUSES)}`),
  ],
);

export const jobEvents = pgTable(
  'job_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    fromStatus: text('from_status').$type<JobStatus>(),
    toStatus: text('to_status').$type<JobStatus>().notNull(),
    actor: text('actor').notNull(),
    reason: text('reason'),
    details: jsonb('details'),
    at: tz('at').notNull(),
  },
  (t) => [index('job_events_job_idx').on(t.jobId, t.id)],
);

export const jobLogs = pgTable(
  'job_logs',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    stream: text('stream').notNull().default('pipeline'),
    line: text('line').notNull(),
    at: tz('at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.seq] })],
);

export const encoders = pgTable(
  'encoders',
  {
    id: text('id').primaryKey(),
    did: text('did'),
    publicKey: text('public_key'),
    name: text('name').notNull(),
    kind: text('kind').$type<EncoderKind>().notNull(),
    capabilities: jsonb('capabilities').notNull(),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    version: text('version'),
    tenant: text('tenant'),
    /** Liveness: online while heartbeats arrive, offline after the silence threshold. */
    status: text('status').$type<EncoderStatus>().notNull().default('online'),
    /** Operator decision for the approval policy: approved | pending | banned. */
    approval: text('approval').$type<EncoderApproval>().notNull().default('approved'),
    registeredAt: tz('registered_at').notNull(),
    lastSeenAt: tz('last_seen_at').notNull(),
    jobsCompleted: integer('jobs_completed').notNull().default(0),
    jobsFailed: integer('jobs_failed').notNull().default(0),
    encodeSeconds: doublePrecision('encode_seconds').notNull().default(0),
    /** Host name the encoder reports with its heartbeats (drizzle/0018). */
    host: text('host'),
    /** Load the encoder reports with its heartbeats, `EncoderLoad` (drizzle/0018). */
    load: jsonb('load'),
    /** The user a desktop agent or browser encoder works for (drizzle/0022, from `agent_bindings`). */
    userTenant: text('user_tenant'),
    userName: text('user_name'),
  },
  (t) => [
    uniqueIndex('encoders_did_key').on(t.did),
    index('encoders_user_idx').on(t.userTenant, t.userName).where(sql`user_name IS NOT NULL`),
    index('encoders_last_seen_idx').on(t.lastSeenAt).where(sql`status = 'online'`),
    check('encoders_kind_check', sql`${t.kind} ${inList(ENCODER_KINDS)}`),
    check('encoders_status_check', sql`${t.status} ${inList(ENCODER_STATUSES)}`),
    check('encoders_approval_check', sql`${t.approval} ${inList(ENCODER_APPROVALS)}`),
  ],
);

/** Each encoder's record of verified results (src/trust/reputation.ts, drizzle/0009). */
export const encoderReputation = pgTable('encoder_reputation', {
  encoderId: text('encoder_id')
    .primaryKey()
    .references(() => encoders.id, { onDelete: 'cascade' }),
  verifiedPasses: integer('verified_passes').notNull().default(0),
  verifiedFailures: integer('verified_failures').notNull().default(0),
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
  lastFailure: text('last_failure'),
  lastFailureAt: tz('last_failure_at'),
  updatedAt: tz('updated_at').notNull().defaultNow(),
});

/** API keys of users and services (the identity module writes the queries). Only a hash is stored. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    hash: text('hash').notNull(),
    scopes: text('scopes').array().notNull().default(sql`'{}'::text[]`),
    tenant: text('tenant').notNull().default('default'),
    createdAt: tz('created_at').notNull().defaultNow(),
    expiresAt: tz('expires_at'),
    revokedAt: tz('revoked_at'),
    lastUsedAt: tz('last_used_at'),
  },
  (t) => [uniqueIndex('api_keys_prefix_key').on(t.prefix)],
);

/** Nonces of signed requests seen until they expire (replay refusal). */
export const requestNonces = pgTable(
  'request_nonces',
  {
    did: text('did').notNull(),
    nonce: text('nonce').notNull(),
    expiresAt: tz('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.did, t.nonce] }), index('request_nonces_expires_idx').on(t.expiresAt)],
);

/** Outgoing webhook deliveries (the webhooks module's sender loop). */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    jobId: text('job_id').references(() => jobs.id, { onDelete: 'set null' }),
    tenant: text('tenant').notNull().default('default'),
    url: text('url').notNull(),
    event: text('event').notNull(),
    payload: jsonb('payload').notNull(),
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: tz('next_attempt_at').notNull().defaultNow(),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    lastLatencyMs: integer('last_latency_ms'),
    createdAt: tz('created_at').notNull().defaultNow(),
    deliveredAt: tz('delivered_at'),
    /** Where the signing secret lives: the job's spec (`job`) or a tenant subscription (its id). */
    subscriptionId: text('subscription_id'),
    /** The job event that caused it (null for progress deliveries). */
    eventId: bigint('event_id', { mode: 'number' }),
    /** First bytes of the last response body (delivery log). */
    lastResponse: text('last_response'),
  },
  (t) => [
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`status = 'pending'`),
    index('webhook_deliveries_job_idx').on(t.jobId),
    // Per-endpoint order of one job: the sender skips a delivery while an older one is pending.
    index('webhook_deliveries_order_idx').on(t.jobId, t.url, t.id).where(sql`status = 'pending'`),
    check('webhook_deliveries_status_check', sql`${t.status} IN ('pending', 'delivered', 'failed')`),
  ],
);

/** One row per delivery attempt (the delivery log shown by the API and `vidmesh webhooks deliveries`). */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: bigint('delivery_id', { mode: 'number' })
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    at: tz('at').notNull(),
    statusCode: integer('status_code'),
    latencyMs: integer('latency_ms').notNull(),
    error: text('error'),
    response: text('response'),
  },
  (t) => [index('webhook_attempts_delivery_idx').on(t.deliveryId, t.id)],
);

/** Per-tenant webhook subscriptions (every job of the tenant); the secret is sealed at rest. */
export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: text('id').primaryKey(),
    tenant: text('tenant').notNull(),
    url: text('url').notNull(),
    /** Event names; empty: every event. */
    events: text('events').array().notNull().default(sql`'{}'::text[]`),
    secret: text('secret'),
    description: text('description'),
    createdAt: tz('created_at').notNull().defaultNow(),
  },
  (t) => [index('webhook_subscriptions_tenant_idx').on(t.tenant)],
);

/** Files uploaded to the coordinator's upload endpoint. */
export const uploads = pgTable(
  'uploads',
  {
    id: text('id').primaryKey(),
    tenant: text('tenant').notNull().default('default'),
    filename: text('filename').notNull(),
    bytes: bigint('bytes', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    path: text('path').notNull(),
    createdAt: tz('created_at').notNull().defaultNow(),
  },
  (t) => [index('uploads_tenant_idx').on(t.tenant, t.createdAt.desc())],
);

// ---- live (issue 23, drizzle/0014_live.sql, docs/live.md) ----

/** One live job's ingest: the SHA-256 (hex) of its stream key, its playlist kind and whether it is recorded. */
export const liveStreams = pgTable(
  'live_streams',
  {
    jobId: text('job_id')
      .primaryKey()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    tenant: text('tenant').notNull().default('default'),
    keySha256: text('key_sha256').notNull(),
    /** `event` (every segment kept) or `sliding` (the last `window_segments`). */
    playlist: text('playlist').notNull().default('event'),
    windowSegments: integer('window_segments').notNull().default(6),
    record: boolean('record').notNull().default(false),
    createdAt: tz('created_at').notNull().defaultNow(),
    endedAt: tz('ended_at'),
    /** When the maintenance leader deleted the ended stream's live files (0026); null while kept. */
    filesRemovedAt: tz('files_removed_at'),
  },
  (t) => [
    uniqueIndex('live_streams_key_idx').on(t.keySha256),
    index('live_streams_cleanup_idx')
      .on(t.endedAt)
      .where(sql`${t.endedAt} IS NOT NULL AND ${t.filesRemovedAt} IS NULL`),
    check('live_streams_playlist_check', sql`${t.playlist} IN ('event', 'sliding')`),
  ],
);

/** The segments of a live job's media playlists, numbered per rendition by the coordinator (media sequence). */
export const liveSegments = pgTable(
  'live_segments',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    rendition: text('rendition').notNull(),
    seq: integer('seq').notNull(),
    durationS: doublePrecision('duration_s').notNull(),
    /** Start on the ingest timeline, seconds. */
    startS: doublePrecision('start_s').notNull(),
    programDateTime: tz('program_date_time'),
    /** First segment of another lease (encoder or attempt): EXT-X-DISCONTINUITY before it. */
    discontinuity: boolean('discontinuity').notNull().default(false),
    attempt: integer('attempt').notNull(),
    /** SHA-256 (hex) of the lease token the segment came with: a change of lease is a discontinuity. */
    leaseSha256: text('lease_sha256').notNull(),
    bytes: integer('bytes').notNull(),
    createdAt: tz('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.rendition, t.seq] })],
);

/** Named, versioned ladder presets per tenant (`/api/v1/presets`); each PUT adds a version. */
export const ladderPresets = pgTable(
  'ladder_presets',
  {
    tenant: text('tenant').notNull(),
    name: text('name').notNull(),
    version: integer('version').notNull(),
    /** Ladder options (media `ladderOptionsSchema` input), validated when written. */
    options: jsonb('options').notNull(),
    createdAt: tz('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenant, t.name, t.version] })],
);

/** A did:key identity paired to one user of a tenant (drizzle/0022): its encoder works for them. */
export const agentBindings = pgTable('agent_bindings', {
  did: text('did').primaryKey(),
  tenant: text('tenant').notNull(),
  userName: text('user_name').notNull(),
  createdAt: tz('created_at').notNull().defaultNow(),
});

/** Per-user routing settings (drizzle/0022, docs/encoders.md); a user without a row gets the defaults. */
export const userSettings = pgTable(
  'user_settings',
  {
    tenant: text('tenant').notNull(),
    userName: text('user_name').notNull(),
    preferOwnAgent: boolean('prefer_own_agent').notNull().default(true),
    allowBrowser: boolean('allow_browser').notNull().default(true),
    allowCommunity: boolean('allow_community').notNull().default(true),
    maxPrice: numeric('max_price'),
    updatedAt: tz('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenant, t.userName] })],
);

// ---- community marketplace (drizzle/0021, src/market, docs/marketplace.md); amounts in milli-HBD ----

/** Ledger accounts; only `external` (the Hive hot wallet's mirror) may go below zero. */
export const marketAccounts = pgTable(
  'market_accounts',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull(),
    balance: bigint('balance', { mode: 'number' }).notNull().default(0),
    createdAt: tz('created_at').notNull().defaultNow(),
  },
  (t) => [
    check('market_accounts_kind_check', sql`${t.kind} ${inList(LEDGER_ACCOUNT_KINDS)}`),
    check('market_accounts_balance_check', sql`${t.kind} = 'external' OR ${t.balance} >= 0`),
  ],
);

/** One money movement, named by its idempotency key. */
export const marketTransactions = pgTable('market_transactions', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  idempotencyKey: text('idempotency_key').notNull().unique(),
  kind: text('kind').notNull(),
  jobId: text('job_id'),
  memo: text('memo'),
  createdAt: tz('created_at').notNull().defaultNow(),
});

/** The legs of movements (sum zero per transaction). */
export const marketEntries = pgTable(
  'market_entries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    transactionId: bigint('transaction_id', { mode: 'number' })
      .notNull()
      .references(() => marketTransactions.id),
    accountId: text('account_id')
      .notNull()
      .references(() => marketAccounts.id),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    balanceAfter: bigint('balance_after', { mode: 'number' }).notNull(),
    createdAt: tz('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('market_entries_account_idx').on(t.accountId, t.id),
    check('market_entries_amount_check', sql`${t.amount} <> 0`),
  ],
);

/** An encoder's prices (milli-HBD per output minute per tier) and capacity. */
export const marketOffers = pgTable('market_offers', {
  encoderId: text('encoder_id')
    .primaryKey()
    .references(() => encoders.id, { onDelete: 'cascade' }),
  prices: jsonb('prices').notNull(),
  maxConcurrent: integer('max_concurrent').notNull(),
  updatedAt: tz('updated_at').notNull().defaultNow(),
});

/** An encoder's did:key bound to a Hive account by a Keychain-signed statement (payouts go there only). */
export const marketBindings = pgTable('market_bindings', {
  encoderId: text('encoder_id')
    .primaryKey()
    .references(() => encoders.id, { onDelete: 'cascade' }),
  did: text('did').notNull(),
  hiveAccount: text('hive_account').notNull(),
  statement: text('statement').notNull(),
  signature: text('signature').notNull(),
  boundAt: tz('bound_at').notNull().defaultNow(),
});

/** One order per priced job: its payer, maximum price and the accepted bid. */
export const marketOrders = pgTable(
  'market_orders',
  {
    jobId: text('job_id')
      .primaryKey()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    payer: text('payer').notNull(),
    maxPrice: bigint('max_price', { mode: 'number' }).notNull(),
    autoAccept: boolean('auto_accept').notNull(),
    state: text('state').notNull(),
    bidId: text('bid_id'),
    encoderId: text('encoder_id'),
    price: bigint('price', { mode: 'number' }),
    fee: bigint('fee', { mode: 'number' }),
    deadline: tz('deadline'),
    durationS: doublePrecision('duration_s'),
    heights: integer('heights').array(),
    createdAt: tz('created_at').notNull().defaultNow(),
    updatedAt: tz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('market_orders_state_check', sql`${t.state} ${inList(MARKET_ORDER_STATES)}`),
    index('market_orders_open_idx').on(t.state).where(sql`state IN ('open', 'accepted')`),
  ],
);

/** Bids of encoders on orders; one open bid per encoder and job. */
export const marketBids = pgTable(
  'market_bids',
  {
    id: text('id').primaryKey(),
    jobId: text('job_id')
      .notNull()
      .references(() => marketOrders.jobId, { onDelete: 'cascade' }),
    encoderId: text('encoder_id').notNull(),
    price: bigint('price', { mode: 'number' }).notNull(),
    state: text('state').notNull(),
    createdAt: tz('created_at').notNull().defaultNow(),
  },
  (t) => [
    check('market_bids_state_check', sql`${t.state} ${inList(BID_STATES)}`),
    uniqueIndex('market_bids_one_open_idx').on(t.jobId, t.encoderId).where(sql`state = 'open'`),
  ],
);

/** Deposit ids: the memo of the HBD transfer that credits `account_id`. */
export const marketDeposits = pgTable('market_deposits', {
  id: text('id').primaryKey(),
  accountId: text('account_id').notNull(),
  createdAt: tz('created_at').notNull().defaultNow(),
});

/** HBD transfers out (encoder payouts), with the trx id recorded before each broadcast. */
export const marketPayouts = pgTable(
  'market_payouts',
  {
    id: text('id').primaryKey(),
    accountId: text('account_id').notNull(),
    hiveAccount: text('hive_account').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    memo: text('memo').notNull(),
    state: text('state').notNull(),
    trxId: text('trx_id'),
    signedTx: jsonb('signed_tx'),
    expiresAt: tz('expires_at'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    createdAt: tz('created_at').notNull().defaultNow(),
    updatedAt: tz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('market_payouts_state_check', sql`${t.state} ${inList(PAYOUT_STATES)}`),
    index('market_payouts_open_idx').on(t.createdAt).where(sql`state <> 'confirmed'`),
  ],
);

/** Positions of the Hive rail's readers (account history index). */
export const marketCursors = pgTable('market_cursors', {
  name: text('name').primaryKey(),
  position: bigint('position', { mode: 'number' }).notNull(),
  updatedAt: tz('updated_at').notNull().defaultNow(),
});
