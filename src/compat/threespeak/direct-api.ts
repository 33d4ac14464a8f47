/**
 * The 3Speak encoder's Direct API (legacy port 3002; Mantequilla-Soft/3speakencoder fdf0111
 * `DirectApiService.ts`, `types/DirectApi.ts`, `WebhookService.ts`): private encoding requests
 * `POST /encode`, `GET /job/:id`, `GET /jobs`, `GET /health`, the key in `X-API-Key` or
 * `Authorization: Bearer`. Jobs run on this node (in memory, FIFO) and end with a webhook in the legacy
 * shape (`manifest_cid`, `video_url: ipfs://CID/manifest.m3u8`, `qualities_encoded` filled in);
 * progress goes to `<webhook_url>/progress`. Webhook URLs pass the SSRF guard.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { CID } from 'multiformats/cid';
import { z } from 'zod';
import { classifyFailure } from '../../encoder/index.js';
import { VidmeshError } from '../../errors.js';
import { assertPublicDestination, type SsrfPolicy } from '../../storage/index.js';
import { type EncodeToKuboOptions, encodeToKubo } from './encoder.js';

/** Missing or wrong Direct API key. */
export class DirectApiUnauthorizedError extends VidmeshError {
  override readonly code: string = 'unauthorized';
  override readonly status: number = 401;
}

