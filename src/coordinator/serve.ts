import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { encoderV2Routes } from '../compat/encoder-v2/routes.js';
import { threeSpeakGatewayRoutes } from '../compat/threespeak/index.js';
import {
  type Config,
  ConfigError,
  clientConfigPath,
  readClientFile,
  ssrfPolicyOf,
  storageContextFor,
} from '../config.js';
import { createDbTransport, type EncoderNode, startEncoderNode } from '../encoder/index.js';
import {
  createSecretBox,
  createSqlApiKeyStore,
  createSqlNonceStore,
  isSealed,
  resolveServerKey,
} from '../identity/index.js';
import {
  createDatabase,
  createJobStore,
  createWebhookQueue,
  type Database,
  type JobStore,
  type Maintenance,
  startMaintenance,
} from '../jobs/index.js';
import { createPresetStore } from '../jobs/presets.js';
import { removeEndedLiveFiles } from '../live/cleanup.js';
import { type IngestServer, startIngest } from '../live/ingest.js';
import { createLiveService, type LiveService } from '../live/service.js';
import type { Logger } from '../log.js';
import {
  createHiveAccounts,
  createHiveRail,
  createHiveRpc,
  createMarket,
  createWithdrawals,
  HIVE_ACTIVE_KEY_CONTEXT,
  type HiveRail,
  type MarketWorker,
  startMarketWorker,
} from '../market/index.js';
import { packageRoot } from '../paths.js';
import { removeLocalOutputs } from '../storage/index.js';
import { initTracing } from '../tracing.js';
import { buildApp } from './app.js';
import { UnauthorizedError } from './errors.js';
import { createCoordinatorMetrics } from './metrics.js';
import { staticKeyAuthenticator } from './plugins/auth.js';
import { anySignedAuthenticator, hiveRequestAuthenticator } from './plugins/hive.js';
import {
  apiKeyAuthenticator,
  didRequestAuthenticator,
  uploadGrantAuthenticator,
} from './plugins/identity.js';
import { sqlSessionRevocations } from './plugins/session.js';
import { traceJobStore } from './plugins/tracing.js';
import { runRetention } from './retention.js';
import { openSpecSecrets } from './spec-secrets.js';
import { startWebhookSender, type WebhookSender } from './webhooks/index.js';
import { appOptionsFromConfig, verificationOf } from './wiring.js';

/** Job transitions after which a market order may settle (released, refunded or reopened). */
const MARKET_KICKS = new Set(['completed', 'dead', 'cancelled', 'queued', 'failed']);

