import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { fetchSource, type SourceRef, type StorageContext } from '../storage/index.js';

/**
 * The coordinator side of lease-bound source reads (`GET /api/v1/agent/jobs/:jobId/source`): an
 * encoder that may not hold a job's credentials reads the source through the coordinator, which
 * fetches it with the opened spec (storage's `fetchSource`: SSRF guard, size limit, retries) into
 * `<dir>/<jobId>/source` once, and streams that file to the encoder while it is still arriving, so a
 * slow source never leaves the encoder waiting on headers. One fetch per job however many readers.
 */
export interface SourceRelay {
  /**
   * A stream of the job's source from byte `offset` (0: whole file). `total` is known once the fetch
   * finished (then the stream is the rest of a complete file). Starts the fetch on first use.
   * @throws the storage module's errors when the fetch fails before any byte was read.
   */
  open(
    jobId: string,
    source: SourceRef,
    offset: number,
    signal: AbortSignal,
  ): Promise<{ stream: Readable; total?: number }>;
  /**
   * The job's source as a whole file on the coordinator (verification reads it): fetched once, shared
   * with readers of {@link open}. @throws the storage module's errors when the fetch fails.
   */
  localPath(jobId: string, source: SourceRef): Promise<string>;
  /** Drops a job's cached source (job finished). */
  drop(jobId: string): Promise<void>;
}

interface Entry {
  path: string;
  done: boolean;
  size?: number;
  error?: unknown;
  fetched: Promise<void>;
}

export function createSourceRelay(options: {
  dir: string;
  storage: () => StorageContext;
  log?: Logger;
  /** ms between looks at a growing file while its fetch runs (default 100). */
  pollMs?: number;
}): SourceRelay {
  const entries = new Map<string, Entry>();
  const pollMs = options.pollMs ?? 100;

  const start = (jobId: string, source: SourceRef): Entry => {
    const existing = entries.get(jobId);
    if (existing && !existing.error) return existing;
    const path = join(options.dir, jobId, 'source');
    const e: Entry = { path, done: false, fetched: Promise.resolve() };
    e.fetched = fetchSource(source, path, options.storage()).then(
      (f) => {
        e.done = true;
        e.size = f.bytes;
      },
      (err: unknown) => {
        e.error = err;
        options.log?.warn({ err, jobId }, 'source relay: fetch failed');
      },
    );
    entries.set(jobId, e);
    return e;
  };

  async function* follow(entry: Entry, offset: number, signal: AbortSignal): AsyncGenerator<Buffer> {
    let pos = offset;
    // The file appears once the fetch created it; until then there is nothing to read.
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    try {
      for (;;) {
        if (signal.aborted) return;
        if (!fh) fh = await open(entry.path, 'r').catch(() => undefined);
        if (fh) {
          const buf = Buffer.allocUnsafe(256 * 1024);
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead > 0) {
            pos += bytesRead;
            yield buf.subarray(0, bytesRead);
            continue;
          }
        }
        // Read `done` before concluding: bytes written just before it flipped are read on the next turn.
        if (entry.error) throw entry.error;
        if (entry.done && fh && pos >= (entry.size ?? pos)) return;
        await Promise.race([entry.fetched, sleep(pollMs)]);
      }
    } finally {
      await fh?.close();
    }
  }

  return {
    async open(jobId, source, offset, signal) {
      const entry = start(jobId, source);
      // A fetch that fails at once (404, SSRF refusal) is the caller's error, not a truncated stream.
      await Promise.race([entry.fetched, sleep(50)]);
      if (entry.error) {
        entries.delete(jobId);
        throw entry.error;
      }
      const from = entry.done && offset > 0 && offset <= (entry.size ?? 0) ? offset : 0;
      return {
        stream: Readable.from(follow(entry, from, signal)),
        ...(entry.done ? { total: entry.size } : {}),
      };
    },
    async localPath(jobId, source) {
      const entry = start(jobId, source);
      await entry.fetched;
      if (entry.error) {
        entries.delete(jobId);
        throw entry.error;
      }
      return entry.path;
    },
    async drop(jobId) {
      entries.delete(jobId);
      await rm(join(options.dir, jobId), { recursive: true, force: true });
    },
  };
}
