import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { runThreeSpeakEncoderCli } from '../compat/threespeak/index.js';
import { loadConfig, resolveClientTarget, storageContextFor } from '../config.js';
import {
  createEncoderMetrics,
  createHttpTransport,
  type EncoderNodeEvent,
  type EncoderTransport,
  startEncoderNode,
  startMetricsServer,
} from '../encoder/index.js';
import { ValidationError } from '../errors.js';
import { resolveEncoderIdentity } from '../identity/index.js';
import { createLogger } from '../log.js';
import { packageRoot } from '../paths.js';
import type { StorageContext } from '../storage/index.js';
import { initTracing } from '../tracing.js';
import { infrastructureNode } from './infrastructure.js';

// Same rule as job spec tags (src/jobs/spec.ts).
const TAG = /^[a-z0-9][a-z0-9_.:-]{0,63}$/i;

interface EncoderFlags {
  coordinator?: string;
  apiKey?: string;
  databaseUrl?: string;
  concurrency?: string;
  hwaccel?: string;
  name?: string;
  tags?: string;
  dataDir?: string;
  graceS?: string;
  auth?: string;
  protocol?: string;
  envFile?: string;
  metricsPort?: string;
  metricsHost?: string;
}

/** The encoder's identity: `ENCODER_PRIVATE_KEY`, else `<dataDir>/encoder-key` (0600, created once). */
function encoderIdentity(dataDir: string) {
  return resolveEncoderIdentity({ keyFile: join(dataDir, 'encoder-key'), env: process.env });
}

/**
 * `vidmesh encoder`: runs an encoder node until SIGTERM/SIGINT.
 * - `--coordinator URL --api-key KEY` (env `VIDMESH_URL`, `VIDMESH_API_KEY`; default `<dataDir>/client.json`):
 *   the agent API over HTTP (community/desktop nodes).
 * - `--database-url URL` (env `DATABASE_URL`): an infrastructure node using the job store directly; it
 *   shares the coordinator's data dir for `local` outputs and uploads (or jobs use s3/ipfs destinations).
 * First signal: graceful stop (unstarted jobs released, running encodes get `--grace-s`); second: release now.
 */
export function register(program: Command): void {
  const encoder = program
    .command('encoder')
    .description('Run an encoder node: lease jobs from a coordinator, encode them, publish the outputs')
    .option(
      '--coordinator <urls>',
      'coordinator URL, or several sharing one database, comma-separated, for failover (env VIDMESH_COORDINATORS, else VIDMESH_URL)',
    )
    .option('--api-key <key>', 'API key with the encoder scope (env VIDMESH_API_KEY)')
    .option(
      '--database-url <url>',
      'use the job store in PostgreSQL directly: infrastructure node (env DATABASE_URL)',
    )
    .option('--concurrency <n>', 'jobs at once (env VIDMESH_ENCODER_CONCURRENCY, default 1)')
    .option('--hwaccel <mode>', 'auto | none | nvenc | vaapi | qsv (env VIDMESH_HWACCEL, default auto)')
    .option('--name <name>', 'encoder name shown by the coordinator (default: host name)')
    .option('--tags <list>', 'comma-separated tags matched against job requirements')
    .option('--data-dir <dir>', 'data directory (env VIDMESH_DATA_DIR, default ./.vidmesh)')
    .option('--grace-s <seconds>', 'how long running encodes may finish on SIGTERM', '60')
    .option(
      '--auth <scheme>',
      'did (sign requests with the encoder identity) | api-key; default: api-key when a key is known, else did',
    )
    .option(
      '--protocol <family>',
      'vidmesh | 3speak: work for a 3Speak gateway with the legacy .env',
      'vidmesh',
    )
    .option('--env-file <path>', 'with --protocol 3speak: the legacy .env file (default ./.env)')
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://<metrics-host>:<port>/metrics')
    .option('--metrics-host <host>', 'address of the metrics endpoint', '127.0.0.1')
    .action(async (flags: EncoderFlags) => {
      if (flags.protocol === '3speak') return runThreeSpeak(flags);
      if (flags.protocol !== 'vidmesh') throw new ValidationError('--protocol must be vidmesh or 3speak');
      await runEncoder(flags);
    });
  encoder
    .command('identity')
    .description("print this encoder's did:key (creates <data-dir>/encoder-key on first use)")
    .option('--data-dir <dir>', 'data directory (env VIDMESH_DATA_DIR, default ./.vidmesh)')
    .action(async (flags: { dataDir?: string }) => {
      const config = loadConfig({ flags: { dataDir: flags.dataDir } });
      process.stdout.write(`${(await encoderIdentity(config.dataDir)).did}\n`);
    });
}

/** `--protocol 3speak`: the legacy encoder's variables (docs/3speak.md); first signal stops it. */
async function runThreeSpeak(flags: EncoderFlags): Promise<void> {
  const log = createLogger({ name: 'vidmesh-encoder-3speak', level: process.env.LOG_LEVEL ?? 'info' });
  const version = (
    JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
  ).version;
  const until = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await runThreeSpeakEncoderCli({ envFile: flags.envFile, version, log, until });
}

