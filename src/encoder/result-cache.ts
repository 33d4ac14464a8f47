import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { completionResultSchema } from '../protocol/result.js';
import type { CompletionResult } from './transport.js';

/**
 * One finished job whose completion the coordinator has not acknowledged yet (the 3Speak "smart
 * retry"): its outputs are published, so the report is retried, never the encode.
 */
export interface CachedResult {
  jobId: string;
  /** The encoder id that held the lease (the coordinator checks the holder, not only the token). */
  encoderId: string;
  leaseToken: string;
  result: CompletionResult;
  /** ISO 8601 time the outputs were published. */
  finishedAt: string;
  /** ISO 8601 end of the lease as last renewed: until then the report is retried fast. */
  leaseExpiresAt?: string;
}

// Job ids become file names: refuse anything that could leave the folder.
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Completion reports kept on disk under `<dataDir>/encoder/results/<jobId>.json`, written atomically
 * (temp file + rename) so a crash never leaves half a report.
 */
export class ResultCache {
  constructor(readonly dir: string) {}

  /** Stores (or replaces) the report of `entry.jobId`. */
  async put(entry: CachedResult): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.${entry.jobId}.${randomUUID()}.tmp`);
    await writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
    await rename(tmp, this.file(entry.jobId));
  }

  /** Deletes a report once the coordinator acknowledged it. */
  async delete(jobId: string): Promise<void> {
    await rm(this.file(jobId), { force: true });
  }

  /** Every stored report; unreadable files are skipped (and returned in `corrupt` for logging). */
  async list(): Promise<{ entries: CachedResult[]; corrupt: string[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], corrupt: [] };
      throw err;
    }
    const entries: CachedResult[] = [];
    const corrupt: string[] = [];
    for (const name of names.sort()) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        const entry = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as CachedResult;
        if (typeof entry.jobId !== 'string' || typeof entry.leaseToken !== 'string') throw new Error('shape');
        // A report the coordinator would refuse is as good as corrupt: retrying it forever helps no one.
        entries.push({ ...entry, result: completionResultSchema.parse(entry.result) });
      } catch {
        corrupt.push(name);
      }
    }
    return { entries, corrupt };
  }

  private file(jobId: string): string {
    if (!SAFE_ID.test(jobId)) throw new Error(`result cache: unsafe job id ${JSON.stringify(jobId)}`);
    return join(this.dir, `${jobId}.json`);
  }
}