const requestSchema = z.object({
  owner: z.string().min(1).max(64),
  permlink: z.string().min(1).max(256),
  input_cid: z
    .string()
    .max(256)
    .refine((c) => {
      try {
        CID.parse(c.replace(/^ipfs:\/\//, '').split('/')[0] ?? '');
        return true;
      } catch {
        return false;
      }
    }, 'input_cid must be an IPFS CID'),
  webhook_url: z
    .string()
    .max(2048)
    .url()
    .refine((u) => /^https?:\/\//i.test(u), 'webhook_url must be http(s)'),
  api_key: z.string().max(512).optional(),
  short: z.boolean().default(false),
  premium: z.boolean().optional(),
  frontend_app: z.string().max(128).optional(),
  originalFilename: z.string().max(512).optional(),
  duration: z.number().nonnegative().optional(),
});
export type DirectJobRequest = z.output<typeof requestSchema>;

type DirectStatus = 'queued' | 'running' | 'uploading' | 'complete' | 'failed';

interface DirectJob {
  id: string;
  status: DirectStatus;
  created_at: string;
  updated_at: string;
  started_at?: string;
  request: DirectJobRequest;
  progress: number;
  result?: { manifest_cid: string; video_url: string; qualities_encoded: string[] };
  error?: string;
}

export interface DirectApiOptions extends EncodeToKuboOptions {
  /** `DIRECT_API_KEY`, at least 16 characters. */
  apiKey: string;
  port: number;
  host?: string;
  /** Reported as `encoder_id` in webhooks (the node's DID). */
  encoderId: string;
  /** Working folders of running jobs. */
  workDir: string;
  /** Webhook targets allowed although private (default none). */
  webhookPolicy?: SsrfPolicy;
  /** Minimum interval between progress callbacks, ms (default 5 000). */
  progressIntervalMs?: number;
}

export interface DirectApi {
  readonly url: string;
  readonly app: FastifyInstance;
  /** Stops accepting requests and aborts running encodes. */
  close(): Promise<void>;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function keyOf(req: FastifyRequest): string | undefined {
  const x = req.headers['x-api-key'];
  if (typeof x === 'string') return x;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

function view(job: DirectJob, position?: number) {
  return {
    job_id: job.id,
    status: job.status,
    created_at: job.created_at,
    updated_at: job.updated_at,
    progress: job.progress,
    owner: job.request.owner,
    permlink: job.request.permlink,
    ...(position !== undefined ? { estimated_position: position } : {}),
    ...(job.result ? { result: job.result } : {}),
    ...(job.error ? { error: job.error } : {}),
  };
}

/**
 * Starts the Direct API server (one job at a time). Throws when the key is shorter than 16
 * characters or the port cannot be bound.
 */
export async function startDirectApi(opts: DirectApiOptions): Promise<DirectApi> {
  if (opts.apiKey.length < 16) throw new DirectApiUnauthorizedError('DIRECT_API_KEY must be 16+ characters');
  const expected = digest(opts.apiKey);
  const jobs = new Map<string, DirectJob>();
  const queue: DirectJob[] = [];
  const closing = new AbortController();
  let current: AbortController | undefined;
  let wake: (() => void) | undefined;

  async function post(
    url: string,
    body: unknown,
    apiKey: string | undefined,
    attempts: number,
  ): Promise<void> {
    for (let i = 1; i <= attempts; i++) {
      try {
        await assertPublicDestination(url, opts.webhookPolicy ?? {});
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(apiKey ? { 'x-api-key': apiKey } : {}) },
          body: JSON.stringify(body),
          redirect: 'error',
          signal: AbortSignal.timeout(10_000),
        });
        await res.arrayBuffer();
        if (res.status < 500) return;
      } catch (err) {
        if (err instanceof VidmeshError && err.status < 500) {
          opts.log?.warn({ err: err.message }, 'direct api webhook refused by the SSRF guard');
          return;
        }
      }
      if (i < attempts) await new Promise((r) => setTimeout(r, 500 * 2 ** (i - 1)));
    }
    opts.log?.warn('direct api webhook failed after retries');
  }

  async function runDirectJob(job: DirectJob): Promise<void> {
    const abort = new AbortController();
    current = abort;
    const started = Date.now();
    job.status = 'running';
    job.started_at = new Date().toISOString();
    job.updated_at = job.started_at;
    const r = job.request;
    const work = await mkdtemp(join(opts.workDir, 'direct-'));
    let last = 0;
    const onProgress = (pct: number) => {
      job.progress = Math.round(pct);
      job.updated_at = new Date().toISOString();
      const now = Date.now();
      if (now - last < (opts.progressIntervalMs ?? 5_000)) return;
      last = now;
      void post(
        `${r.webhook_url.replace(/\/+$/, '')}/progress`,
        { owner: r.owner, permlink: r.permlink, progress: job.progress, stage: 'encoding' },
        r.api_key,
        1,
      );
    };
    const base = {
      owner: r.owner,
      permlink: r.permlink,
      input_cid: r.input_cid,
      job_id: job.id,
      encoder_id: opts.encoderId,
      ...(r.frontend_app ? { frontend_app: r.frontend_app } : {}),
      ...(r.originalFilename ? { originalFilename: r.originalFilename } : {}),
    };
    try {
      const uri = r.input_cid.startsWith('ipfs://') ? r.input_cid : `ipfs://${r.input_cid}`;
      // Legacy semantics: premium (and not short) gets 1080p/720p/480p, everyone else 480p.
      const out = await encodeToKubo(opts, {
        uri,
        short: r.short,
        full: r.premium === true && !r.short,
        work,
        signal: abort.signal,
        onProgress,
      });
      job.status = 'complete';
      job.progress = 100;
      job.result = {
        manifest_cid: out.cid,
        video_url: `ipfs://${out.cid}/manifest.m3u8`,
        qualities_encoded: out.renditions,
      };
      job.updated_at = new Date().toISOString();
      await post(
        r.webhook_url,
        {
          ...base,
          status: 'complete',
          progress: 100,
          ...job.result,
          processing_time_seconds: Math.round((Date.now() - started) / 100) / 10,
          timestamp: job.updated_at,
        },
        r.api_key,
        3,
      );
    } catch (err) {
      const f = classifyFailure(err);
      job.status = 'failed';
      job.error = f.message;
      job.updated_at = new Date().toISOString();
      await post(
        r.webhook_url,
        {
          ...base,
          status: 'failed',
          progress: 0,
          error: f.message,
          qualities_encoded: [],
          processing_time_seconds: Math.round((Date.now() - started) / 100) / 10,
          timestamp: job.updated_at,
        },
        r.api_key,
        3,
      );
    } finally {
      current = undefined;
      await rm(work, { recursive: true, force: true });
    }
  }

  const worker = (async () => {
    await mkdir(opts.workDir, { recursive: true });
    while (!closing.signal.aborted) {
      const next = queue.shift();
      if (!next) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      await runDirectJob(next);
    }
  })();

  const app = Fastify({ bodyLimit: 64 * 1024 });
  app.setErrorHandler(async (err, _req, reply) => {
    const status =
      err instanceof VidmeshError ? err.status : ((err as { statusCode?: number }).statusCode ?? 500);
    await reply.status(status).send({ error: status >= 500 ? 'internal error' : (err as Error).message });
  });
  app.addHook('onRequest', async (req) => {
    if (req.url === '/health') return;
    const given = keyOf(req);
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      throw new DirectApiUnauthorizedError('invalid or missing API key');
    }
  });

  app.get('/health', async () => ({
    status: 'healthy',
    encoder_id: opts.encoderId,
    queued: queue.length,
    running: current ? 1 : 0,
  }));

  app.post('/encode', async (req, reply) => {
    const parsed = requestSchema.safeParse(req.body);
    if (!parsed.success) {
      return reply
        .status(400)
        .send({ error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    }
    const now = new Date().toISOString();
    const job: DirectJob = {
      id: randomUUID(),
      status: 'queued',
      created_at: now,
      updated_at: now,
      request: parsed.data,
      progress: 0,
    };
    jobs.set(job.id, job);
    queue.push(job);
    wake?.();
    return reply.status(201).send({ ...view(job, queue.length), message: 'Job queued for encoding' });
  });

  app.get('/job/:id', async (req, reply) => {
    const job = jobs.get((req.params as { id: string }).id);
    if (!job) return reply.status(404).send({ error: 'job not found' });
    return view(job);
  });

  app.get('/jobs', async () => {
    const list = [...jobs.values()].reverse().slice(0, 100);
    return { jobs: list.map((j) => view(j)), total: jobs.size };
  });

  await app.listen({ port: opts.port, host: opts.host ?? '0.0.0.0' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    url: `http://${opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1'}:${port}`,
    app,
    async close() {
      closing.abort();
      current?.abort();
      wake?.();
      await app.close();
      await worker;
    },
  };
}