async function runEncoder(flags: EncoderFlags): Promise<void> {
  const config = loadConfig({
    flags: {
      coordinator: flags.coordinator,
      apiKey: flags.apiKey,
      databaseUrl: flags.databaseUrl,
      concurrency: flags.concurrency,
      hwaccel: flags.hwaccel,
      dataDir: flags.dataDir,
    },
  });
  const log = createLogger({ name: 'vidmesh-encoder', level: config.logLevel, format: config.logFormat });
  const version = (
    JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
  ).version;
  const graceS = Number(flags.graceS ?? '60');
  if (!Number.isFinite(graceS) || graceS < 0 || graceS > 86_400) {
    throw new ValidationError(
      `--grace-s: expected seconds between 0 and 86400 (got ${JSON.stringify(flags.graceS)})`,
    );
  }
  const tags = (flags.tags ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const badTag = tags.find((t) => !TAG.test(t));
  if (badTag !== undefined) throw new ValidationError(`--tags: invalid tag ${JSON.stringify(badTag)}`);

  // OTEL_EXPORTER_OTLP_ENDPOINT: the node's stage spans join each job's trace (claim `traceparent`).
  const tracing = await initTracing({
    endpoint: config.otelEndpoint,
    serviceName: config.otelServiceName,
    serviceVersion: version,
    log,
  });
  let transport: EncoderTransport;
  let closeDb: (() => Promise<void>) | undefined;
  let remoteUrl: string | undefined;
  let storage: StorageContext | undefined;
  if (config.databaseUrl) {
    // Said out loud: a DATABASE_URL in the environment wins over --coordinator for the work protocol.
    const infra = await infrastructureNode(config, { log });
    transport = infra.transport;
    storage = infra.storage;
    closeDb = infra.close;
    log.info(infra.describe, 'using the job store directly (DATABASE_URL): infrastructure node');
  } else {
    // Several coordinators: the first one stands in for the URL whose saved client.json key may be used.
    const target = resolveClientTarget(
      config.coordinators.length > 0 ? { ...config, url: config.coordinators[0] } : config,
    );
    const urls = config.coordinators.length > 0 ? config.coordinators : target.url;
    if (flags.auth !== undefined && flags.auth !== 'did' && flags.auth !== 'api-key') {
      throw new ValidationError('--auth must be did or api-key');
    }
    const useDid = flags.auth === 'did' || (flags.auth === undefined && target.apiKey === undefined);
    if (useDid) {
      const identity = await encoderIdentity(config.dataDir);
      transport = createHttpTransport({ url: urls, identity });
      log.info({ coordinator: urls, did: identity.did }, 'using the coordinator agent API, signed requests');
    } else {
      transport = createHttpTransport({ url: urls, apiKey: target.apiKey });
      log.info({ coordinator: urls }, 'using the coordinator agent API');
    }
    // Result URLs of `local` outputs: the coordinators' public URL when given (behind a load balancer,
    // or Compose where the URL encoders use is an internal host name), else the URL in use.
    remoteUrl = config.publicUrl ?? target.url;
  }

  // Remote nodes report `local` outputs at the coordinator's /media URLs.
  storage ??= storageContextFor(config, { log, ...(remoteUrl ? { publicUrl: remoteUrl } : {}) });

  const metricsPort = flags.metricsPort === undefined ? undefined : Number(flags.metricsPort);
  if (
    metricsPort !== undefined &&
    !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65535)
  ) {
    throw new ValidationError(
      `--metrics-port: expected a port 0..65535 (got ${JSON.stringify(flags.metricsPort)})`,
    );
  }
  const metrics = metricsPort === undefined ? undefined : createEncoderMetrics();
  const node = startEncoderNode({
    ...(metrics ? { onEvent: (e: EncoderNodeEvent) => metrics.onEvent(e) } : {}),
    transport,
    dataDir: config.dataDir,
    storage,
    name: flags.name ?? hostname(),
    version,
    concurrency: config.encoderConcurrency,
    hwaccel: config.hwaccel,
    tags,
    log,
    progressIntervalMs: Math.min(config.heartbeatMs, 5000),
    heartbeatIntervalMs: config.heartbeatMs,
  });

  const stopped = new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals += 1;
      log.info({ signal: sig }, signals === 1 ? 'stopping gracefully' : 'stopping now');
      void node.stop({ graceful: signals === 1, graceMs: graceS * 1000 }).then(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  const metricsServer =
    metrics && metricsPort !== undefined
      ? await startMetricsServer(metrics, { port: metricsPort, host: flags.metricsHost })
      : undefined;
  if (metricsServer) log.info({ url: metricsServer.url }, 'metrics endpoint listening');
  try {
    await node.ready;
  } catch (err) {
    await metricsServer?.close();
    // Registration refused for good (bad key, explicit hwaccel missing): exit with the reason.
    await node.stop({ graceful: false });
    await closeDb?.();
    await tracing.shutdown();
    throw err;
  }
  await stopped;
  await metricsServer?.close();
  await closeDb?.();
  await tracing.shutdown();
}
