import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { extname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { VidmeshError } from './errors.js';
import type { Logger } from './log.js';
import type { SsrfPolicy, StorageContext } from './storage/index.js';

/**
 * Configuration of every vidmesh process (`serve`, `encoder`, CLI clients), parsed once at start-up
 * from command-line flags, environment variables and an optional config file (`--config` /
 * `VIDMESH_CONFIG`, YAML or JSON; flags win over variables, variables over the file), validated with
 * zod. A bad value fails at once with the name of the variable, flag or file key that carried it.
 * Every setting, its variable, flag, file key, unit and default is listed in one table in
 * docs/configuration.md (kept in step by a test).
 */

/** A configuration value is invalid; the message names the variable or flag. Exit code 2. */
export class ConfigError extends VidmeshError {
  override readonly code: string = 'invalid_config';
  override readonly status: number = 400;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no'])]).transform((v) => {
  if (typeof v === 'boolean') return v;
  return v === '1' || v === 'true' || v === 'yes';
});
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
  .transform((u) => u.replace(/\/+$/, ''));
const dbUrl = z
  .string()
  .min(1)
  .refine((u) => /^postgres(ql)?:\/\//i.test(u), 'must be a postgres:// URL');
/** Splits a comma-separated setting into its trimmed, non-empty items. */
const commaList = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
/** A comma-separated list of Ed25519 did:key DIDs (`did:key:z6Mk…`). */
const didList = z
  .string()
  .transform(commaList)
  .pipe(z.array(z.string().regex(/^did:key:z[1-9A-HJ-NP-Za-km-z]{40,60}$/, 'must be did:key DIDs')));
/**
 * Comma-separated `did:key:z…=<secret>` pairs: a Gateway Aid secret per node, 24–256 characters of
 * `A-Z a-z 0-9 _ -` (so it can stand in a URL's user-info unescaped).
 */
const aidSecretList = z
  .string()
  .transform(commaList)
  .pipe(
    z.array(
      z
        .string()
        .regex(
          /^did:key:z[1-9A-HJ-NP-Za-km-z]{40,60}=[A-Za-z0-9_-]{24,256}$/,
          'must be did:key:z…=<secret of 24-256 characters A-Z a-z 0-9 _ ->',
        ),
    ),
  )
  .transform((pairs) => pairs.map((p) => p.split('=') as [string, string]));

/**
 * One row per setting, keyed by its config-file key: the zod schema of its value (strings from the
 * environment are coerced), the environment variable and the flag that set it, and the default. The
 * `doc` line is what docs/configuration.md shows. `secret` rows are never echoed in errors and are
 * redacted by `vidmesh config print`.
 */
export const settings = {
  config: {
    env: 'VIDMESH_CONFIG',
    flag: 'config',
    // Read from flags and environment only: a config file cannot name another one.
    schema: z.string().min(1).optional(),
    default: undefined,
    doc: 'Config file (`vidmesh.yaml`, `.yml` or `.json`) whose keys are the file keys of this table (`port`, `databaseUrl`, `logLevel`); variables and flags override it. Unset: no file.',
  },
  port: {
    env: 'PORT',
    flag: 'port',
    schema: int(0, 65535),
    default: 8080,
    doc: 'TCP port of the coordinator HTTP server (0 = any free port).',
  },
  host: {
    env: 'HOST',
    flag: 'host',
    schema: z.string().min(1),
    default: '127.0.0.1',
    doc: 'Address the coordinator listens on; `0.0.0.0` to accept remote encoders and clients.',
  },
  publicUrl: {
    env: 'VIDMESH_PUBLIC_URL',
    flag: 'publicUrl',
    schema: httpUrl.optional(),
    default: undefined,
    doc: 'Base URL clients and encoders use to reach this coordinator (result URLs are built on it). Default `http://<host>:<port>`. On `vidmesh encoder` (HTTP): the base of its `local` output URLs; default the coordinator URL it uses.',
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    flag: 'databaseUrl',
    secret: true,
    schema: dbUrl.optional(),
    default: undefined,
    doc: 'PostgreSQL URL. Unset: embedded PGlite in `<dataDir>/db`.',
  },
  dataDir: {
    env: 'VIDMESH_DATA_DIR',
    flag: 'dataDir',
    schema: z
      .string()
      .min(1)
      .transform((p) => resolve(p)),
    default: './.vidmesh',
    doc: 'Data directory: `db/`, `media/`, `uploads/`, `ipfs/`, `encoder/`, `client.json`.',
  },
  url: {
    env: 'VIDMESH_URL',
    flag: 'url',
    schema: httpUrl.optional(),
    default: undefined,
    doc: 'Coordinator URL for CLI clients and remote encoders. Default: `<dataDir>/client.json`, else `http://127.0.0.1:8080`.',
  },
  coordinators: {
    env: 'VIDMESH_COORDINATORS',
    flag: 'coordinator',
    schema: z.string().transform(commaList).pipe(z.array(httpUrl)),
    default: '',
    doc: 'Comma-separated coordinator URLs of `vidmesh encoder` (coordinators sharing one database): it uses one and fails over to the next when it cannot be reached. Empty: `VIDMESH_URL`.',
  },
  apiKey: {
    env: 'VIDMESH_API_KEY',
    flag: 'apiKey',
    secret: true,
    schema: z.string().min(16, 'must be at least 16 characters').max(512).optional(),
    default: undefined,
    doc: 'API key. For `serve`: the bootstrap admin key (unset: generated and written to `client.json`). For clients: the key sent as `Authorization: Bearer`.',
  },
  encoders: {
    env: 'VIDMESH_ENCODERS',
    flag: 'encoders',
    schema: int(0, 64),
    default: 1,
    doc: 'In-process encoders `vidmesh serve` starts (0 = coordinator only).',
  },
  encoderConcurrency: {
    env: 'VIDMESH_ENCODER_CONCURRENCY',
    flag: 'concurrency',
    schema: int(1, 64),
    default: 1,
    doc: 'Jobs one encoder node runs at once.',
  },
  leaseMs: {
    env: 'VIDMESH_LEASE_MS',
    flag: 'leaseMs',
    schema: int(1000, 3_600_000),
    default: 60_000,
    doc: 'Lease length in ms; a job whose lease is not renewed in time is rescued and re-queued.',
  },
  heartbeatMs: {
    env: 'VIDMESH_HEARTBEAT_MS',
    flag: 'heartbeatMs',
    schema: int(100, 600_000),
    default: 5_000,
    doc: "Encoder heartbeat and progress-report interval in ms (also the bound on cancel latency). Keep well under the lease. A routed job's desktop agent silent for 3 intervals loses its agent window (docs/encoders.md).",
  },
  maintenanceIntervalMs: {
    env: 'VIDMESH_MAINTENANCE_MS',
    flag: 'maintenanceMs',
    schema: int(100, 600_000),
    default: 5_000,
    doc: 'Interval in ms of the maintenance loop (lease rescue, offline encoders).',
  },
  rescueGraceMs: {
    env: 'VIDMESH_RESCUE_GRACE_MS',
    flag: 'rescueGraceMs',
    schema: int(0, 3_600_000).optional(),
    default: undefined,
    doc: 'After a coordinator starts, ms during which it rescues no lease (encoders could not renew while it was down). Default: one lease (`VIDMESH_LEASE_MS`); 0 = none.',
  },
  // Hybrid encoders (docs/encoders.md).
  agentGraceS: {
    env: 'VIDMESH_AGENT_GRACE_S',
    flag: 'agentGraceS',
    schema: int(0, 3600),
    default: 30,
    doc: "Seconds a user's job is offered only to their own desktop agent (when it is online and idle) before the next routing step (docs/encoders.md). 0 = no agent step.",
  },
  browserGraceS: {
    env: 'VIDMESH_BROWSER_GRACE_S',
    flag: 'browserGraceS',
    schema: int(0, 3600),
    default: 30,
    doc: "Seconds a user's short job is offered to their browser encoder next (when one is online and the user allows it) before operator and community encoders may claim it. 0 = no browser step.",
  },
  pinGraceS: {
    env: 'VIDMESH_PIN_GRACE_S',
    flag: 'pinGraceS',
    schema: int(1, 86_400),
    default: 300,
    doc: 'Seconds a job pinned to one encoder ("Encode here", `pinEncoder`) is held for it before the pin ends and the job follows its owner\'s routing (or, with `pinEncoder.fallback: "fail"`, is dead-lettered); a failure by that encoder ends the pin at once (docs/encoders.md).',
  },
  agentPort: {
    env: 'VIDMESH_AGENT_PORT',
    flag: 'agentPort',
    schema: int(0, 65535),
    default: 3002,
    doc: '`vidmesh agent`: port of the local API on 127.0.0.1 (the blueprint’s 3002; 0 = any free port).',
  },
  agentUser: {
    env: 'VIDMESH_AGENT_USER',
    flag: 'user',
    schema: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional(),
    default: undefined,
    doc: '`vidmesh agent`: the user (Hive account or vidmesh user) the agent works for; the X-Hive-User its local API accepts.',
  },
  agentOrigin: {
    env: 'VIDMESH_AGENT_ORIGIN',
    flag: 'agentOrigin',
    schema: z.string().url().optional(),
    default: undefined,
    doc: '`vidmesh agent`: the web app origin allowed to call the local API from a browser (CORS). Default: the coordinator URL’s origin.',
  },
  // Chunked encoding (docs/chunking.md).
  chunkThresholdS: {
    env: 'VIDMESH_CHUNK_THRESHOLD_S',
    flag: 'chunkThresholdS',
    schema: int(1, 86_400),
    default: 300,
    doc: 'Jobs with `chunking: auto` (the default) whose upload source is longer than this many seconds are split into chunk tasks encoded by several encoders and stitched (docs/chunking.md).',
  },
  chunkSeconds: {
    env: 'VIDMESH_CHUNK_S',
    flag: 'chunkS',
    schema: int(1, 3_600),
    default: 60,
    doc: 'Length in seconds of the chunks of `chunking: auto` jobs, rounded to whole segments (default 60 s = 15 segments of 4 s).',
  },
  chunkPrerollSegments: {
    env: 'VIDMESH_CHUNK_PREROLL_SEGMENTS',
    flag: 'chunkPrerollSegments',
    schema: int(0, 16),
    default: 1,
    doc: 'Pre-roll of every chunk after the first, in whole segments: the chunk encode starts this many segments early so rate control has run in at the seam, and the pre-roll segments are dropped before stitching (docs/chunking.md, "Seams"). 0: none.',
  },
  claimMaxWaitMs: {
    env: 'VIDMESH_CLAIM_MAX_WAIT_MS',
    flag: 'claimMaxWaitMs',
    schema: int(0, 30_000),
    default: 30_000,
    doc: 'Upper bound in ms of a long-poll claim (`waitMs` of `/agent/claim`).',
  },
  maxAttempts: {
    env: 'VIDMESH_MAX_ATTEMPTS',
    flag: 'maxAttempts',
    schema: int(1, 100),
    default: 3,
    doc: 'Default attempts per job before it is dead (a job spec may set its own).',
  },
  maxUploadBytes: {
    env: 'VIDMESH_MAX_UPLOAD_BYTES',
    flag: 'maxUploadBytes',
    schema: int(1, Number.MAX_SAFE_INTEGER),
    default: 10 * 1024 ** 3,
    doc: 'Largest upload in bytes accepted by `POST /api/v1/uploads` and by output PUTs (10 GiB).',
  },
  maxSourceBytes: {
    env: 'VIDMESH_MAX_SOURCE_BYTES',
    flag: 'maxSourceBytes',
    schema: int(1, Number.MAX_SAFE_INTEGER),
    default: 20 * 1024 ** 3,
    doc: 'Largest source in bytes an encoder downloads (20 GiB).',
  },
  maxJsonBodyBytes: {
    env: 'VIDMESH_MAX_JSON_BYTES',
    flag: 'maxJsonBytes',
    schema: int(1024, 64 * 1024 ** 2),
    default: 1024 ** 2,
    doc: 'Largest JSON request body in bytes (1 MiB).',
  },
  corsOrigin: {
    env: 'VIDMESH_CORS_ORIGIN',
    flag: 'corsOrigin',
    schema: z.string().min(1),
    default: '*',
    doc: 'Allowed origin for `/media` (players on other sites); `*` = any. The API itself sends no CORS headers.',
  },
  allowPrivateNetworks: {
    env: 'VIDMESH_ALLOW_PRIVATE_NETWORKS',
    flag: 'allowPrivateNetworks',
    schema: bool,
    default: false,
    doc: 'Let sources, destinations and webhooks reach loopback/private addresses (SSRF guard off). Only for closed networks and tests.',
  },
  ssrfAllow: {
    env: 'VIDMESH_SSRF_ALLOW',
    flag: 'ssrfAllow',
    schema: z.string().transform((s, ctx) => {
      const items = commaList(s);
      for (const item of items) {
        const [addr, bits, extra] = item.split('/');
        const fam = isIP(addr ?? '');
        const maxBits = fam === 6 ? 128 : 32;
        const badCidr =
          bits !== undefined &&
          (fam === 0 || extra !== undefined || !/^\d+$/.test(bits) || Number(bits) > maxBits);
        if (badCidr || (bits === undefined && fam === 0 && !/^[a-z0-9.-]+$/i.test(item))) {
          ctx.addIssue({ code: 'custom', message: `not a host name, IP address or CIDR: ${item}` });
        }
      }
      return items;
    }),
    default: '',
    doc: 'Comma-separated hosts, IP addresses and CIDRs (`minio.internal,10.1.0.0/16`) that job sources and destinations may reach although they are private or loopback (SSRF allowlist; empty: none).',
  },
  fileRoots: {
    env: 'VIDMESH_FILE_ROOTS',
    flag: 'fileRoots',
    schema: z.string().transform((s) => commaList(s).map((p) => resolve(p))),
    default: '',
    doc: 'Comma-separated folders a `file` source may read from (empty: `file` sources refused).',
  },
  hwaccel: {
    env: 'VIDMESH_HWACCEL',
    flag: 'hwaccel',
    schema: z.enum(['auto', 'none', 'nvenc', 'vaapi', 'qsv']),
    default: 'auto',
    doc: 'Hardware acceleration of encoders: `auto` probes NVENC → VAAPI → QSV → libx264.',
  },
  maxSourceDimension: {
    env: 'VIDMESH_MAX_SOURCE_DIMENSION',
    flag: 'maxSourceDimension',
    schema: int(16, 65_535),
    default: 7680,
    doc: 'Largest source width or height in pixels; larger sources fail non-retryably right after probe (`source_limit_exceeded`).',
  },
  maxSourcePixels: {
    env: 'VIDMESH_MAX_SOURCE_PIXELS',
    flag: 'maxSourcePixels',
    schema: int(256, 2 ** 32),
    default: 7680 * 4320,
    doc: 'Largest source frame area (width × height) in pixels.',
  },
  maxSourceDurationS: {
    env: 'VIDMESH_MAX_SOURCE_DURATION_S',
    flag: 'maxSourceDurationS',
    schema: int(1, 30 * 86_400),
    default: 12 * 3600,
    doc: 'Longest source duration in seconds.',
  },
  maxSourceFrames: {
    env: 'VIDMESH_MAX_SOURCE_FRAMES',
    flag: 'maxSourceFrames',
    schema: int(1, Number.MAX_SAFE_INTEGER),
    default: 12 * 3600 * 120,
    doc: 'Most video frames in a source (duration × average fps).',
  },
  bodyTimeoutMs: {
    env: 'VIDMESH_BODY_TIMEOUT_MS',
    flag: 'bodyTimeoutMs',
    schema: int(1000, 600_000),
    default: 30_000,
    doc: 'ms a JSON request body may take to arrive (slow-drip clients get 408 `request_timeout`); long-polls, SSE and streamed uploads are not bounded by it.',
  },
  registrationPolicy: {
    env: 'VIDMESH_REGISTRATION_POLICY',
    flag: 'registrationPolicy',
    schema: z.enum(['open', 'allowlist', 'approval']),
    default: 'open',
    doc: 'Who may register a did:key encoder: `open` (anyone), `allowlist` (only `VIDMESH_ENCODER_ALLOWLIST`), `approval` (new DIDs wait for `vidmesh encoders approve`).',
  },
  encoderAllowlist: {
    env: 'VIDMESH_ENCODER_ALLOWLIST',
    flag: 'encoderAllowlist',
    schema: didList,
    default: '',
    doc: 'Comma-separated did:key DIDs allowed to register under the `allowlist` policy.',
  },
  rateLimitPerKey: {
    env: 'VIDMESH_RATE_LIMIT_PER_KEY',
    flag: 'rateLimitPerKey',
    schema: int(0, 1_000_000),
    default: 1200,
    doc: 'API requests per rate-limit window per API key or encoder DID (0 = no rate limit at all); the lease-fenced encoder work API is not limited.',
  },
  rateLimitPerIp: {
    env: 'VIDMESH_RATE_LIMIT_PER_IP',
    flag: 'rateLimitPerIp',
    schema: int(1, 1_000_000),
    default: 300,
    doc: 'API requests per rate-limit window per client address for requests without valid credentials.',
  },
  rateLimitWindowMs: {
    env: 'VIDMESH_RATE_LIMIT_WINDOW_MS',
    flag: 'rateLimitWindowMs',
    schema: int(1000, 3_600_000),
    default: 60_000,
    doc: 'Rate-limit window in ms; an exceeded limit answers 429 `rate_limited` with `Retry-After`.',
  },
  tlsCert: {
    env: 'VIDMESH_TLS_CERT',
    flag: 'tlsCert',
    schema: z.string().min(1).optional(),
    default: undefined,
    doc: 'PEM certificate (chain) file: serve HTTPS and send HSTS. Needs `VIDMESH_TLS_KEY`.',
  },
  metricsToken: {
    secret: true,
    env: 'VIDMESH_METRICS_TOKEN',
    flag: 'metricsToken',
    schema: z.string().min(16).max(256).optional(),
    default: undefined,
    doc: 'Bearer token Prometheus sends to scrape `GET /metrics` (at least 16 characters). Without it, `/metrics` answers only operator API keys (admin scope): it is never public.',
  },
  mediaOrigin: {
    env: 'VIDMESH_MEDIA_ORIGIN',
    flag: 'mediaOrigin',
    schema: z
      .string()
      .url()
      .refine((u) => /^https?:\/\/[^/]+\/?$/i.test(u), 'an http(s) origin without a path')
      .optional(),
    default: undefined,
    doc: 'Origin that serves `/media` and `/ipfs` (e.g. `https://media.example.com`, a CDN or another host name pointing at this coordinator). Result URLs use it, so published files never share an origin (and cookies) with the dashboard. Default: the public URL.',
  },
  verify: {
    env: 'VIDMESH_VERIFY',
    flag: 'verify',
    schema: z.enum(['on', 'off']),
    default: 'on',
    doc: "Verify results of untrusted (community, other tenants') encoders before publishing them (docs/verification.md). `off` publishes them unchecked.",
  },
  verifySampleRate: {
    env: 'VIDMESH_VERIFY_SAMPLE_RATE',
    flag: 'verifySampleRate',
    schema: z.coerce.number().min(0).max(1),
    default: 0.2,
    doc: 'Fraction of results verified once an encoder has `VIDMESH_VERIFY_TRUSTED_AFTER` verified passes (before that, and after any failure: all).',
  },
  verifyTrustedAfter: {
    env: 'VIDMESH_VERIFY_TRUSTED_AFTER',
    flag: 'verifyTrustedAfter',
    schema: int(0, 1_000_000),
    default: 10,
    doc: "Verified passes after which an encoder's results are only sampled.",
  },
  verifySuspendAfter: {
    env: 'VIDMESH_VERIFY_SUSPEND_AFTER',
    flag: 'verifySuspendAfter',
    schema: int(1, 1000),
    default: 2,
    doc: 'Consecutive failed verifications that suspend an encoder (`vidmesh encoders reinstate` lifts it).',
  },
  verifySpotSegments: {
    env: 'VIDMESH_VERIFY_SPOT_SEGMENTS',
    flag: 'verifySpotSegments',
    schema: int(0, 100),
    default: 2,
    doc: 'Segments per rendition the verifier re-encodes and compares by SSIM (0: no spot re-encode).',
  },
  verifyMinSsim: {
    env: 'VIDMESH_VERIFY_MIN_SSIM',
    flag: 'verifyMinSsim',
    schema: z.coerce.number().min(0).max(1),
    default: 0.95,
    doc: "Lowest SSIM a spot-checked segment may have against the verifier's own encode of it.",
  },
  marketFeeBps: {
    env: 'VIDMESH_MARKET_FEE_BPS',
    flag: 'marketFeeBps',
    schema: int(0, 5000),
    default: 500,
    doc: 'Platform fee of the community marketplace, basis points of the accepted price (500 = 5 %), kept on the `platform:fees` ledger account when the escrow is released (docs/marketplace.md).',
  },
  marketAcceptTimeoutMs: {
    env: 'VIDMESH_MARKET_ACCEPT_TIMEOUT_MS',
    flag: 'marketAcceptTimeoutMs',
    schema: int(1000, 30 * 86_400_000),
    default: 3_600_000,
    doc: 'ms the encoder of an accepted bid has to take its job; past it, a job still waiting is refunded to the payer and its order reopened.',
  },
  marketBidWindowMs: {
    env: 'VIDMESH_MARKET_BID_WINDOW_MS',
    flag: 'marketBidWindowMs',
    schema: int(0, 86_400_000),
    default: 30_000,
    doc: 'ms an auto-accept order waits for bids before the offers decide (best reputation score × max price / quote).',
  },
  marketIntervalMs: {
    env: 'VIDMESH_MARKET_INTERVAL_MS',
    flag: 'marketIntervalMs',
    schema: int(100, 3_600_000),
    default: 5000,
    doc: 'ms between settlement passes, Hive deposit polls and payout passes (leader only; job transitions also trigger settlement).',
  },
  marketWithdrawalMin: {
    env: 'VIDMESH_MARKET_WITHDRAWAL_MIN',
    flag: 'marketWithdrawalMin',
    schema: int(1, 1_000_000_000),
    default: 1000,
    doc: "Smallest withdrawal to a user's Hive account, milli-HBD (1000 = 1.000 HBD); smaller ones answer 422 `withdrawal_limit`.",
  },
  marketWithdrawalDailyCap: {
    env: 'VIDMESH_MARKET_WITHDRAWAL_DAILY_CAP',
    flag: 'marketWithdrawalDailyCap',
    schema: int(1, 1_000_000_000),
    default: 1_000_000,
    doc: 'Most a payer may withdraw in any 24 hours, milli-HBD (1 000 000 = 1000 HBD; failed, refunded withdrawals not counted); beyond it, 422 `withdrawal_limit`.',
  },
  hiveNode: {
    env: 'VIDMESH_HIVE_NODE',
    flag: 'hiveNode',
    schema: httpUrl.optional(),
    default: undefined,
    doc: 'Hive API node (JSON-RPC, e.g. `https://api.hive.blog`): deposits, payouts and Hive Keychain signatures. Without it the marketplace ledger works but no HBD moves in or out.',
  },
  hiveAccount: {
    env: 'VIDMESH_HIVE_ACCOUNT',
    flag: 'hiveAccount',
    schema: z
      .string()
      .regex(/^[a-z][a-z0-9.-]{2,15}$/, 'a Hive account name')
      .optional(),
    default: undefined,
    doc: "The operator's Hive account: payers send HBD deposits to it (memo: deposit id), payouts are sent from it.",
  },
  hiveActiveKey: {
    secret: true,
    env: 'VIDMESH_HIVE_ACTIVE_KEY',
    flag: 'hiveActiveKey',
    schema: z.string().min(1).max(2000).optional(),
    default: undefined,
    doc: "Active key (WIF) of `VIDMESH_HIVE_ACCOUNT`, signing payouts. Give it sealed with the server's secret key (`vidmesh wallet seal-key`, the envelope job secrets use); a plain WIF is accepted with a warning.",
  },
  hiveChainId: {
    env: 'VIDMESH_HIVE_CHAIN_ID',
    flag: 'hiveChainId',
    schema: z
      .string()
      .regex(/^[0-9a-f]{64}$/, '64 hex digits')
      .optional(),
    default: undefined,
    doc: 'Hive chain id transactions are signed for (default mainnet `beeab0de…`; a testnet names its own).',
  },
  authFailuresPerIp: {
    env: 'VIDMESH_AUTH_FAILURES_PER_IP',
    flag: 'authFailuresPerIp',
    schema: int(1, 1_000_000),
    default: 30,
    doc: 'Failed authentications (401) per client address per rate-limit window; past it, requests from that address answer 429 before any credential is checked.',
  },
  tlsKey: {
    env: 'VIDMESH_TLS_KEY',
    flag: 'tlsKey',
    schema: z.string().min(1).optional(),
    default: undefined,
    doc: 'PEM private key file of `VIDMESH_TLS_CERT`.',
  },
  apiCorsOrigins: {
    env: 'VIDMESH_API_CORS_ORIGINS',
    flag: 'apiCorsOrigins',
    schema: z
      .string()
      .transform((s) =>
        commaList(s)
          .map((x) => x.replace(/\/+$/, ''))
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be http(s) origins'))),
    default: '',
    doc: 'Comma-separated origins (`https://app.example`) allowed to call `/api/v1` from browsers; empty: no CORS on the API.',
  },
  encoderV2Api: {
    env: 'VIDMESH_ENCODER_V2_API',
    flag: 'encoderV2Api',
    // `--encoder-v2-api` alone (commander gives `true`) mounts at `/`.
    schema: z.preprocess(
      (v) => (v === true || v === 'true' ? '/' : v),
      z
        .string()
        .regex(/^\/([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)?$/, 'a path prefix such as / or /encoder')
        .optional(),
    ),
    default: undefined,
    doc: 'Mount the Encoder v2 compatible API (`GET /health`, `POST/GET/DELETE /jobs`, `GET /workers`) at this path prefix (`/` with the bare flag); docs/outputs.md.',
  },
  retentionHours: {
    env: 'VIDMESH_RETENTION_HOURS',
    flag: 'retentionHours',
    schema: z.coerce
      .number()
      .min(0)
      .max(24 * 365 * 10)
      .optional(),
    default: undefined,
    doc: "Hours finished jobs are kept: older ones are purged with their outputs in local storage and the embedded IPFS store (unpinned, blocks garbage-collected) by the maintenance leader; a job's `retainHours` overrides it. Unset: kept unless the job sets `retainHours` (docs/outputs.md).",
  },
  threeSpeakGateway: {
    env: 'VIDMESH_3SPEAK_GATEWAY',
    flag: 'threespeakGateway',
    schema: bool,
    default: false,
    doc: 'Serve the 3Speak legacy gateway (`/api/v0/gateway/*`, Gateway Monitor `/api/jobs/:id`, a kubo RPC subset on the embedded IPFS store, `/ipfs/*`) so unchanged 3Speak encoders work for this coordinator (docs/3speak.md).',
  },
  threeSpeakLeaseMs: {
    env: 'VIDMESH_3SPEAK_LEASE_MS',
    flag: 'threespeakLeaseMs',
    schema: int(1000, 86_400_000),
    default: 300_000,
    doc: "Lease of a 3Speak gateway job after each `acceptJob`/`pingJob`, ms (3Speak's semantics: reassigned 5 min after the last ping). Separate from `VIDMESH_LEASE_MS` because the legacy client sends no ping while it downloads the source.",
  },
  threeSpeakAckTimeoutMs: {
    env: 'VIDMESH_3SPEAK_ACK_TIMEOUT_MS',
    flag: 'threespeakAckTimeoutMs',
    schema: int(1000, 3_600_000),
    default: 60_000,
    doc: 'Lease of a 3Speak `myJob` hand-out until the node calls `acceptJob`, ms. One that expires unacknowledged is re-queued without counting an attempt and goes to another polling node first.',
  },
  threeSpeakUploadWindowMs: {
    env: 'VIDMESH_3SPEAK_UPLOAD_WINDOW_MS',
    flag: 'threespeakUploadWindowMs',
    schema: int(0, 7 * 86_400_000),
    default: 6 * 3_600_000,
    doc: "How long after a 3Speak node's last `acceptJob`/`pingJob` its address may kubo `add`/`pin/add` to the embedded IPFS store, ms (legacy nodes upload without credentials). Admin API keys may always add.",
  },
  threeSpeakOpenUploads: {
    env: 'VIDMESH_3SPEAK_OPEN_UPLOADS',
    flag: 'threespeakOpenUploads',
    schema: bool,
    default: false,
    doc: 'Let any address kubo `add`/`pin/add` to the embedded IPFS store (only behind a firewall that admits just your encoders).',
  },
  threeSpeakManagedEncoders: {
    env: 'VIDMESH_3SPEAK_MANAGED_ENCODERS',
    flag: 'threespeakManagedEncoders',
    schema: z.string().transform(commaList).pipe(z.array(httpUrl)),
    default: '',
    doc: 'Comma-separated Direct API base URLs (`http://host:3002`) of 3Speak encoders (client v2, `DIRECT_API_ENABLED=true`) this gateway pushes jobs to (`POST /encode`, managed mode). They reach the webhooks at `VIDMESH_PUBLIC_URL`. Empty: none.',
  },
  threeSpeakManagedKey: {
    env: 'VIDMESH_3SPEAK_MANAGED_KEY',
    flag: 'threespeakManagedKey',
    secret: true,
    schema: z.string().min(16).max(512).optional(),
    default: undefined,
    doc: "The managed encoders' `DIRECT_API_KEY`, sent as `X-API-Key` with each push. Required with `VIDMESH_3SPEAK_MANAGED_ENCODERS`.",
  },
  threeSpeakAdminDids: {
    env: 'VIDMESH_3SPEAK_ADMIN_DIDS',
    flag: 'threespeakAdminDids',
    schema: didList,
    default: '',
    doc: 'Comma-separated did:key DIDs allowed to push and cancel jobs through the 3Speak gateway (3Speak `admin.controllers`).',
  },
  threeSpeakAidDids: {
    env: 'VIDMESH_3SPEAK_AID_DIDS',
    flag: 'threespeakAidDids',
    schema: didList,
    default: '',
    doc: 'Comma-separated did:key DIDs allowed to use Gateway Aid (`/aid/v1/*`) with signed `{jws}` bodies; empty: only the nodes of `VIDMESH_3SPEAK_AID_SECRETS` (or none: Aid answers only `health`).',
  },
  threeSpeakAidSecrets: {
    env: 'VIDMESH_3SPEAK_AID_SECRETS',
    flag: 'threespeakAidSecrets',
    secret: true,
    schema: aidSecretList,
    default: '',
    doc: "Comma-separated `did:key:z…=<secret>` pairs (secret: 24–256 characters `A-Z a-z 0-9 _ -`, e.g. `openssl rand -hex 32`): those 3Speak nodes may use Gateway Aid with the client's unsigned requests when they prove the secret, `Authorization: Basic` (the client's `GATEWAY_AID_BASE_URL=https://aid:<secret>@<vidmesh>/aid/v1`) or `Bearer`, with `X-Encoder-DID` naming the node (docs/3speak.md).",
  },
  // ---- live (issue 23, docs/live.md) ----
  liveRtmpPort: {
    env: 'VIDMESH_LIVE_RTMP_PORT',
    flag: 'liveRtmpPort',
    schema: int(0, 65_535).optional(),
    default: undefined,
    doc: 'TCP port of the RTMP ingest of live streams (1935 is the usual one; 0 = any free port). Unset: live streams off (`POST /api/v1/live` answers 503).',
  },
  liveRtmpHost: {
    env: 'VIDMESH_LIVE_RTMP_HOST',
    flag: 'liveRtmpHost',
    schema: z.string().min(1).max(256).optional(),
    default: undefined,
    doc: 'Address the RTMP ingest listens on. Unset: the HTTP listen address (`HOST`).',
  },
  liveRtmpUrl: {
    env: 'VIDMESH_LIVE_RTMP_URL',
    flag: 'liveRtmpUrl',
    schema: z
      .string()
      .regex(/^rtmps?:\/\/[^/\s]+(\/[^\s]*)?$/, 'must be an rtmp:// or rtmps:// URL')
      .optional(),
    default: undefined,
    doc: 'Ingest base URL shown to publishers (`rtmp://live.example.com/live`); the stream key is appended. Unset: `rtmp://<public host>:<port>/live`.',
  },
  liveGraceMs: {
    env: 'VIDMESH_LIVE_GRACE_MS',
    flag: 'liveGraceMs',
    schema: int(0, 600_000),
    default: 30_000,
    doc: 'ms a disconnected RTMP publisher may take to reconnect before its live stream ends (playlists closed, job completed).',
  },
  liveFilesGraceMs: {
    env: 'VIDMESH_LIVE_FILES_GRACE_MS',
    flag: 'liveFilesGraceMs',
    schema: int(0, 31_536_000_000),
    default: 86_400_000,
    doc: "ms an ended live stream's playlists and segments (`<dataDir>/live/<jobId>/`) are kept after its end; then the maintenance leader deletes them once the job is final and the stream was not recorded or its recording was published (docs/live.md).",
  },
  otelEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    flag: 'otelEndpoint',
    schema: httpUrl.optional(),
    default: undefined,
    doc: 'OTLP/HTTP collector base URL (`http://collector:4318`): spans of API requests, job-store operations and encoder stages are POSTed as JSON to `<url>/v1/traces`. Unset: tracing off (docs/operations.md).',
  },
  otelServiceName: {
    env: 'OTEL_SERVICE_NAME',
    flag: 'otelServiceName',
    schema: z.string().min(1).max(256),
    default: 'vidmesh',
    doc: "OpenTelemetry `service.name` of this process's spans.",
  },
  logLevel: {
    env: 'LOG_LEVEL',
    flag: 'logLevel',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    doc: 'Log level of the process logs on stderr (`silent` = none). `--log-level` works on every command.',
  },
  logFormat: {
    env: 'VIDMESH_LOG_FORMAT',
    flag: 'logFormat',
    schema: z.enum(['auto', 'json', 'pretty']),
    default: 'auto',
    doc: 'Format of the process logs: `auto` = human-readable (pino-pretty) when stderr is a terminal, JSON lines otherwise.',
  },
} as const;

type Settings = typeof settings;
/** Parsed configuration: one typed field per row of {@link settings}. */
export type Config = { [K in keyof Settings]: z.output<Settings[K]['schema']> };
/** Flag values as commander hands them over (camelCase keys = the `flag` column). */
export type ConfigFlags = Record<string, unknown>;

/** Where the effective value of a setting came from, for errors and `vidmesh config print`. */
export type ConfigOrigin = 'flag' | 'env' | 'file' | 'default';

/** One resolved setting: its parsed value and where the raw value came from. */
export interface ResolvedSetting {
  key: keyof Settings;
  env: string;
  flag: string;
  value: unknown;
  origin: ConfigOrigin;
}

/**
 * Parses the whole configuration once. `flags` are commander's option values (keys = the `flag`
 * column of {@link settings}); `env` defaults to `process.env`; the config file is the one named by
 * `flags.config` or `VIDMESH_CONFIG`. Empty environment strings count as unset.
 * Throws {@link ConfigError} naming the flag (`--port`), variable (`PORT`) or file key
 * (`vidmesh.yaml: port`) whose value is invalid.
 */
export function loadConfig(options: { flags?: ConfigFlags; env?: NodeJS.ProcessEnv } = {}): Config {
  const out: Record<string, unknown> = {};
  for (const r of resolveConfig(options)) out[r.key] = r.value;
  return out as Config;
}

/** {@link loadConfig} with the origin of every value, in the order of {@link settings}. */
export function resolveConfig(
  options: { flags?: ConfigFlags; env?: NodeJS.ProcessEnv } = {},
): ResolvedSetting[] {
  const env = options.env ?? process.env;
  const flags = options.flags ?? {};
  const path = flags.config ?? (env.VIDMESH_CONFIG === '' ? undefined : env.VIDMESH_CONFIG);
  const file = typeof path === 'string' && path !== '' ? readConfigFile(path) : {};
  const out: ResolvedSetting[] = [];
  for (const [key, s] of Object.entries(settings) as Array<[keyof Settings, Settings[keyof Settings]]>) {
    const flagValue = flags[s.flag];
    const envValue = env[s.env];
    let raw: unknown;
    let origin: ConfigOrigin;
    let named: string;
    if (flagValue !== undefined) {
      [raw, origin, named] = [flagValue, 'flag', `--${kebab(s.flag)}`];
    } else if (envValue !== undefined && envValue !== '') {
      [raw, origin, named] = [envValue, 'env', s.env];
    } else if (key !== 'config' && file[key] != null) {
      // Lists may be YAML/JSON arrays in a file; the schemas take the variables' comma-separated form.
      const v = file[key];
      [raw, origin, named] = [Array.isArray(v) ? v.join(',') : v, 'file', `${path}: ${key}`];
    } else {
      [raw, origin, named] = [s.default, 'default', `default of ${s.env}`];
    }
    const parsed = (s.schema as z.ZodType).safeParse(raw);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      // Never echo the value of a secret back (logs, terminals, CI output).
      const shown = 'secret' in s ? '' : ` (got ${JSON.stringify(raw)})`;
      throw new ConfigError(`${named}: ${why}${shown}`, { details: { setting: s.env } });
    }
    out.push({ key, env: s.env, flag: s.flag, value: parsed.data, origin });
  }
  return out;
}

/**
 * Reads a config file: `.json` as JSON, `.yaml`/`.yml` as YAML (the `yaml` package, YAML 1.2 core
 * schema, so `no` stays a string). The top level must be a mapping whose keys are setting names;
 * an unknown key fails (a typo must not silently leave a default in place).
 */
function readConfigFile(path: string): Record<string, unknown> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw new ConfigError(`${path}: config file must end in .yaml, .yml or .json`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config file (${(err as NodeJS.ErrnoException).code})`);
  }
  let data: unknown;
  try {
    data = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      `${path}: not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
    );
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`${path}: the top level must be a mapping of setting names to values`);
  }
  const record = data as Record<string, unknown>;
  for (const k of Object.keys(record)) {
    if (!Object.hasOwn(settings, k) || k === 'config') {
      throw new ConfigError(
        `${path}: unknown setting ${JSON.stringify(k)} (keys are the camelCase names of docs/configuration.md)`,
      );
    }
  }
  return record;
}

