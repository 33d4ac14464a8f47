/**
 * A test client speaking the 3Speak encoder's current ("v2") protocols, written from the request and
 * response shapes of Mantequilla-Soft/3speakencoder HEAD (read, not copied):
 * - embed mode (`EmbedPollerService`): `{jws}` bodies signed by a `dids` did:key, User-Agent
 *   `3Speak-Encoder/<version>`, `updateNode {node_info}` → `{success, encoder}`, `heartbeat {timestamp,
 *   version}`, `myJob {timestamp}` → `{success, job: {owner, permlink, input_cid, webhook_url, api_key,
 *   short, premium?}}` (a job missing a required field, or with a non-boolean `short`, is dropped);
 * - managed mode (`DirectApiService`): `POST /encode` with `X-API-Key` (or Bearer), the same job body,
 *   answered `{job_id, status: "queued", created_at, message, progress: 0}`; 400 for a missing field,
 *   401 for a wrong key; `GET /health` without a key;
 * - reporting (`WebhookService`): `POST <webhook_url>/progress {owner, permlink, progress, stage}` and
 *   `POST <webhook_url> {owner, permlink, input_cid, status, progress, manifest_cid, video_url, job_id,
 *   processing_time_seconds, qualities_encoded, encoder_id, timestamp}`, both with `X-API-Key: api_key`.
 * Encoding itself is stood in by a prepared 3Speak-layout directory; the source is fetched from the
 * gateway named (`IPFS_GATEWAY_URL`) and the output added over kubo RPC (`THREESPEAK_IPFS_ENDPOINT`).
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join, relative, sep } from 'node:path';
import { DID } from 'dids';
import { Ed25519Provider } from 'key-did-provider-ed25519';
import * as KeyResolver from 'key-did-resolver';
import { LegacyClient } from './legacy-client.js';

/** A gateway answer as the client reads it. */
type Answer = { success?: boolean; job?: Record<string, unknown> | null } & Record<string, unknown>;

export interface EmbedJobRequest {
  owner: string;
  permlink: string;
  input_cid: string;
  webhook_url: string;
  api_key: string;
  short: boolean;
  premium?: boolean;
}

export interface V2Settings {
  /** EMBED_GATEWAY_URL */
  gatewayUrl: string;
  /** IPFS_GATEWAY_URL (sources) */
  ipfsGatewayUrl: string;
  /** THREESPEAK_IPFS_ENDPOINT (uploads when the traffic director names no hotnode) */
  ipfsApiUrl: string;
  /** TRAFFIC_DIRECTOR_URL (asked first for a hotnode upload endpoint) */
  trafficDirectorUrl?: string;
  /** A 3Speak-layout output directory standing in for the encode. */
  outputDir: string;
  name?: string;
  /** The User-Agent the gateway sees (default the client's own; a proxy may rewrite it). */
  userAgent?: string;
}

export interface Reported {
  job: EmbedJobRequest;
  webhookStatus: number;
  sourceBytes: number;
  cid?: string;
  /** Where the output was uploaded: the traffic director's hotnode, or THREESPEAK_IPFS_ENDPOINT. */
  via?: 'hotnode' | 'supernode';
}

export class V2Client {
  private constructor(
    readonly settings: V2Settings,
    readonly did: DID,
  ) {}

  static async create(settings: V2Settings, seed: Uint8Array = randomBytes(32)): Promise<V2Client> {
    const did = new DID({ provider: new Ed25519Provider(seed), resolver: KeyResolver.getResolver() });
    await did.authenticate();
    return new V2Client(settings, did);
  }

  get id(): string {
    return this.did.id;
  }

  private async signed(
    path: string,
    payload: Record<string, unknown>,
  ): Promise<{ status: number; body: Answer }> {
    const jws = await this.did.createJWS(payload);
    const res = await fetch(new URL(path, this.settings.gatewayUrl), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': this.settings.userAgent ?? '3Speak-Encoder/2.0.0',
      },
      body: JSON.stringify({ jws }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Answer };
  }

  updateNode() {
    return this.signed('/api/v0/gateway/updateNode', {
      node_info: {
        name: this.settings.name ?? 'v2-node',
        cryptoAccounts: { hive: 'v2user' },
        commit_hash: '2.0.0',
      },
    });
  }

  heartbeat() {
    return this.signed('/api/v0/gateway/heartbeat', {
      timestamp: new Date().toISOString(),
      version: '2.0.0',
    });
  }

  /** One embed poll: the job as the client accepts it, or null (none, or dropped as malformed). */
  async myJob(): Promise<EmbedJobRequest | null> {
    const r = await this.signed('/api/v0/gateway/myJob', { timestamp: new Date().toISOString() });
    if (r.status !== 200 || !r.body?.success || !r.body.job) return null;
    const job = r.body.job;
    for (const f of ['owner', 'permlink', 'input_cid', 'webhook_url', 'api_key']) {
      if (job[f] == null || job[f] === '') return null;
    }
    if (typeof job.short !== 'boolean') return null;
    return job as unknown as EmbedJobRequest;
  }

  progress(job: EmbedJobRequest, progress: number, apiKey = job.api_key): Promise<number> {
    return post(`${job.webhook_url.replace(/\/+$/, '')}/progress`, apiKey, {
      owner: job.owner,
      permlink: job.permlink,
      progress: Math.round(progress),
      stage: '480p',
    });
  }

  webhook(job: EmbedJobRequest, body: Record<string, unknown>, apiKey = job.api_key): Promise<number> {
    return post(job.webhook_url, apiKey, {
      owner: job.owner,
      permlink: job.permlink,
      input_cid: job.input_cid,
      job_id: `direct-${Date.now()}`,
      processing_time_seconds: 1,
      encoder_id: this.settings.name ?? 'v2-node',
      timestamp: new Date().toISOString(),
      ...body,
    });
  }

