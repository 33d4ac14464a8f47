// Child processes and polling for the integration tests that run `vidmesh` as separate processes:
// the CLI's argv, waiting with a deadline, free ports, and cleanup of children and their ffmpeg.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Node argv that runs the `vidmesh` CLI as the test itself runs: the built `dist/src/cli/main.js`
 * when the test is compiled, else `src/cli/main.ts` through tsx.
 */
export function cliArgs(compiled = import.meta.url.endsWith('.js')): string[] {
  return compiled
    ? [join(packageRoot(), 'dist', 'src', 'cli', 'main.js')]
    : ['--import', 'tsx', join(packageRoot(), 'src', 'cli', 'main.ts')];
}

/**
 * Node argv of a `vidmesh encoder` for a test: software encoding only (`--hwaccel none`, so a test
 * never depends on the machine's GPU), its data under `dataDir`. It reaches the coordinator(s) at
 * `coordinator` (`URL[,URL]`) or, as an infrastructure node, the database at `databaseUrl`; `extra`
 * flags follow. Spawn it with `process.execPath`.
 */
export function encoderArgs(opts: {
  coordinator?: string;
  databaseUrl?: string;
  name?: string;
  dataDir: string;
  extra?: string[];
}): string[] {
  return [
    ...cliArgs(),
    'encoder',
    ...(opts.coordinator !== undefined ? ['--coordinator', opts.coordinator] : []),
    ...(opts.databaseUrl !== undefined ? ['--database-url', opts.databaseUrl] : []),
    ...(opts.name !== undefined ? ['--name', opts.name] : []),
    ...['--data-dir', opts.dataDir, '--hwaccel', 'none'],
    ...(opts.extra ?? []),
  ];
}

/** Polls `fn` every 200 ms until it returns a truthy value (errors count as "not yet"). */
export async function until<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve()
      .then(fn)
      .catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await sleep(200);
  }
}

/** A TCP port free on `host` right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, host, r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** SIGKILLs every child still running and waits until each has exited. */
export async function killChildren(children: Iterable<ChildProcess>): Promise<void> {
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of running) c.kill('SIGKILL');
  await Promise.all(running.map((c) => new Promise((r) => c.once('exit', r))));
}

/**
 * SIGKILLs every process whose command line contains `marker` (a test's own temp folder): the ffmpeg
 * a SIGKILLed encoder leaves behind runs in its own process group and would only waste CPU.
 */
export function killOrphans(marker: string): void {
  for (const line of execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n')) {
    if (!line.includes(marker)) continue;
    try {
      process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