/** A running coordinator (`vidmesh serve`): its URL, bootstrap key, parts, and a stop function. */
export interface RunningCoordinator {
  /** Base URL it answers at (public URL when configured). */
  readonly url: string;
  /** The bootstrap admin key (from `VIDMESH_API_KEY`, `client.json`, or generated). */
  readonly apiKey: string;
  readonly app: FastifyInstance;
  readonly db: Database;
  readonly store: JobStore;
  readonly encoders: readonly EncoderNode[];
  /**
   * Graceful shutdown: in-process encoders stop (unstarted jobs released, running encodes get
   * `graceMs`, default 10 s, then released), the server closes, maintenance stops, the database closes.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

export async function packageVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(packageRoot(), 'package.json'), 'utf8')) as { version: string })
    .version;
}

/**
 * Starts a coordinator from a parsed config: database (PostgreSQL at `databaseUrl`, else PGlite in
 * `<dataDir>/db`) with migrations, the HTTP server on `host:port`, then the maintenance loop (lease
 * rescue, leader-only; no rescue for `rescueGraceMs`, default one lease, after listening), `client.json`
 * (mode 0600) for local CLI clients, and `config.encoders` in-process encoders on the direct job-store
 * transport.
 */
export async function startCoordinator(
  config: Config,
  options: { log?: Logger } = {},
): Promise<RunningCoordinator> {
  const log = options.log;
  const version = await packageVersion();
  await mkdir(join(config.dataDir, 'media'), { recursive: true, mode: 0o700 });
  await mkdir(join(config.dataDir, 'uploads'), { recursive: true, mode: 0o700 });

  const db = await createDatabase(
    config.databaseUrl ? { url: config.databaseUrl, log } : { dataDir: join(config.dataDir, 'db'), log },
  );
  // Before the store and the app: both wrap themselves in spans only when tracing is on.
  const tracing = await initTracing({
    endpoint: config.otelEndpoint,
    serviceName: config.otelServiceName,
    serviceVersion: version,
    log,
  });
  const store = traceJobStore(
    createJobStore(db, {
      leaseMs: config.leaseMs,
      maxAttempts: config.maxAttempts,
      log,
      routing: {
        agentWindowMs: config.agentGraceS * 1000,
        browserWindowMs: config.browserGraceS * 1000,
        pinWindowMs: config.pinGraceS * 1000,
      },
    }),
  );
  let purgeTimer: NodeJS.Timeout | undefined;
  let maintenance: Maintenance | undefined;
  let webhookSender: WebhookSender | undefined;
  let app: FastifyInstance | undefined;
  let ingest: IngestServer | undefined;
  let stopLiveWatch: (() => void) | undefined;
  let stopMarketWatch: (() => void) | undefined;
  let marketWorker: MarketWorker | undefined;
  const encoders: EncoderNode[] = [];
  try {
    const saved = readClientFile(config.dataDir);
    const apiKey = config.apiKey ?? saved?.apiKey ?? `vmk_admin_${randomBytes(32).toString('base64url')}`;
    let publicUrl = config.publicUrl ?? '';
    const configured = appOptionsFromConfig(config);
    const verification = verificationOf(config);
    // Said at startup, not only to the first payer: the market pays only for verified work.
    if (!verification) {
      log?.warn(
        { verify: 'off' },
        'VIDMESH_VERIFY=off: priced (market) jobs are refused at submit; community encoders can take no paid work (docs/marketplace.md)',
      );
    }
    const keys = createSqlApiKeyStore(db);
    const nonces = createSqlNonceStore(db);
    const serverKey = await resolveServerKey({
      keyFile: join(config.dataDir, 'secret-key'),
      env: process.env,
    });
    const box = createSecretBox(serverKey);
    // Expired nonces go on the maintenance cadence (the store also purges on its own once a minute).
    purgeTimer = setInterval(() => {
      nonces.purgeExpired(new Date()).catch((err) => log?.warn({ err }, 'nonce purge failed'));
    }, config.maintenanceIntervalMs);
    purgeTimer.unref();
    if (config.threeSpeakManagedEncoders.length > 0 && !config.threeSpeakManagedKey) {
      throw new ConfigError('VIDMESH_3SPEAK_MANAGED_KEY is required with VIDMESH_3SPEAK_MANAGED_ENCODERS');
    }
    if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
      throw new ConfigError('--tls-cert and --tls-key go together (VIDMESH_TLS_CERT, VIDMESH_TLS_KEY)');
    }
    const https =
      config.tlsCert && config.tlsKey
        ? { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) }
        : undefined;
    // Webhooks and transition metrics follow the maintenance leader: one sender, one count per job.
    const isLeader = () => maintenance?.isLeader() ?? false;
    const webhookQueue = createWebhookQueue(db);
    const presets = createPresetStore(db);
    const webhookSsrf = config.allowPrivateNetworks
      ? { allowCidrs: ['0.0.0.0/0', '::/0'] }
      : ssrfPolicyOf(config);
    const metrics = createCoordinatorMetrics({ store, webhooks: webhookQueue, isLeader, log });
    // ---- live (issue 23): the RTMP ingest listens only when a port is configured ----
    let live: LiveService | undefined;
    if (config.liveRtmpPort !== undefined) {
      const service = createLiveService({ db, store, root: join(config.dataDir, 'live'), log });
      await mkdir(service.root, { recursive: true, mode: 0o700 });
      ingest = await startIngest({
        port: config.liveRtmpPort,
        host: config.liveRtmpHost ?? config.host,
        graceMs: config.liveGraceMs,
        authorize: (app, key) => service.authorize(app, key),
        onEnded: (jobId) => {
          service
            .feedEnded(jobId)
            .catch((err: unknown) => log?.error({ err, jobId }, 'live end not recorded'));
        },
        ...(log ? { log } : {}),
      });
      service.attachIngest(ingest);
      live = service;
      // A cancelled (or dead) live job disconnects its publisher and spends its key.
      const feeds = ingest;
      stopLiveWatch = await store.onJobChange((change) => {
        if (change.type !== 'transition' || (change.to !== 'cancelled' && change.to !== 'dead')) return;
        if (feeds.existing(change.jobId)) feeds.endFeed(change.jobId);
      });
    }
    // ---- community marketplace (issue 15, docs/marketplace.md) ----
    const market = createMarket({
      db,
      jobs: store,
      feeBps: config.marketFeeBps,
      acceptTimeoutMs: config.marketAcceptTimeoutMs,
      bidWindowMs: config.marketBidWindowMs,
      log,
    });
    const hiveRpc = config.hiveNode ? createHiveRpc(config.hiveNode) : undefined;
    const hiveAccounts = hiveRpc ? createHiveAccounts(hiveRpc) : undefined;
    let rail: HiveRail | undefined;
    if (hiveRpc && config.hiveAccount && config.hiveActiveKey) {
      const sealed = isSealed(config.hiveActiveKey);
      if (!sealed) log?.warn('VIDMESH_HIVE_ACTIVE_KEY is a plain WIF: seal it (vidmesh wallet seal-key)');
      rail = createHiveRail({
        db,
        ledger: market.ledger,
        rpc: hiveRpc,
        account: config.hiveAccount,
        activeKey: sealed ? box.open(config.hiveActiveKey, HIVE_ACTIVE_KEY_CONTEXT) : config.hiveActiveKey,
        ...(config.hiveChainId ? { chainId: config.hiveChainId } : {}),
        log,
      });
    }
    marketWorker = startMarketWorker({
      market,
      ...(rail ? { rail } : {}),
      isLeader,
      intervalMs: config.marketIntervalMs,
      log,
    });
    const worker = marketWorker;
    const withdrawals = rail
      ? createWithdrawals({
          db,
          ledger: market.ledger,
          limits: { min: config.marketWithdrawalMin, dailyCap: config.marketWithdrawalDailyCap },
        })
      : undefined;
    stopMarketWatch = await store.onJobChange((change) => {
      if (change.type === 'resync' || (change.type === 'transition' && MARKET_KICKS.has(change.to)))
        worker.kick();
    });
    const ingestPort = ingest?.port;
    const apiKeyAuth = [
      staticKeyAuthenticator(apiKey, { id: 'api_key:bootstrap', scopes: ['admin'] }),
      apiKeyAuthenticator(keys),
    ];
    app = await buildApp({
      // Session cookies sealed under the server key (hashed with its own context): every coordinator
      // sharing the key accepts them and they outlive a restart; sign-outs are kept in the database.
      sessionSecret: serverKey,
      sessionRevocations: sqlSessionRevocations(db),
      metrics,
      webhooks: { queue: webhookQueue, ssrf: webhookSsrf },
      presets,
      store,
      dataDir: config.dataDir,
      publicUrl: () => publicUrl,
      version,
      authenticators: [...apiKeyAuth, uploadGrantAuthenticator()],
      keys,
      // did:key requests (encoders) and, with a Hive node, Hive Keychain signed requests (users).
      signedAuth: hiveRpc
        ? anySignedAuthenticator([
            didRequestAuthenticator({ nonceStore: nonces }),
            hiveRequestAuthenticator({ accounts: hiveAccounts!, nonces }),
          ])
        : didRequestAuthenticator({ nonceStore: nonces }),
      ...configured,
      secretBox: box,
      storage: () => storageContextFor(config, { publicUrl, log }),
      ...(verification ? { verification: { db, ...verification } } : {}),
      chunking: {
        db,
        leaseMs: config.leaseMs,
        defaults: {
          thresholdS: config.chunkThresholdS,
          chunkS: config.chunkSeconds,
          prerollSegments: config.chunkPrerollSegments,
        },
      },
      ...(https ? { https, hsts: true } : {}),
      market: {
        market,
        ...(hiveRpc && config.hiveAccount
          ? { hive: { accounts: hiveAccounts!, account: config.hiveAccount, nonces } }
          : {}),
        ...(withdrawals ? { withdrawals, onWithdrawal: () => worker.kickPayouts() } : {}),
      },
      ...(live
        ? {
            live: {
              service: live,
              db,
              rtmpBase: () =>
                config.liveRtmpUrl?.replace(/\/+$/, '') ??
                `rtmp://${new URL(publicUrl).hostname}:${ingestPort}/live`,
            },
          }
        : {}),
      checkReady: async () => {
        await db.query('SELECT 1 FROM jobs LIMIT 1');
        return { ok: true, checks: { database: true, migrations: true } };
      },
      log,
    });
    if (config.threeSpeakGateway) {
      await app.register(threeSpeakGatewayRoutes, {
        store,
        db,
        blockstoreDir: join(config.dataDir, 'ipfs'),
        version,
        leaseMs: config.threeSpeakLeaseMs,
        ackTimeoutMs: config.threeSpeakAckTimeoutMs,
        ...(config.publicUrl ? { publicUrl: () => config.publicUrl ?? '' } : {}),
        ...(config.threeSpeakManagedEncoders.length > 0 && config.threeSpeakManagedKey
          ? {
              managed: {
                encoders: config.threeSpeakManagedEncoders.map((url) => ({
                  url,
                  apiKey: config.threeSpeakManagedKey ?? '',
                })),
                webhookBase: () => publicUrl,
                // One dispatcher among coordinators sharing the database.
                isLeader,
              },
            }
          : {}),
        uploadWindowMs: config.threeSpeakUploadWindowMs,
        openUploads: config.threeSpeakOpenUploads,
        // The operator seeds sources (`vidmesh ipfs add`) with an admin API key.
        isOperator: async (req) => {
          for (const auth of apiKeyAuth) {
            const principal = await auth(req);
            if (principal) return principal.scopes.includes('admin');
          }
          throw new UnauthorizedError('unknown API key');
        },
        adminDids: config.threeSpeakAdminDids,
        aidDids: config.threeSpeakAidDids,
        aidSecrets: config.threeSpeakAidSecrets,
      });
    }
    if (config.encoderV2Api !== undefined) {
      const prefix = config.encoderV2Api.replace(/\/+$/, '');
      await app.register(encoderV2Routes, {
        prefix,
        authenticators: [
          staticKeyAuthenticator(apiKey, { id: 'api_key:bootstrap', scopes: ['admin'] }),
          apiKeyAuthenticator(keys),
        ],
        // At `/`, vidmesh's own `GET /health` answers.
        health: prefix !== '',
        heldByEncoder: (jobId) => market.heldByEncoder(jobId),
        removeJob: async (jobId) => {
          // A cancelled job's order is settled now (its escrow refunded, money conserved), not on the
          // next pass; rows first: a job whose order is still unsettled is refused (409), outputs intact.
          // A settlement that fails here is the pass's to retry; the removal below then answers 409.
          await market.settleJob(jobId).catch((err: unknown) => {
            log?.warn({ err, jobId }, 'market: settling a deleted job failed; retried by the pass');
          });
          await store.remove(jobId);
          await removeLocalOutputs(join(config.dataDir, 'media'), jobId);
        },
      });
    }
    await app.listen({ port: config.port, host: config.host });
    // Rescue only once encoders can be heard, and not before they had one lease to renew: after a
    // restart that outlasted a lease, the holder is likely still encoding (or about to report a cached
    // result), and rescuing at once would encode the job twice.
    maintenance = startMaintenance(db, store, {
      intervalMs: config.maintenanceIntervalMs,
      encoderOfflineAfterMs: Math.max(3 * config.heartbeatMs, 30_000),
      // Agents heartbeat every VIDMESH_HEARTBEAT_MS too: three missed beats end a routed agent window.
      agentSilentAfterMs: 3 * config.heartbeatMs,
      rescueGraceMs: config.rescueGraceMs ?? config.leaseMs,
      retention: async () => {
        const purged = await runRetention({
          store,
          localRoot: join(config.dataDir, 'media'),
          liveRoot: join(config.dataDir, 'live'),
          blockstoreDir: join(config.dataDir, 'ipfs'),
          defaultHours: config.retentionHours,
          log,
        });
        // Live files of ended streams nothing needs any more (docs/live.md), also with live ingest off.
        await removeEndedLiveFiles({
          db,
          root: join(config.dataDir, 'live'),
          graceMs: config.liveFilesGraceMs,
          log,
        });
        return purged.jobs.length;
      },
      log,
    });
    await metrics.start();
    webhookSender = startWebhookSender({
      queue: webhookQueue,
      store,
      secretBox: box,
      isLeader,
      publicUrl: () => publicUrl,
      mediaBase: () => `${config.mediaOrigin?.replace(/\/+$/, '') ?? publicUrl}/media`,
      ssrf: webhookSsrf,
      userAgent: `vidmesh/${version}`,
      log,
      onAttempt: (outcome, latencyS) => metrics.onWebhookAttempt(outcome, latencyS),
    });
    const sender = webhookSender;
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    if (!publicUrl)
      publicUrl = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    await writeFile(
      clientConfigPath(config.dataDir),
      JSON.stringify({ url: publicUrl, apiKey }, null, 2) + '\n',
      {
        mode: 0o600,
      },
    );

