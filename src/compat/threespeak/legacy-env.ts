/**
 * The 3Speak encoder's configuration variables (Mantequilla-Soft/3speakencoder `.env.example` and
 * `src/config/ConfigLoader.ts`), read from the environment and an optional `.env` file, so a node can
 * move to `vidmesh encoder --protocol 3speak` with its existing configuration. docs/3speak.md lists
 * each variable and what vidmesh does with it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'TRUE', 'FALSE'])
  .transform((v) => ['1', 'true', 'yes', 'TRUE'].includes(v));
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
  .transform((u) => u.replace(/\/+$/, ''));

/**
 * Converts kubo's API address, a multiaddr `/ip4/<a>/tcp/<p>` (or `/dns4/<host>/tcp/<p>`, `/ip6/…`)
 * as the legacy `IPFS_API_ADDR` holds it, or an http(s) URL, into the RPC base URL.
 * @throws ValidationError for any other form.
 */
export function kuboUrlFromAddr(addr: string): string {
  if (/^https?:\/\//i.test(addr)) return addr.replace(/\/+$/, '');
  const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d{1,5})(\/https?)?\/?$/.exec(addr);
  if (!m) throw new ValidationError(`IPFS_API_ADDR: not a multiaddr /ip4/<addr>/tcp/<port> or URL: ${addr}`);
  const host = m[1] === 'ip6' ? `[${m[2]}]` : m[2];
  return `${m[4] === '/https' ? 'https' : 'http'}://${host}:${m[3]}`;
}

const schema = z.object({
  GATEWAY_URL: httpUrl.default('https://encoder.3speak.tv'),
  ENCODER_PRIVATE_KEY: z.string().optional(),
  HIVE_USERNAME: z.string().min(1, 'HIVE_USERNAME is required'),
  NODE_NAME: z.string().min(1).max(128).default('3speak-encoder-node'),
  IPFS_API_ADDR: z.string().default('/ip4/127.0.0.1/tcp/5001'),
  IPFS_GATEWAY_URL: httpUrl.optional(),
  MAX_CONCURRENT_JOBS: z.coerce.number().int().min(1).max(16).default(1),
  GATEWAY_MONITOR_ENABLED: bool.default(false),
  GATEWAY_MONITOR_BASE_URL: httpUrl.default('https://gateway-monitor.3speak.tv/api'),
  DIRECT_API_ENABLED: bool.default(false),
  DIRECT_API_PORT: z.coerce.number().int().min(0).max(65535).default(3002),
  DIRECT_API_KEY: z.string().optional(),
  TEMP_DIR: z.string().default('./temp'),
  HARDWARE_ACCELERATION: bool.default(true),
  REMOTE_GATEWAY_ENABLED: bool.default(true),
  /** Poll `getJob` instead of `myJob` (vidmesh extra, for gateways older than Feb 2026). */
  GATEWAY_LEGACY_POLL: bool.default(false),
});

export interface LegacyEncoderConfig {
  gatewayUrl: string;
  /** Base64 Ed25519 seed, as the legacy encoder keeps it; absent: vidmesh's key file is used. */
  encoderPrivateKey: string | undefined;
  hiveUsername: string;
  nodeName: string;
  kuboApiUrl: string;
  ipfsGatewayUrl: string | undefined;
  concurrency: number;
  monitorUrl: string | undefined;
  directApi: { enabled: boolean; port: number; key: string | undefined };
  tempDir: string;
  hardwareAcceleration: boolean;
  gatewayEnabled: boolean;
  legacyPoll: boolean;
  /** Legacy variables that were set but that vidmesh does not use (logged once at start). */
  ignored: string[];
}

/** Set in a legacy .env but without effect here; listed so operators see it. */
const IGNORED = [
  'QUEUE_MAX_LENGTH',
  'QUEUE_CONCURRENCY',
  'ASYNC_UPLOADS',
  'TRAFFIC_DIRECTOR_URL',
  'USE_CLUSTER_FOR_PINS',
  'ENABLE_LOCAL_FALLBACK',
  'LOCAL_FALLBACK_THRESHOLD',
  'REMOVE_LOCAL_AFTER_SYNC',
  'FFMPEG_PATH',
  'ARIA2_CONNECTIONS',
  'MONGODB_VERIFICATION_ENABLED',
  'MONGODB_URI',
  'DATABASE_NAME',
  'MONGODB_CONNECTION_TIMEOUT',
  'MONGODB_SOCKET_TIMEOUT',
  'STORAGE_ADMIN_PASSWORD',
  'GATEWAY_AID_ENABLED',
  'GATEWAY_AID_BASE_URL',
];

/**
 * Reads the legacy configuration: `envFile` (default `./.env`, missing is fine) overlaid by `env`
 * (the process environment wins, as with dotenv). Throws ValidationError naming the bad variable.
 */
export async function loadLegacyEncoderConfig(
  options: { env?: NodeJS.ProcessEnv; envFile?: string } = {},
): Promise<LegacyEncoderConfig> {
  let fromFile: NodeJS.Dict<string> = {};
  const file = resolve(options.envFile ?? '.env');
  try {
    fromFile = parseEnv(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || options.envFile) {
      throw new ValidationError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...fromFile, ...(options.env ?? process.env) })) {
    if (typeof v === 'string' && v !== '') merged[k] = v;
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(`${String(issue?.path[0] ?? 'config')}: ${issue?.message ?? 'invalid'}`);
  }
  const c = parsed.data;
  if (c.DIRECT_API_ENABLED && (!c.DIRECT_API_KEY || c.DIRECT_API_KEY.length < 16)) {
    throw new ValidationError('DIRECT_API_KEY: required (16+ characters) when DIRECT_API_ENABLED=true');
  }
  return {
    gatewayUrl: c.GATEWAY_URL,
    encoderPrivateKey: c.ENCODER_PRIVATE_KEY,
    hiveUsername: c.HIVE_USERNAME,
    nodeName: c.NODE_NAME,
    kuboApiUrl: kuboUrlFromAddr(c.IPFS_API_ADDR),
    ipfsGatewayUrl: c.IPFS_GATEWAY_URL,
    concurrency: c.MAX_CONCURRENT_JOBS,
    monitorUrl: c.GATEWAY_MONITOR_ENABLED ? c.GATEWAY_MONITOR_BASE_URL : undefined,
    directApi: { enabled: c.DIRECT_API_ENABLED, port: c.DIRECT_API_PORT, key: c.DIRECT_API_KEY },
    tempDir: resolve(c.TEMP_DIR),
    hardwareAcceleration: c.HARDWARE_ACCELERATION,
    gatewayEnabled: c.REMOTE_GATEWAY_ENABLED,
    legacyPoll: c.GATEWAY_LEGACY_POLL,
    ignored: IGNORED.filter((k) => merged[k] !== undefined),
  };
}
