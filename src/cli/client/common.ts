import type { Command } from 'commander';
import { loadConfig, readClientFile, resolveClientTarget } from '../../config.js';
import type { JobStreamEvent, JobView } from '../../coordinator/index.js';
import { createClient, type VidmeshClient } from '../../coordinator/index.js';
import { ValidationError } from '../../errors.js';
import { FINAL_STATUSES } from '../../jobs/vocabulary.js';
import { CancelledError } from '../../media/index.js';
import { progressBar, renditionTable } from '../table.js';
import { profilesPath, readProfiles } from './profiles.js';

/** Options every client command takes (commander camelCases them). */
export interface ClientFlags {
  url?: string;
  apiKey?: string;
  dataDir?: string;
  profile?: string;
  json?: boolean;
}

/** Adds `--url`, `--api-key`, `--profile`, `--data-dir`, `--json` to a client command. */
export function withClientOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'coordinator URL (env VIDMESH_URL, else <data-dir>/client.json)')
    .option('--api-key <key>', 'API key (env VIDMESH_API_KEY, else <data-dir>/client.json)')
    .option('--profile <name>', 'saved coordinator profile (vidmesh login; env VIDMESH_PROFILE)')
    .option('--data-dir <dir>', 'data dir holding client.json (env VIDMESH_DATA_DIR, default ./.vidmesh)')
    .option('--json', 'machine-readable JSON on stdout');
}

/**
 * The REST client for these flags. The coordinator comes from, first to last: `--url`/`VIDMESH_URL`, the
 * profile named by `--profile`/`VIDMESH_PROFILE` (`vidmesh login`), `<dataDir>/client.json`, the
 * `default` profile, `http://127.0.0.1:8080`. A `--api-key`/`VIDMESH_API_KEY` replaces a saved key.
 */
export function clientFrom(flags: ClientFlags): VidmeshClient {
  const config = loadConfig({ flags: { url: flags.url, apiKey: flags.apiKey, dataDir: flags.dataDir } });
  const target = resolveClientTarget(config);
  if (config.url !== undefined) return createClient(target);
  const named = flags.profile ?? process.env.VIDMESH_PROFILE;
  // The local client.json (a `serve` in this folder) is more specific than the user-wide default profile.
  if (named === undefined && readClientFile(config.dataDir)) return createClient(target);
  const path = profilesPath();
  const profile = readProfiles(path)[named ?? 'default'];
  if (!profile) {
    if (named === undefined) return createClient(target);
    throw new ValidationError(`no profile ${named} in ${path}: run vidmesh login URL --profile ${named}`);
  }
  return createClient({
    url: profile.url,
    apiKey: config.apiKey ?? profile.apiKey,
    origin: `profile ${named ?? 'default'} (${path})`,
  });
}

