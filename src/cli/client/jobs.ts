import type { Command } from 'commander';
import { FINAL_STATUSES, isOneOf } from '../../jobs/vocabulary.js';
import {
  type ClientFlags,
  clientFrom,
  followJob,
  jobDetail,
  jobLine,
  output,
  withClientOptions,
} from './common.js';

/** `vidmesh jobs list|get|logs|cancel|retry|history`: the job routes of the REST API. */
export function register(program: Command): void {
  const jobs = program.command('jobs').description('list and manage jobs on a coordinator');

  withClientOptions(
    jobs
      .command('list')
      .description('list jobs, newest first')
      .option('--status <status>', 'only this status (queued, running, completed, dead, …)')
      .option('--queue <queue>', 'only this queue')
      .option('--search <text>', 'only jobs whose id, owner or metadata (e.g. title) contains this')
      .option('--limit <n>', 'page size (max 100)', '20')
      .option('--cursor <cursor>', 'page cursor from a previous listing'),
  ).action(
    async (
      flags: ClientFlags & {
        status?: string;
        queue?: string;
        search?: string;
        limit: string;
        cursor?: string;
      },
    ) => {
      const page = await clientFrom(flags).listJobs({
        status: flags.status,
        queue: flags.queue,
        search: flags.search,
        limit: Number(flags.limit),
        cursor: flags.cursor,
      });
      output(
        flags,
        page,
        () =>
          [
            ...page.jobs.map(jobLine),
            ...(page.nextCursor ? [`more: vidmesh jobs list --cursor ${page.nextCursor}`] : []),
          ].join('\n') || 'no jobs',
      );
    },
  );

  withClientOptions(
    jobs
      .command('get')
      .description('show one job')
      .argument('<id>')
      .option('--follow', 'follow until it ends (with --json: one event per line)'),
  ).action(async (id: string, flags: ClientFlags & { follow?: boolean }) => {
    const client = clientFrom(flags);
    if (flags.follow && flags.json) {
      // JSON lines: the last line (`type: "end"`) already carries the final job.
      await followJob(client, id, { output: 'jsonl' });
      return;
    }
    const job = flags.follow ? await followJob(client, id) : await client.getJob(id);
    output(flags, { job }, () => jobDetail(job));
  });

  withClientOptions(
    jobs
      .command('logs')
      .description("print a job's pipeline and ffmpeg log")
      .argument('<id>')
      .option('--after <seq>', 'only lines after this sequence number')
      .option('--limit <n>', 'at most this many lines', '1000')
      .option('--follow', 'keep printing new lines until the job is final (JSON: one line object per line)'),
  ).action(async (id: string, flags: ClientFlags & { after?: string; limit: string; follow?: boolean }) => {
    if (flags.follow) return followLogs(clientFrom(flags), id, flags);
    const logs = await clientFrom(flags).jobLogs(id, {
      afterSeq: flags.after === undefined ? undefined : Number(flags.after),
      limit: Number(flags.limit),
    });
    output(flags, logs, () => logs.lines.map((l) => `${l.at} [${l.stream}] ${l.line}`).join('\n'));
  });

  withClientOptions(jobs.command('history').description("a job's audit trail").argument('<id>')).action(
    async (id: string, flags: ClientFlags) => {
      const events = await clientFrom(flags).jobHistory(id);
      output(flags, { events }, () =>
        events
          .map(
            (e) => `${e.at}  ${(e.from ?? '-').padEnd(9)} -> ${e.to.padEnd(9)} ${e.actor}  ${e.reason ?? ''}`,
          )
          .join('\n'),
      );
    },
  );

  withClientOptions(jobs.command('cancel').description('cancel a job').argument('<id>')).action(
    async (id: string, flags: ClientFlags) => {
      const job = await clientFrom(flags).cancelJob(id);
      output(flags, { job }, () => jobLine(job));
    },
  );

  withClientOptions(
    jobs
      .command('retry')
      .description('re-queue a dead, failed or cancelled job')
      .argument('<id>')
      .option('--renditions <names>', 'only these renditions, comma-separated'),
  ).action(async (id: string, flags: ClientFlags & { renditions?: string }) => {
    const renditions = flags.renditions
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const job = await clientFrom(flags).retryJob(id, renditions ? { renditions } : {});
    output(flags, { job }, () => jobLine(job));
  });
}

/**
 * `jobs logs --follow`: prints lines as they are appended (read every second after `--after`) until the
 * job is final and its last lines were printed. Human: `at [stream] line`; `--json`: one JSON object per
 * line (NDJSON).
 */
async function followLogs(
  client: ReturnType<typeof clientFrom>,
  id: string,
  flags: ClientFlags & { after?: string },
): Promise<void> {
  let after = flags.after === undefined ? 0 : Number(flags.after);
  for (;;) {
    // Status first: every line appended before a final status is read after it.
    const { status } = await client.getJob(id);
    for (;;) {
      const { lines } = await client.jobLogs(id, { afterSeq: after, limit: 1000 });
      for (const l of lines) {
        process.stdout.write(flags.json ? JSON.stringify(l) + '\n' : `${l.at} [${l.stream}] ${l.line}\n`);
        after = l.seq;
      }
      if (lines.length < 1000) break;
    }
    if (isOneOf(FINAL_STATUSES, status)) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
