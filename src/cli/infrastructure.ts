import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, readClientFile, storageContextFor } from '../config.js';
import { traceJobStore } from '../coordinator/plugins/tracing.js';
import { openSpecSecrets } from '../coordinator/spec-secrets.js';
import { sourceLimitsOf } from '../coordinator/wiring.js';
import { createDbTransport, type EncoderTransport } from '../encoder/index.js';
import { VidmeshError } from '../errors.js';
import {
  createSecretBox,
  loadOrCreateServerKey,
  type SecretBox,
  serverKeyFromEnv,
} from '../identity/index.js';
import { createDatabase, createJobStore } from '../jobs/index.js';
import type { Logger } from '../log.js';
import type { StorageContext } from '../storage/index.js';

/** A claimed job holds sealed secrets this node has no server key for. Retryable: a node with the key may take it. */
export class SecretKeyMissingError extends VidmeshError {
  override readonly code: string = 'secret_key_missing';
  override readonly status: number = 503;
  override readonly retryable: boolean = true;
}

/** Stands in for the secret box of a node without the server key: any sealed value is refused. */
const NO_KEY: SecretBox = {
  seal: () => {
    throw new SecretKeyMissingError('this node has no server key to seal with');
  },
  open: () => {
    throw new SecretKeyMissingError(
      "this job holds sealed secrets: give the node the coordinator's VIDMESH_SECRET_KEY",
    );
  },
};

/**
 * The server key an infrastructure node opens job secrets with: `VIDMESH_SECRET_KEY`, else the
 * coordinator's `<dataDir>/secret-key` when this node shares its data dir. Never created here: a key
 * of this node's own would open nothing.
 */
async function nodeSecretBox(config: Config, env: NodeJS.ProcessEnv): Promise<SecretBox | undefined> {
  const fromEnv = serverKeyFromEnv(env);
  if (fromEnv) return createSecretBox(fromEnv);
  const file = join(config.dataDir, 'secret-key');
  return existsSync(file) ? createSecretBox(await loadOrCreateServerKey(file)) : undefined;
}

/**
 * The parts of an infrastructure node (`vidmesh encoder --database-url`): the job-store transport with
 * the same hand-out as `vidmesh serve`'s in-process encoders (secrets opened with the server key,
 * the configured source limits), and a storage context whose `upload` sources come from the
 * coordinator (`--coordinator`/`VIDMESH_URL` and a key, or the data dir's `client.json`) when one is
 * known, else from `<dataDir>/uploads` (a node sharing the coordinator's data dir).
 * `describe` says what was chosen, for the start-up log.
 */
export async function infrastructureNode(
  config: Config,
  options: { log?: Logger; env?: NodeJS.ProcessEnv } = {},
): Promise<{
  transport: EncoderTransport;
  storage: StorageContext;
  describe: Record<string, string>;
  close(): Promise<void>;
}> {
  const env = options.env ?? process.env;
  if (!config.databaseUrl) throw new VidmeshError('an infrastructure node needs DATABASE_URL');
  const db = await createDatabase({ url: config.databaseUrl, ...(options.log ? { log: options.log } : {}) });
  const store = traceJobStore(
    createJobStore(db, { leaseMs: config.leaseMs, ...(options.log ? { log: options.log } : {}) }),
  );
  const box = await nodeSecretBox(config, env);
  const transport = createDbTransport(store, {
    // Without the key, the one walk over the spec's secret fields refuses at the first sealed value.
    openSpec: (spec) => openSpecSecrets(box ?? NO_KEY, spec),
    limits: sourceLimitsOf(config),
  });
  const file = readClientFile(config.dataDir);
  const url = config.url ?? file?.url;
  const apiKey = config.apiKey ?? (file && file.url === url ? file.apiKey : undefined);
  const coordinator = url && apiKey ? url.replace(/\/+$/, '') : undefined;
  const auth = { authorization: `Bearer ${apiKey}` };
  const base = storageContextFor(config, {
    ...(options.log ? { log: options.log } : {}),
    ...(coordinator ? { publicUrl: coordinator } : {}),
  });
  const storage: StorageContext = coordinator
    ? {
        ...base,
        uploads: { kind: 'http', baseUrl: coordinator, headers: auth },
        ssrf: { ...base.ssrf, allowHosts: [...(base.ssrf.allowHosts ?? []), new URL(coordinator).hostname] },
      }
    : base;
  return {
    // `local` outputs go to the coordinator's media folder over the lease-bound output PUT, as a
    // remote node's do, unless this node shares the coordinator's data dir (no coordinator known).
    transport: coordinator
      ? {
          ...transport,
          remoteOutputs: (lease) => ({
            baseUrl: `${coordinator}/api/v1/agent/outputs/${encodeURIComponent(lease.jobId)}/`,
            headers: { ...auth, 'x-lease-token': lease.leaseToken },
          }),
        }
      : transport,
    storage,
    describe: {
      transport: 'job store (DATABASE_URL): infrastructure node',
      uploads: coordinator
        ? `from the coordinator at ${coordinator}`
        : `from ${join(config.dataDir, 'uploads')}`,
      localOutputs: coordinator
        ? `to the coordinator at ${coordinator}`
        : `into ${join(config.dataDir, 'media')}`,
      secrets: box
        ? 'opened with the server key'
        : 'no server key (jobs with sealed secrets are left to other nodes)',
    },
    close: () => db.close(),
  };
}