  /**
   * Uploads the output as the client's IPFSService does: the traffic director's hotnode first
   * (`POST <uploadEndpoint>?wrap-with-directory=true`, one part per file named by its relative path),
   * else kubo `add` at THREESPEAK_IPFS_ENDPOINT. Returns the directory CID.
   */
  async upload(): Promise<{ cid: string; via: 'hotnode' | 'supernode' }> {
    if (this.settings.trafficDirectorUrl) {
      const td = await fetch(this.settings.trafficDirectorUrl);
      const body = (await td.json()) as { success?: boolean; data?: { uploadEndpoint?: string } };
      const endpoint = body.success ? body.data?.uploadEndpoint : undefined;
      if (endpoint) {
        const form = new FormData();
        for (const e of await readdir(this.settings.outputDir, { recursive: true, withFileTypes: true })) {
          if (!e.isFile()) continue;
          const abs = join(e.parentPath, e.name);
          form.append(
            'file',
            new Blob([await readFile(abs)]),
            relative(this.settings.outputDir, abs).split(sep).join('/'),
          );
        }
        const res = await fetch(`${endpoint}?wrap-with-directory=true`, { method: 'POST', body: form });
        if (res.ok) return { cid: rootOf(await res.text()), via: 'hotnode' };
      }
    }
    const kubo = await LegacyClient.create(this.settings.ipfsApiUrl);
    return { cid: (await kubo.addDirectory(this.settings.outputDir)).cid, via: 'supernode' };
  }

  /** Runs a job as the client's pipeline does: fetch the source, report progress, add the output, webhook. */
  async run(job: EmbedJobRequest, signal?: AbortSignal): Promise<Reported> {
    const src = await fetch(
      `${this.settings.ipfsGatewayUrl}/ipfs/${job.input_cid}`,
      signal ? { signal } : {},
    );
    const sourceBytes = src.ok ? (await src.arrayBuffer()).byteLength : 0;
    if (!src.ok) {
      const webhookStatus = await this.webhook(job, {
        status: 'failed',
        progress: 0,
        qualities_encoded: [],
        error: `download ${src.status}`,
      });
      return { job, webhookStatus, sourceBytes };
    }
    await this.progress(job, 50);
    signal?.throwIfAborted();
    const { cid, via } = await this.upload();
    signal?.throwIfAborted();
    const webhookStatus = await this.webhook(job, {
      status: 'complete',
      progress: 100,
      manifest_cid: cid,
      video_url: `ipfs://${cid}/manifest.m3u8`,
      qualities_encoded: ['480p'],
    });
    return { job, webhookStatus, sourceBytes, cid, via };
  }
}

/** A kubo `add` answer's wrapping directory hash (the last line without a name). */
function rootOf(ndjson: string): string {
  const lines = ndjson
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { Name?: string; Hash: string });
  const root = lines.filter((l) => !l.Name).pop();
  if (!root) throw new Error('no directory hash in the add answer');
  return root.Hash;
}

async function post(url: string, apiKey: string, body: unknown): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': '3Speak-Encoder/1.0.0',
      'x-api-key': apiKey,
    },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * The v2 client's Direct API (managed mode): `POST /encode` queues the pushed job and runs it with
 * {@link V2Client.run}; `kill()` stops answering and abandons running jobs (a crashed node).
 */
export class DirectApiStandIn {
  readonly received: EmbedJobRequest[] = [];
  readonly reports: Promise<Reported | null>[] = [];
  private readonly abort = new AbortController();
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(
    client: V2Client,
    apiKey: string,
    opts: { delayMs?: number } = {},
  ): Promise<DirectApiStandIn> {
    let self: DirectApiStandIn | undefined;
    const server = createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'GET' && req.url === '/health')
          return send(200, { status: 'healthy', ready: true });
        const key = req.headers['x-api-key'] ?? req.headers.authorization?.replace('Bearer ', '');
        const now = new Date().toISOString();
        if (key !== apiKey)
          return send(401, {
            job_id: '',
            status: 'failed',
            created_at: now,
            error: 'Invalid or missing API key',
          });
        if (req.method !== 'POST' || req.url !== '/encode') return send(404, { error: 'not found' });
        const job = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as EmbedJobRequest;
        const missing = ['owner', 'permlink', 'input_cid', 'webhook_url', 'api_key'].filter(
          (f) => !(job as never)[f],
        );
        if (missing.length)
          return send(400, {
            job_id: '',
            status: 'failed',
            created_at: now,
            error: `Missing required fields: ${missing.join(', ')}`,
          });
        if (typeof job.short !== 'boolean')
          return send(400, {
            job_id: '',
            status: 'failed',
            created_at: now,
            error: 'short field must be true or false',
          });
        self?.received.push(job);
        const signal = self!.abort.signal;
        self?.reports.push(
          (async () => {
            // kill() ends the wait too: a pending timer would keep the test process alive for delayMs.
            if (opts.delayMs) {
              await new Promise<void>((r) => {
                const timer = setTimeout(r, opts.delayMs);
                signal.addEventListener(
                  'abort',
                  () => {
                    clearTimeout(timer);
                    r();
                  },
                  { once: true },
                );
              });
            }
            if (signal.aborted) return null;
            return client.run(job, signal).catch(() => null);
          })(),
        );
        return send(200, {
          job_id: `direct-${Date.now()}`,
          status: 'queued',
          created_at: now,
          message: 'Job submitted successfully',
          progress: 0,
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    self = new DirectApiStandIn(server, `http://127.0.0.1:${port}`);
    return self;
  }

  /** A crashed node: running jobs are abandoned and the port stops answering. */
  async kill(): Promise<void> {
    this.abort.abort();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
