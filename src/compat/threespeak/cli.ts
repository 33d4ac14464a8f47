import { join } from 'node:path';
import { resolveEncoderIdentity } from '../../identity/index.js';
import type { Logger } from '../../log.js';
import { startDirectApi } from './direct-api.js';
import { startThreeSpeakEncoder } from './encoder.js';
import { loadLegacyEncoderConfig } from './legacy-env.js';

/**
 * `vidmesh encoder --protocol 3speak`: runs a vidmesh encoder for a 3Speak gateway with the legacy
 * encoder's configuration (environment and `.env`, see {@link loadLegacyEncoderConfig}) until `until`
 * settles (the CLI passes its first SIGTERM/SIGINT), then stops (interrupted jobs are rejected back).
 * The identity is `ENCODER_PRIVATE_KEY` (the same DID the legacy node had), else
 * `<TEMP_DIR>/encoder-key`. With `DIRECT_API_ENABLED` the Direct API listens on `DIRECT_API_PORT` too.
 * Throws ValidationError naming a bad variable.
 */
export async function runThreeSpeakEncoderCli(options: {
  envFile?: string;
  version: string;
  log: Logger;
  until: Promise<unknown>;
}): Promise<void> {
  const { log } = options;
  const cfg = await loadLegacyEncoderConfig({ envFile: options.envFile });
  if (cfg.ignored.length > 0) {
    log.warn({ variables: cfg.ignored }, 'legacy variables without effect in vidmesh (docs/3speak.md)');
  }
  const identity = await resolveEncoderIdentity({
    keyFile: join(cfg.tempDir, 'encoder-key'),
    env: { ENCODER_PRIVATE_KEY: cfg.encoderPrivateKey },
  });
  const storage = {
    localRoot: join(cfg.tempDir, 'local'),
    fileRoots: [],
    // Gateway job sources are public URLs or IPFS; private addresses stay refused (SSRF).
    ssrf: {},
    ipfs: {
      blockstoreDir: join(cfg.tempDir, 'ipfs'),
      kuboApiUrl: cfg.kuboApiUrl,
      ...(cfg.ipfsGatewayUrl ? { gatewayUrl: cfg.ipfsGatewayUrl } : {}),
    },
    log,
  };
  const direct =
    cfg.directApi.enabled && cfg.directApi.key
      ? await startDirectApi({
          apiKey: cfg.directApi.key,
          port: cfg.directApi.port,
          encoderId: identity.did,
          workDir: join(cfg.tempDir, 'direct'),
          kuboApiUrl: cfg.kuboApiUrl,
          storage,
          log,
        })
      : undefined;
  if (direct) log.info({ url: direct.url }, 'Direct API listening');
  if (!cfg.gatewayEnabled) {
    log.info('REMOTE_GATEWAY_ENABLED=false: gateway jobs are not taken');
    await options.until;
    await direct?.close();
    return;
  }
  log.info({ gateway: cfg.gatewayUrl, did: identity.did, kubo: cfg.kuboApiUrl }, '3Speak encoder starting');
  const enc = startThreeSpeakEncoder({
    gatewayUrl: cfg.gatewayUrl,
    identity,
    kuboApiUrl: cfg.kuboApiUrl,
    ...(cfg.monitorUrl ? { monitorUrl: cfg.monitorUrl } : {}),
    dataDir: cfg.tempDir,
    storage,
    hiveUsername: cfg.hiveUsername,
    nodeName: cfg.nodeName,
    version: options.version,
    concurrency: cfg.concurrency,
    legacyPoll: cfg.legacyPoll,
    log,
  });
  enc.on((e) => log.info(e, `3speak job ${e.type}`));
  await options.until;
  await Promise.all([enc.stop(), direct?.close()]);
}