/** Prints `value` as JSON (with `--json`) or the human text. */
export function output(flags: ClientFlags, value: unknown, human: () => string): void {
  process.stdout.write(flags.json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n');
}

/** One line summarising a job: id, status/stage, progress, result URL or error. */
export function jobLine(job: JobView): string {
  const stage = job.status === 'running' && job.stage ? `/${job.stage}` : '';
  const tail = job.result?.masterUrl ?? (job.error ? `${job.error.code}: ${job.error.message}` : '');
  const title = job.metadata.title ? `${job.metadata.title}  ` : '';
  return `${job.id}  ${(job.status + stage).padEnd(20)} ${job.progress.toFixed(0).padStart(3)}%  ${title}${tail}`;
}

/** Multi-line detail of a job for `jobs get` and the end of `submit --wait`. */
export function jobDetail(job: JobView): string {
  const lines = [
    `job        ${job.id}`,
    ...(job.metadata.title ? [`title      ${job.metadata.title}`] : []),
    `status     ${job.status}${job.stage ? ` (${job.stage})` : ''}  ${job.progress.toFixed(1)}%` +
      (job.etaS != null ? `  ETA ${Math.round(job.etaS)} s` : ''),
    `queue      ${job.queue} / ${job.priority}   attempts ${job.attempts}/${job.maxAttempts}`,
    `encoder    ${job.encoderId ?? '-'}`,
    `source     ${job.source.type}   destination ${job.destination.type}`,
    `created    ${job.createdAt}${job.finishedAt ? `   finished ${job.finishedAt}` : ''}`,
  ];
  // A skipped rendition will never be produced: a percentage would suggest it is waiting.
  for (const r of job.renditions)
    lines.push(
      `  ${r.name.padEnd(8)} ${r.status.padEnd(10)} ${r.status === 'skipped' ? '' : `${r.progress.toFixed(0)}%`}`.trimEnd(),
    );
  if (job.error) lines.push(`error      ${job.error.code}: ${job.error.message}`);
  if (job.result) lines.push(`master     ${job.result.masterUrl}`);
  return lines.join('\n');
}

const TERMINAL = new Set<string>(FINAL_STATUSES);

/** How {@link followJob} reports: `human` a bar (TTY) or stage lines on stderr, `jsonl` one event per stdout line, `none` nothing. */
export type FollowOutput = 'human' | 'jsonl' | 'none';

/**
 * The `--wait` progress line of a job view, as `vidmesh encode` draws it: percent, stage, fps and
 * × realtime while it runs (what the encoder last reported), ETA.
 */
export function followBar(j: JobView): string {
  const running = j.status === 'running';
  return progressBar({
    percent: j.progress,
    label: running && j.stage ? j.stage : j.status,
    etaS: running ? j.etaS : null,
    // An older coordinator's views have no fps: absent and null alike mean "not reported".
    ...(running && typeof j.fps === 'number' ? { fps: j.fps } : {}),
    ...(running && typeof j.speed === 'number' ? { speed: j.speed } : {}),
  });
}

/**
 * Follows a job's SSE stream until it ends. `human`: a progress bar on stderr when it is a TTY (the same
 * line as `vidmesh encode`), one line per stage/status change otherwise; `jsonl`: every event as one JSON
 * line `{type, job, from?, to?}` on stdout (`--json --follow`). Resolves with the final job view. If the
 * stream breaks (coordinator restart), it reconnects after a second; the snapshot event re-synchronises.
 * Ctrl-C stops following, not the job: it throws a `cancelled` error (exit 130) saying how to follow or
 * cancel the job that keeps running.
 */
export async function followJob(
  client: VidmeshClient,
  jobId: string,
  options: { output?: FollowOutput } = {},
): Promise<JobView> {
  const mode = options.output ?? 'human';
  const tty = process.stderr.isTTY === true && mode === 'human';
  let last = '';
  let job: JobView | undefined;
  const render = (ev: JobStreamEvent) => {
    const j = ev.job;
    if (mode === 'jsonl') process.stdout.write(`${JSON.stringify(ev)}\n`);
    if (mode !== 'human') return;
    const label = j.status === 'running' && j.stage ? j.stage : j.status;
    if (tty) {
      process.stderr.write(`${followBar(j)}  `);
    } else if (label !== last) {
      process.stderr.write(`${jobId}: ${label}\n`);
    }
    last = label;
  };
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort();
  process.once('SIGINT', onSigint);
  const interrupted = (): CancelledError => {
    if (tty) process.stderr.write('\n');
    return new CancelledError(
      `interrupted: job ${jobId} keeps running on ${client.url}\n` +
        `  follow it: vidmesh jobs get ${jobId} --follow\n` +
        `  cancel it: vidmesh jobs cancel ${jobId}`,
    );
  };
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const ev of client.followJob(jobId, { signal: interrupt.signal })) {
          job = ev.job;
          render(ev);
          if (ev.type === 'end' || TERMINAL.has(job.status)) {
            if (tty) process.stderr.write('\n');
            return job;
          }
        }
      } catch (err) {
        if (interrupt.signal.aborted) throw interrupted();
        if (attempt >= 30) throw err;
      }
      if (interrupt.signal.aborted) throw interrupted();
      await new Promise((r) => setTimeout(r, 1000));
      // The stream ended without a terminal state: look once, then resume following.
      job = await client.getJob(jobId).catch(() => job);
      if (job && TERMINAL.has(job.status)) return job;
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/**
 * The end of `submit --wait` for a completed job: the rendition table (resolution, size, average and
 * peak bitrate) and the master playlist URL; other outcomes get the job detail.
 */
export function jobSummary(job: JobView): string {
  if (!job.result) return jobDetail(job);
  const enc = job.result.encode;
  const lines = renditionTable(job.result.renditions);
  lines.push('', `master: ${job.result.masterUrl}`);
  if (enc?.wallS !== undefined && enc.speed !== undefined)
    lines.push(
      `backend: ${enc.backend ?? '-'}; encoded in ${enc.wallS.toFixed(1)} s (${enc.speed.toFixed(2)}x realtime)`,
    );
  return lines.join('\n');
}
