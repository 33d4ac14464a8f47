import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { FINAL_STATUSES, type JobStatus, type JobStore } from '../../jobs/index.js';
import { openEventStream } from '../sse.js';
import { visibleJob } from './jobs.js';

export interface LogStreamRouteOptions {
  store: JobStore;
  /** How often the stream reads new lines, milliseconds (default 500). */
  pollMs?: number;
}

const FINAL = new Set<JobStatus>(FINAL_STATUSES);

/**
 * `GET /jobs/:id/logs/stream`: a job's log as Server-Sent Events (WHATWG HTML, "Server-sent events").
 * Each line is `id: <seq>`, `event: log`, `data: {seq, stream, line, at}`; after the job is final and
 * every line was sent, `event: end` with `{status}` and the stream closes. Resumes after `afterSeq`
 * (query) or the `Last-Event-ID` header that EventSource sends on reconnect. Lines are read from the
 * job store every `pollMs` (log appends send no notification), bounded per read.
 */
export const logStreamRoutes: FastifyPluginAsyncZod<LogStreamRouteOptions> = async (app, opts) => {
  const { store } = opts;
  const pollMs = opts.pollMs ?? 500;
  app.get(
    '/jobs/:id/logs/stream',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'streamJobLogs',
        summary: 'Live tail of a job log (Server-Sent Events: `log` per line, `end` once the job is final)',
        tags: ['jobs'],
        params: z.object({ id: z.string().min(1).max(64) }),
        querystring: z.object({ afterSeq: z.coerce.number().int().min(0).optional() }),
      },
    },
    async (req, reply) => {
      const job = await visibleJob(store, req.params.id, req.principal?.tenant);
      const lastId = Number(req.headers['last-event-id']);
      let after = Number.isInteger(lastId) && lastId >= 0 ? lastId : (req.query.afterSeq ?? 0);
      const stream = openEventStream(req, reply);
      let timer: NodeJS.Timeout | undefined;
      stream.onClose(() => clearTimeout(timer));
      const tick = async () => {
        try {
          // Read the status first: lines appended before a final status are all read below.
          const { status } = await store.get(job.id);
          for (;;) {
            const lines = await store.getLogs(job.id, { afterSeq: after, limit: 1000 });
            for (const l of lines) {
              if (stream.closed) return;
              stream.send(
                'log',
                { seq: l.seq, stream: l.stream, line: l.line, at: l.at.toISOString() },
                l.seq,
              );
              after = l.seq;
            }
            if (lines.length < 1000) break;
          }
          if (FINAL.has(status)) {
            stream.send('end', { status });
            stream.close();
            return;
          }
          stream.comment('keep-alive');
        } catch (err) {
          req.log.warn({ err, jobId: job.id }, 'log stream read failed');
        }
        if (!stream.closed) timer = setTimeout(tick, pollMs);
      };
      await tick();
    },
  );
};
