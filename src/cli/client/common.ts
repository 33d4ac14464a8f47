import type { Command } from 'commander';
import { loadConfig, resolveClientTarget } from '../../config.js';
import type { JobView } from '../../coordinator/index.js';
import { createClient, type VidmeshClient } from '../../coordinator/index.js';

/** Options every client command takes (commander camelCases them). */
export interface ClientFlags {
  url?: string;
  apiKey?: string;
  dataDir?: string;
  json?: boolean;
}

/** Adds `--url`, `--api-key`, `--data-dir`, `--json` to a client command. */
export function withClientOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'coordinator URL (env VIDMESH_URL, else <data-dir>/client.json)')
    .option('--api-key <key>', 'API key (env VIDMESH_API_KEY, else <data-dir>/client.json)')
    .option('--data-dir <dir>', 'data dir holding client.json (env VIDMESH_DATA_DIR, default ./.vidmesh)')
    .option('--json', 'machine-readable JSON on stdout');
}

/** The REST client for these flags: flags, then env, then `<dataDir>/client.json` (src/config.ts). */
export function clientFrom(flags: ClientFlags): VidmeshClient {
  const config = loadConfig({ flags: { url: flags.url, apiKey: flags.apiKey, dataDir: flags.dataDir } });
  return createClient(resolveClientTarget(config));
}

/** Prints `value` as JSON (with `--json`) or the human text. */
export function output(flags: ClientFlags, value: unknown, human: () => string): void {
  process.stdout.write(flags.json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n');
}

/** One line summarising a job: id, status/stage, progress, result URL or error. */
export function jobLine(job: JobView): string {
  const stage = job.status === 'running' && job.stage ? `/${job.stage}` : '';
  const tail = job.result?.masterUrl ?? (job.error ? `${job.error.code}: ${job.error.message}` : '');
  return `${job.id}  ${(job.status + stage).padEnd(20)} ${job.progress.toFixed(0).padStart(3)}%  ${tail}`;
}

/** Multi-line detail of a job for `jobs get` and the end of `submit --wait`. */
export function jobDetail(job: JobView): string {
  const lines = [
    `job        ${job.id}`,
    `status     ${job.status}${job.stage ? ` (${job.stage})` : ''}  ${job.progress.toFixed(1)}%` +
      (job.etaS != null ? `  ETA ${Math.round(job.etaS)} s` : ''),
    `queue      ${job.queue} / ${job.priority}   attempts ${job.attempts}/${job.maxAttempts}`,
    `encoder    ${job.encoderId ?? '-'}`,
    `source     ${job.source.type}   destination ${job.destination.type}`,
    `created    ${job.createdAt}${job.finishedAt ? `   finished ${job.finishedAt}` : ''}`,
  ];
  for (const r of job.renditions)
    lines.push(`  ${r.name.padEnd(8)} ${r.status.padEnd(10)} ${r.progress.toFixed(0)}%`);
  if (job.error) lines.push(`error      ${job.error.code}: ${job.error.message}`);
  if (job.result) lines.push(`master     ${job.result.masterUrl}`);
  return lines.join('\n');
}

const TERMINAL = new Set(['completed', 'dead', 'cancelled']);

/**
 * Follows a job's SSE stream until it ends: a progress bar on stderr when it is a TTY, one line per
 * stage/status change otherwise. Resolves with the final job view. If the stream breaks (coordinator
 * restart), it reconnects after a second; the snapshot event re-synchronises the state.
 */
export async function followJob(
  client: VidmeshClient,
  jobId: string,
  options: { quiet?: boolean } = {},
): Promise<JobView> {
  const tty = process.stderr.isTTY === true && !options.quiet;
  let last = '';
  let job: JobView | undefined;
  const render = (j: JobView) => {
    if (options.quiet) return;
    const label = j.status === 'running' && j.stage ? j.stage : j.status;
    if (tty) {
      const width = 30;
      const filled = Math.round((Math.min(100, Math.max(0, j.progress)) / 100) * width);
      const eta = j.etaS != null && j.status === 'running' ? `  ETA ${Math.round(j.etaS)} s` : '';
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${j.progress.toFixed(0).padStart(3)}%  ${label.padEnd(12)}${eta}   `,
      );
    } else if (label !== last) {
      process.stderr.write(`${jobId}: ${label}\n`);
    }
    last = label;
  };
  for (let attempt = 0; ; attempt++) {
    try {
      for await (const ev of client.followJob(jobId)) {
        job = ev.job;
        render(job);
        if (ev.type === 'end' || TERMINAL.has(job.status)) {
          if (tty) process.stderr.write('\n');
          return job;
        }
      }
    } catch (err) {
      if (attempt >= 30) throw err;
    }
    await new Promise((r) => setTimeout(r, 1000));
    // The stream ended without a terminal state: look once, then resume following.
    job = await client.getJob(jobId).catch(() => job);
    if (job && TERMINAL.has(job.status)) return job;
  }
}
