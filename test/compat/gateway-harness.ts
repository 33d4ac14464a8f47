/**
 * One harness for the 3Speak gateway tests (gateway, embed, Aid): a 3Speak-layout output encoded
 * once per file, and `vidmesh serve --threespeak-gateway` on a test database with the operator's
 * helpers (seed a source, submit a 3Speak job) and the v2 client's documented settings.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  type ThreeSpeakGatewayOptions,
  threeSpeakGatewayRoutes,
  threeSpeakSubmitInput,
} from '../../src/compat/threespeak/index.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/index.js';
import { createJobStore, type JobStore } from '../../src/jobs/index.js';
import type { Logger } from '../../src/log.js';
import { encodeLadder, planLadder, probe } from '../../src/media/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { makeClip } from '../helpers/media.js';
import type { V2Settings } from './v2-client.js';

/** A 2 s clip and its 480p encode in the 3Speak layout (what a node uploads), in a temp folder. */
export interface ThreeSpeakFixture {
  clip: string;
  /** The 3Speak-layout output directory (`manifest.m3u8`, `480p/index.m3u8`, segments). */
  out: string;
  remove(): Promise<void>;
}

export async function threeSpeakFixture(): Promise<ThreeSpeakFixture> {
  const work = await mkdtemp(join(tmpdir(), 'vidmesh-3speak-fixture-'));
  const clip = join(work, 'clip.mp4');
  await makeClip(clip, { seconds: 2 });
  const out = join(work, 'out');
  const plan = planLadder(await probe(clip), {
    layout: '3speak',
    speed: 'ultrafast',
    segmentDuration: 1,
    only: ['480p'],
    poster: false,
    thumbnail: false,
  });
  await encodeLadder(plan, out);
  return { clip, out, remove: () => rm(work, { recursive: true, force: true }) };
}

export interface ServedGateway {
  server: RunningCoordinator;
  config: Config;
  tdb: TestDatabase;
  /** The v2 client's documented settings pointed at this coordinator (docs/3speak.md). */
  settings: V2Settings;
  /** Seeds `clip` into the embedded IPFS store with the admin key (kubo `add`); its CID. */
  seed(clip: string): Promise<string>;
  /** Submits a 3Speak job for owner `erin` whose source is `uri` (`ipfs://CID` or a URL); its id. */
  submit(permlink: string, uri: string): Promise<string>;
  /** Stops the coordinator, drops the database (unless it was given) and removes the data dir. */
  close(): Promise<void>;
}

/**
 * Starts `vidmesh serve --threespeak-gateway` (no built-in encoders) with `env` on a fresh test
 * database, or on `db` (several coordinators sharing one database; the caller drops it).
 */
export async function serveGateway(
  opts: { env?: Record<string, string>; db?: TestDatabase; out?: string; log?: Logger } = {},
): Promise<ServedGateway> {
  const tdb = opts.db ?? (await createTestDatabase());
  const dataDir = await mkdtemp(join(tmpdir(), 'vidmesh-3speak-serve-'));
  const config = loadConfig({
    flags: { port: '0', dataDir, encoders: '0', databaseUrl: tdb.url, threespeakGateway: true },
    env: opts.env ?? {},
  });
  const server = await startCoordinator(config, opts.log ? { log: opts.log } : {});
  return {
    server,
    config,
    tdb,
    settings: {
      gatewayUrl: server.url,
      ipfsGatewayUrl: server.url,
      ipfsApiUrl: server.url,
      trafficDirectorUrl: `${server.url}/api/v0/gateway/hotnode`,
      outputDir: opts.out ?? '',
    },
    async seed(clip) {
      const form = new FormData();
      form.append('file', new Blob([await readFile(clip)]), 'clip.mp4');
      const res = await fetch(`${server.url}/api/v0/add`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}` },
        body: form,
      });
      assert.equal(res.status, 200);
      return ((await res.json()) as { Hash: string }).Hash;
    },
    async submit(permlink, uri) {
      const job = await server.store.submit(
        threeSpeakSubmitInput({
          input: { uri, size: 1 },
          metadata: { video_owner: 'erin', video_permlink: permlink },
        }),
      );
      return job.id;
    },
    async close() {
      await server.stop();
      if (!opts.db) await tdb.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The gateway plugin alone on a Fastify server (no coordinator around it). */
export interface GatewayPlugin {
  app: FastifyInstance;
  url: string;
  store: JobStore;
  tdb: TestDatabase;
  dir: string;
  close(): Promise<void>;
}

/** Registers {@link threeSpeakGatewayRoutes} with `options` on a fresh test database and listens. */
export async function startGatewayPlugin(
  options: Partial<ThreeSpeakGatewayOptions> = {},
): Promise<GatewayPlugin> {
  const tdb = await createTestDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-3speak-gw-'));
  const store = createJobStore(tdb.db, { leaseMs: 60_000 });
  const app = Fastify();
  await app.register(threeSpeakGatewayRoutes, {
    store,
    db: tdb.db,
    blockstoreDir: join(dir, 'ipfs'),
    version: 'test',
    ...options,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    app,
    url,
    store,
    tdb,
    dir,
    close: async () => {
      await app.close();
      await store.close();
      await tdb.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` every 100 ms until it returns a truthy value; throws naming `what` after `ms`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
