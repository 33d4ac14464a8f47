import { type Logger, pino } from 'pino';
import { build as prettyStream } from 'pino-pretty';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out on every line, wherever they appear in a logged object: credentials in job
 * specs, auth headers, keys and webhook secrets. Keep in step with the redaction of API responses.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  '*.secret',
  '*.password',
  '*.secretAccessKey',
  '*.accessKeyId',
  '*.sessionToken',
  '*.apiKey',
  '*.api_key',
  '*.privateKey',
  '*.token',
  '*.credentials',
  '*.*.secret',
  '*.*.password',
  '*.*.secretAccessKey',
  '*.*.credentials',
];

/**
 * Creates the process logger on stderr (stdout stays free for `--json` output), level from `LOG_LEVEL`
 * (default `info`; `silent` turns it off). Format (`VIDMESH_LOG_FORMAT`): `auto` = pino-pretty lines
 * for a person when stderr is a terminal, JSON lines for log collectors otherwise.
 */
export function createLogger(
  options: { level?: string; name?: string; format?: 'auto' | 'json' | 'pretty' } = {},
): Logger {
  const format =
    options.format ?? (process.env.VIDMESH_LOG_FORMAT as 'json' | 'pretty' | undefined) ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  return pino(
    {
      name: options.name ?? 'vidmesh',
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    // In-process and synchronous (no worker thread): the last lines before an exit are not lost.
    pretty
      ? prettyStream({ destination: 2, sync: true, colorize: process.stderr.isTTY === true })
      : pino.destination(2),
  );
}
