import { type Logger, pino } from 'pino';

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
 * Creates the process logger: JSON lines on stderr (stdout stays free for `--json` output),
 * level from `LOG_LEVEL` (default `info`; `silent` turns it off).
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'vidmesh',
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    pino.destination(2),
  );
}