    const storage = storageContextFor(config, { publicUrl, log });
    for (let i = 1; i <= config.encoders; i++) {
      encoders.push(
        startEncoderNode({
          transport: createDbTransport(store, {
            openSpec: (spec) => openSpecSecrets(box, spec),
            limits: configured.sourceLimits,
          }),
          dataDir: config.dataDir,
          storage,
          name: `${hostname()}-serve-${i}`,
          kind: 'infrastructure',
          version,
          concurrency: config.encoderConcurrency,
          hwaccel: config.hwaccel,
          log: log?.child({ encoder: i }),
          progressIntervalMs: Math.min(config.heartbeatMs, 3000),
          heartbeatIntervalMs: config.heartbeatMs,
        }),
      );
    }
    const running = app;
    const m = maintenance;
    let stopping: Promise<void> | undefined;
    return {
      url: publicUrl,
      apiKey,
      app: running,
      db,
      store,
      encoders,
      stop: (o = {}) => {
        stopping ??= (async () => {
          await Promise.allSettled(
            encoders.map((e) => e.stop({ graceful: true, graceMs: o.graceMs ?? 10_000 })),
          );
          stopLiveWatch?.();
          stopMarketWatch?.();
          await marketWorker?.stop();
          await ingest?.close();
          await running.close();
          clearInterval(purgeTimer);
          await sender.stop();
          await metrics.stop();
          await m.stop();
          await store.close();
          await db.close();
          await tracing.shutdown();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await Promise.allSettled(encoders.map((e) => e.stop({ graceful: false })));
    await app?.close().catch(() => {});
    stopLiveWatch?.();
    stopMarketWatch?.();
    await marketWorker?.stop().catch(() => {});
    await ingest?.close().catch(() => {});
    clearInterval(purgeTimer);
    await webhookSender?.stop().catch(() => {});
    await maintenance?.stop().catch(() => {});
    await store.close().catch(() => {});
    await db.close().catch(() => {});
    await tracing.shutdown();
    throw err;
  }
}
