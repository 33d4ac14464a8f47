import type { StoreContext } from './context.js';
import { jobNotFound } from './context.js';
import * as Q from './sql.js';
import type { JobStore } from './store.js';

/** Longest log line stored, characters; longer lines are cut (ffmpeg progress lines are short). */
export const MAX_LOG_LINE_CHARS = 4096;

/** Per-job log lines (pipeline and ffmpeg stderr), appended by the lease holder, trimmed to limits. */
export type JobLogs = Pick<JobStore, 'appendLogs' | 'getLogs'>;

export function createLogs(ctx: StoreContext): JobLogs {
  const { db, clock, logLimits } = ctx;
  return {
    async appendLogs(jobId, token, encoderId, lines) {
      const items = lines.map((l) =>
        typeof l === 'string'
          ? { stream: 'pipeline', line: l.slice(0, MAX_LOG_LINE_CHARS) }
          : { stream: (l.stream ?? 'pipeline').slice(0, 32), line: l.line.slice(0, MAX_LOG_LINE_CHARS) },
      );
      if (items.length === 0) {
        const { rows } = await db.query<{ log_seq: number }>(Q.LOG_SEQ, [jobId]);
        if (!rows[0]) throw jobNotFound(jobId);
        return Number(rows[0].log_seq);
      }
      const seq = await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ log_seq: number }>(Q.APPEND_LOGS, [
          jobId,
          token,
          encoderId,
          clock(),
          JSON.stringify(items),
        ]);
        if (!rows[0]) return null;
        await tx.query(Q.TRIM_LOGS, [jobId, logLimits.lines, logLimits.bytes]);
        return Number(rows[0].log_seq);
      });
      if (seq === null) throw await ctx.leaseError(jobId, token, encoderId);
      return seq;
    },

    async getLogs(jobId, opts = {}) {
      const limit = Math.min(Math.max(Math.floor(opts.limit ?? 500), 1), 5000);
      const { rows } = await db.query<{ seq: number; stream: string; line: string; at: Date }>(Q.GET_LOGS, [
        jobId,
        opts.afterSeq ?? 0,
        limit,
      ]);
      return rows.map((r) => ({ seq: Number(r.seq), stream: r.stream, line: r.line, at: new Date(r.at) }));
    },
  };
}
