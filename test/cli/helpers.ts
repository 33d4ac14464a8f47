import { execFile } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

/** The built CLI entry point the CLI tests run. */
export const CLI_MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/**
 * Runs the built CLI. Asynchronous (not execFileSync): the stand-in coordinators of these tests run in
 * the test's own process and must answer meanwhile. `env` replaces the environment (PATH is kept).
 */
export function runCli(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_MAIN, ...args],
      {
        cwd: options.cwd,
        env: { PATH: process.env.PATH ?? '', ...options.env },
        encoding: 'utf8',
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Answers 401 `unauthorized` as a coordinator does (RFC 9457 problem), with `detail`. */
export function sendUnauthorized(res: ServerResponse, detail: string): void {
  res.writeHead(401, { 'content-type': 'application/problem+json' });
  res.end(
    JSON.stringify({ type: 'urn:x', title: 'Unauthorized', status: 401, code: 'unauthorized', detail }),
  );
}
