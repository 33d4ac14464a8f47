import { createHash, timingSafeEqual } from 'node:crypto';
import fastifyCors from '@fastify/cors';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { registerProblemHandler } from '../coordinator/plugins/problem.js';
import { VidmeshError } from '../errors.js';
import type { AgentStatus, HwAccel } from '../protocol/index.js';

/**
 * The desktop agent's local API (SPK blueprint contract, 127.0.0.1:3002), for the user's web app:
 *
 * | call | body / header | answer |
 * |---|---|---|
 * | `GET /health` | — | `{status: ready\|busy\|offline, version, hwAccel: nvenc\|vaapi\|qsv\|none, jobsInProgress, ipfsConnected}` |
 * | `POST /claim` | `X-Hive-User: <user>` | 200 `{jobId, inputCid, owner, permlink, isShort, qualities}`, 204 none waiting, 409 `agent_busy` |
 * | `POST /progress` | `{jobId}` | `{jobId, status, stage, progress, etaS, speed}` of a job this agent runs or ran |
 * | `POST /complete` | `{jobId}` | `{jobId, status: completed, masterUrl, qualities}` once done; 409 `job_not_finished` |
 * | `POST /fail` | `{jobId, error?}` | stops the encode and reports it failed (retryable); `{jobId, status: failed}` |
 *
 * Every call needs `Authorization: Bearer <pairing token>` (the per-install token the user pastes into
 * the web app); a browser may call only from `allowedOrigin` (CORS preflight answered for it alone, any
 * other `Origin` is 403 `origin_not_allowed`), and the `Host` must be the loopback address the API
 * listens on (a DNS-rebinding page cannot reach it under another name). Errors are RFC 9457 problems.
 */
export interface LocalApiOptions {
  /** The user the agent works for; `X-Hive-User` must name them. */
  user: string;
  /** The web app origin allowed to call from a browser, e.g. `https://app.example.com`. */
  allowedOrigin: string;
  /** The per-install pairing token. */
  token: string;
  control: AgentControl;
}

/** What the local API asks of the agent (src/agent/agent.ts). */
export interface AgentControl {
  health(): Promise<AgentHealth>;
  /** Claims the user's next job and starts encoding it; null when none is waiting. @throws AgentBusyError */
  claim(): Promise<AgentClaim | null>;
  job(jobId: string): AgentJobState | undefined;
  /** Stops a running job and reports it failed; false when it does not run here. */
  fail(jobId: string, message: string): boolean;
}

export interface AgentHealth {
  status: AgentStatus;
  version: string;
  hwAccel: HwAccel;
  jobsInProgress: number;
  ipfsConnected: boolean;
}

export interface AgentClaim {
  jobId: string;
  /** The source's IPFS CID when the source is on IPFS, else null. */
  inputCid: string | null;
  owner: string | null;
  permlink: string | null;
  isShort: boolean;
  qualities: string[];
}

export interface AgentJobState {
  jobId: string;
  status: 'running' | 'completed' | 'failed' | 'aborted';
  stage: 'downloading' | 'encoding' | 'uploading' | null;
  /** Percent of the current stage, 0..100. */
  progress: number;
  etaS: number | null;
  speed: number | null;
  masterUrl: string | null;
  qualities: string[];
  error: string | null;
}

export class AgentBusyError extends VidmeshError {
  override readonly code: string = 'agent_busy';
  override readonly status: number = 409;
}

class LocalApiError extends VidmeshError {
  override readonly code: string;
  override readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

const jobBody = z.object({ jobId: z.string().min(1).max(64) });

/** Builds the local API (not listening); see {@link LocalApiOptions}. */
export async function buildLocalApi(opts: LocalApiOptions): Promise<FastifyInstance> {
  const expected = digest(opts.token);
  const app = Fastify({ bodyLimit: 16 * 1024 }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandler(app);

  // Before CORS: a foreign page gets no CORS headers and no answer it could use.
  app.addHook('onRequest', async (req) => {
    const host = (req.headers.host ?? '').toLowerCase();
    const port = req.socket.localPort;
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      throw new LocalApiError(403, 'host_not_allowed', 'the agent answers only on its loopback address');
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== opts.allowedOrigin) {
      throw new LocalApiError(403, 'origin_not_allowed', `origin ${origin} may not call this agent`);
    }
  });
  await app.register(fastifyCors, {
    origin: opts.allowedOrigin,
    methods: ['GET', 'POST'],
    allowedHeaders: ['authorization', 'content-type', 'x-hive-user'],
    maxAge: 600,
  });
  // Private Network Access (WICG): a public https web app asking for a loopback address sends this in
  // its preflight; only the allowed origin gets past the onRequest hook above to read the yes.
  app.addHook('onSend', async (req, reply) => {
    if (req.method === 'OPTIONS' && req.headers['access-control-request-private-network'] === 'true') {
      reply.header('access-control-allow-private-network', 'true');
    }
  });
  app.addHook('preHandler', async (req) => {
    const m = /^Bearer ([^\s]{1,512})$/.exec(req.headers.authorization ?? '');
    if (!m)
      throw new LocalApiError(401, 'pairing_token_missing', 'Authorization: Bearer <pairing token> required');
    if (!timingSafeEqual(digest(m[1] as string), expected)) {
      throw new LocalApiError(401, 'pairing_token_invalid', 'wrong pairing token');
    }
  });

  app.get('/health', async () => opts.control.health());

  app.post('/claim', async (req, reply) => {
    const user = req.headers['x-hive-user'];
    if (typeof user !== 'string' || user.length === 0) {
      throw new LocalApiError(400, 'hive_user_missing', 'X-Hive-User header required');
    }
    if (user !== opts.user) {
      throw new LocalApiError(403, 'wrong_user', 'this agent works for another user');
    }
    const claim = await opts.control.claim();
    if (!claim) return reply.status(204).send();
    return claim;
  });

  const known = (jobId: string) => {
    const job = opts.control.job(jobId);
    if (!job) throw new LocalApiError(404, 'job_not_found', `job ${jobId} is not one this agent ran`);
    return job;
  };

  app.post('/progress', { schema: { body: jobBody } }, async (req) => {
    const j = known(req.body.jobId);
    return {
      jobId: j.jobId,
      status: j.status,
      stage: j.stage,
      progress: j.progress,
      etaS: j.etaS,
      speed: j.speed,
    };
  });

  app.post('/complete', { schema: { body: jobBody } }, async (req) => {
    const j = known(req.body.jobId);
    if (j.status !== 'completed') {
      throw new LocalApiError(409, 'job_not_finished', `job ${j.jobId} is ${j.status}`);
    }
    return { jobId: j.jobId, status: j.status, masterUrl: j.masterUrl, qualities: j.qualities };
  });

  app.post(
    '/fail',
    { schema: { body: jobBody.extend({ error: z.string().max(500).optional() }) } },
    async (req) => {
      known(req.body.jobId);
      if (!opts.control.fail(req.body.jobId, req.body.error ?? 'stopped by the user')) {
        throw new LocalApiError(409, 'job_not_running', `job ${req.body.jobId} is not running`);
      }
      return { jobId: req.body.jobId, status: 'failed' as const };
    },
  );

  return app;
}