/**
 * The effective configuration for display (`vidmesh config print`): secrets replaced by `[redacted]`,
 * a database URL keeping everything but its password.
 */
export function redactedConfig(resolved: ResolvedSetting[]): ResolvedSetting[] {
  return resolved.map((r) => {
    if (!('secret' in settings[r.key]) || r.value === undefined) return r;
    if (r.key === 'databaseUrl' && typeof r.value === 'string') {
      try {
        const u = new URL(r.value);
        if (u.password) u.password = 'redacted';
        return { ...r, value: u.toString() };
      } catch {
        return { ...r, value: '[redacted]' };
      }
    }
    return { ...r, value: '[redacted]' };
  });
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** Where a local `vidmesh serve` writes `{url, apiKey}` for CLI clients on the same machine (mode 0600). */
export function clientConfigPath(dataDir: string): string {
  return join(dataDir, 'client.json');
}

const clientFileSchema = z.object({ url: httpUrl, apiKey: z.string().min(1) });

/** Contents of `<dataDir>/client.json`, or undefined when it is missing or malformed. */
export function readClientFile(dataDir: string): { url: string; apiKey: string } | undefined {
  try {
    const parsed = clientFileSchema.safeParse(JSON.parse(readFileSync(clientConfigPath(dataDir), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Coordinator URL and API key of a CLI client: flags, then env (`VIDMESH_URL`, `VIDMESH_API_KEY`),
 * then `<dataDir>/client.json` (its key only when its URL is the one chosen), then
 * `http://127.0.0.1:8080` without a key.
 */
export function resolveClientTarget(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): { url: string; apiKey: string | undefined; origin: string } {
  const file = readClientFile(config.dataDir);
  const url = config.url ?? file?.url ?? 'http://127.0.0.1:8080';
  // Said in every client error: a CLI run from another folder must not silently reach another server.
  const origin =
    config.url !== undefined
      ? env.VIDMESH_URL === config.url
        ? 'VIDMESH_URL'
        : '--url or the config file'
      : file?.url
        ? clientConfigPath(config.dataDir)
        : 'the default (no --url, VIDMESH_URL or client.json)';
  // The saved key belongs to the saved server: never send it to another URL.
  const fileKey = file && file.url === url ? file.apiKey : undefined;
  return { url, apiKey: config.apiKey ?? fileKey, origin };
}

/**
 * The SSRF allowlist of `VIDMESH_SSRF_ALLOW` as the storage module's policy: entries with a `/` are
 * CIDRs, the rest host names or IP literals (matched exactly).
 */
export function ssrfPolicyOf(config: Pick<Config, 'ssrfAllow'>): SsrfPolicy {
  return {
    allowHosts: config.ssrfAllow.filter((x) => !x.includes('/')),
    allowCidrs: config.ssrfAllow.filter((x) => x.includes('/')),
  };
}

/**
 * The storage context (src/storage) of the processes on this data dir: `local` outputs in
 * `<dataDir>/media` published as `<publicUrl>/media/<jobId>/…`, uploads read from `<dataDir>/uploads`,
 * `file` sources only under `fileRoots`, the SSRF guard on unless `allowPrivateNetworks`.
 */
export function storageContextFor(
  config: Config,
  options: { publicUrl?: string; log?: Logger } = {},
): StorageContext {
  return {
    localRoot: join(config.dataDir, 'media'),
    ...(config.mediaOrigin || options.publicUrl
      ? { localUrlBase: `${config.mediaOrigin?.replace(/\/+$/, '') ?? options.publicUrl}/media` }
      : {}),
    uploads: { kind: 'dir', dir: join(config.dataDir, 'uploads') },
    fileRoots: config.fileRoots,
    ssrf: config.allowPrivateNetworks ? { allowCidrs: ['0.0.0.0/0', '::/0'] } : ssrfPolicyOf(config),
    ipfs: { blockstoreDir: join(config.dataDir, 'ipfs') },
    limits: { maxSourceBytes: config.maxSourceBytes },
    ...(options.log ? { log: options.log } : {}),
  };
}
