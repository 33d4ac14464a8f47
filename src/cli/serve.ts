import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { type RunningCoordinator, signInLink, startCoordinator } from '../coordinator/index.js';
import { createLogger } from '../log.js';

interface ServeFlags {
  port?: string;
  host?: string;
  databaseUrl?: string;
  dataDir?: string;
  encoders?: string;
  publicUrl?: string;
  encoderV2Api?: string | true;
  retentionHours?: string;
}

/**
 * The first-run dashboard line: the URL and a one-time sign-in link (single use, 5 minutes) for the
 * bootstrap admin key, so a new operator need not copy the key out of client.json.
 */
export function dashboardLine(server: Pick<RunningCoordinator, 'url' | 'apiKey' | 'app'>): string {
  const link = signInLink(server.app, server.url, server.apiKey);
  return `dashboard: ${server.url}/\n  sign in once (single use, valid 5 min): ${link}\n`;
}

/** Resolves on the first SIGTERM/SIGINT (a second one exits at once with 130). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let count = 0;
    const on = (sig: NodeJS.Signals) => {
      count += 1;
      if (count === 1) resolve(sig);
      else process.exit(130);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/** `vidmesh serve`: the coordinator (REST API, maintenance, media serving) plus in-process encoders. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('run the coordinator: REST API, scheduler loops, media serving, and N in-process encoders')
    .option('--port <port>', 'HTTP port (env PORT, default 8080)')
    .option('--host <host>', 'listen address (env HOST, default 127.0.0.1)')
    .option('--public-url <url>', 'URL clients reach this server at (env VIDMESH_PUBLIC_URL)')
    .option(
      '--database-url <url>',
      'PostgreSQL URL (env DATABASE_URL; default embedded PGlite in <data-dir>/db)',
    )
    .option('--data-dir <dir>', 'data directory (env VIDMESH_DATA_DIR, default ./.vidmesh)')
    .option('--encoders <n>', 'in-process encoders (env VIDMESH_ENCODERS, default 1; 0 = coordinator only)')
    .option(
      '--threespeak-gateway',
      'serve the 3Speak legacy gateway (env VIDMESH_3SPEAK_GATEWAY; docs/3speak.md)',
    )
    .option(
      '--threespeak-lease-ms <ms>',
      'lease of a 3Speak job after each acceptJob/pingJob (env VIDMESH_3SPEAK_LEASE_MS, default 300000)',
    )
    .option(
      '--threespeak-ack-timeout-ms <ms>',
      'lease of a 3Speak myJob hand-out until acceptJob (env VIDMESH_3SPEAK_ACK_TIMEOUT_MS, default 60000)',
    )
    .option(
      '--threespeak-upload-window-ms <ms>',
      "how long a 3Speak node's address may kubo add after its last accept/ping (env VIDMESH_3SPEAK_UPLOAD_WINDOW_MS, default 6 h)",
    )
    .option(
      '--threespeak-open-uploads',
      'any address may kubo add to the embedded IPFS store (env VIDMESH_3SPEAK_OPEN_UPLOADS)',
    )
    .option(
      '--threespeak-managed-encoders <urls>',
      'Direct API URLs of 3Speak v2 encoders to push jobs to (env VIDMESH_3SPEAK_MANAGED_ENCODERS; key in VIDMESH_3SPEAK_MANAGED_KEY)',
    )
    .option(
      '--threespeak-admin-dids <dids>',
      'did:key DIDs that may push jobs (env VIDMESH_3SPEAK_ADMIN_DIDS)',
    )
    .option(
      '--threespeak-aid-dids <dids>',
      'did:key DIDs that may use Gateway Aid (env VIDMESH_3SPEAK_AID_DIDS)',
    )
    .option(
      '--tls-cert <file>',
      'PEM certificate: serve HTTPS with HSTS (env VIDMESH_TLS_CERT; needs --tls-key)',
    )
    .option('--tls-key <file>', 'PEM private key of --tls-cert (env VIDMESH_TLS_KEY)')
    .option('--metrics-token <token>', 'bearer token for GET /metrics (env VIDMESH_METRICS_TOKEN)')
    .option('--media-origin <url>', 'origin serving /media and /ipfs (env VIDMESH_MEDIA_ORIGIN)')
    .option(
      '--encoder-v2-api [prefix]',
      'mount the Encoder v2 compatible API at / or a prefix (env VIDMESH_ENCODER_V2_API; docs/outputs.md)',
    )
    .option(
      '--retention-hours <hours>',
      'purge finished jobs and their local/IPFS outputs after this long (env VIDMESH_RETENTION_HOURS)',
    )
    .option(
      '--live-rtmp-port <port>',
      'RTMP ingest port of live streams (env VIDMESH_LIVE_RTMP_PORT; unset: off)',
    )
    .option(
      '--registration-policy <policy>',
      'did:key encoders: open | allowlist | approval (env VIDMESH_REGISTRATION_POLICY, default open)',
    )
    .action(async (flags: ServeFlags) => {
      const config = loadConfig({ flags: { ...flags } });
      const log = createLogger({ level: config.logLevel, format: config.logFormat });
      const server = await startCoordinator(config, { log });
      log.info(
        { url: server.url, encoders: config.encoders, database: config.databaseUrl ? 'postgres' : 'pglite' },
        'vidmesh coordinator ready',
      );
      process.stderr.write(
        `vidmesh serving at ${server.url} (docs ${server.url}/docs); client config in ${config.dataDir}/client.json\n`,
      );
      // Only for a person at a terminal: the link signs in as the admin key, so it stays out of logs
      // that a service manager or a redirected stderr keeps.
      if (process.stderr.isTTY) process.stderr.write(dashboardLine(server));
      const sig = await untilSignal();
      log.info({ signal: sig }, 'shutting down');
      await server.stop();
    });
}
