import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { createClient, startCoordinator } from '../coordinator/index.js';
import { VidmeshError } from '../errors.js';
import { createLogger } from '../log.js';
import { CancelledError } from '../media/index.js';
import { followJob, jobSummary } from './client/common.js';
import { withTitle } from './client/submit.js';
import { dashboardLine, untilSignal } from './serve.js';

/** The generated sample could not be made (ffmpeg missing or failing). */
export class SampleGenerationError extends VidmeshError {
  override readonly code: string = 'sample_generation_failed';
}

/** A 10 s 1280x720 sample with sound (ffmpeg lavfi testsrc2 + sine), `ultrafast` to keep it quick. */
export async function generateSample(path: string, seconds = 10): Promise<void> {
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-shortest',
    path,
  ];
  try {
    await promisify(execFile)('ffmpeg', args, { maxBuffer: 1024 * 1024 });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? (err as Error).message);
    throw new SampleGenerationError(`ffmpeg could not generate the sample: ${stderr.slice(-300)}`, {
      cause: err,
    });
  }
}

/**
 * `vidmesh quickstart [file]`: the README's first command. Starts the embedded coordinator (PGlite,
 * local storage, one in-process encoder), submits the given video or a generated 10 s sample, shows
 * progress, prints the master playlist URL, and keeps serving until Ctrl-C (`--exit`: stop after the job).
 */
export function register(program: Command): void {
  program
    .command('quickstart')
    .description(
      'start the embedded coordinator + encoder, encode a video (or a generated sample), print its URL',
    )
    .argument('[file]', 'video to encode (default: a generated 10 s sample)')
    .option('--port <port>', 'HTTP port (env PORT, default 8080)')
    .option('--data-dir <dir>', 'data directory (env VIDMESH_DATA_DIR, default ./.vidmesh)')
    .option('--exit', 'stop once the job has finished (scripts, tests)')
    .option('--json', 'print the finished job as JSON on stdout')
    .action(
      async (
        file: string | undefined,
        flags: { port?: string; dataDir?: string; exit?: boolean; json?: boolean },
      ) => {
        const config = loadConfig({ flags: { port: flags.port, dataDir: flags.dataDir } });
        const log = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
        const server = await startCoordinator({ ...config, encoders: Math.max(1, config.encoders) }, { log });
        let tmp: string | undefined;
        try {
          process.stderr.write(`vidmesh coordinator at ${server.url} (API docs ${server.url}/docs)\n`);
          let input = file;
          if (!input) {
            tmp = await mkdtemp(join(tmpdir(), 'vidmesh-sample-'));
            input = join(tmp, 'sample.mp4');
            process.stderr.write('generating a 10 s sample video (ffmpeg testsrc2 + sine)…\n');
            await generateSample(input);
          }
          const client = createClient({ url: server.url, apiKey: server.apiKey });
          const { source } = await client.upload(input);
          const submitted = await client.submitJob({
            source,
            metadata: { via: 'quickstart', ...withTitle(undefined, basename(input)) },
          });
          process.stderr.write(`submitted job ${submitted.id}\n`);
          const job = await followJob(client, submitted.id, { output: flags.json ? 'none' : 'human' }).catch(
            (err: unknown) => {
              // followJob's hint ("keeps running on …") is for a remote coordinator; this one stops with us.
              throw err instanceof CancelledError
                ? new CancelledError('interrupted: stopping the coordinator')
                : err;
            },
          );
          if (flags.json) process.stdout.write(JSON.stringify({ job }, null, 2) + '\n');
          else process.stdout.write(`${jobSummary(job)}\n`);
          if (job.status !== 'completed') {
            process.exitCode = 1;
            if (!flags.exit)
              process.stderr.write(`job ended ${job.status}; see: vidmesh jobs logs ${job.id}\n`);
          }
          if (!flags.exit) {
            process.stderr.write(`play it in any HLS player; serving until Ctrl-C\n`);
            // Printed last, after the encode: the link is valid for 5 minutes from now.
            if (process.stderr.isTTY) process.stderr.write(dashboardLine(server));
            await untilSignal();
          }
        } finally {
          if (tmp) await rm(tmp, { recursive: true, force: true });
          await server.stop({ graceMs: 2000 });
        }
      },
    );
}
