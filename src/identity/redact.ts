/**
 * Blanking secret fields of JSON-like values before they leave the server (API responses, logs,
 * events, webhook payloads, error details).
 */

/** What a redacted field reads (the same censor pino uses in src/log.ts). */
export const REDACTED = '[redacted]';

/**
 * Field paths that hold secrets anywhere in a job spec or event, in {@link redact}'s syntax. Kept in
 * step with `REDACT_PATHS` of src/log.ts.
 */
export const DEFAULT_SECRET_PATHS: readonly string[] = [
  '**.secret',
  '**.password',
  '**.secretAccessKey',
  '**.accessKeyId',
  '**.sessionToken',
  '**.apiKey',
  '**.api_key',
  '**.privateKey',
  '**.token',
  '**.credentials',
  '**.authorization',
  '**.webhookSecret',
];

const MAX_DEPTH = 64;

function matches(pattern: readonly string[], path: readonly string[], pi = 0, qi = 0): boolean {
  if (pi === pattern.length) return qi === path.length;
  const seg = pattern[pi];
  if (seg === '**') {
    for (let k = qi; k <= path.length; k++) if (matches(pattern, path, pi + 1, k)) return true;
    return false;
  }
  if (qi === path.length) return false;
  return (seg === '*' || seg === path[qi]) && matches(pattern, path, pi + 1, qi + 1);
}

/**
 * A deep copy of `value` in which every field whose path matches one of `secretPaths` is replaced
 * by `'[redacted]'` (only fields that exist; `null`/absent stay as they are). Paths are dot-separated
 * keys; `*` matches one key or array index, `**` any number (including none): `'destination.credentials'`,
 * `'webhooks.*.secret'`, `'**.password'`. Plain objects and arrays are copied; other objects (Date, …)
 * are kept as they are. Cycles become `'[circular]'` and nesting deeper than 64 becomes `'[too deep]'`,
 * so hostile input cannot exhaust the stack. `value` itself is never modified.
 */
export function redact<T>(value: T, secretPaths: readonly string[] = DEFAULT_SECRET_PATHS): T {
  const patterns = secretPaths.map((p) => p.split('.'));
  const seen = new WeakSet<object>();
  const walk = (node: unknown, path: string[]): unknown => {
    if (node === null || typeof node !== 'object') return node;
    const isArray = Array.isArray(node);
    if (
      !isArray &&
      Object.getPrototypeOf(node) !== Object.prototype &&
      Object.getPrototypeOf(node) !== null
    ) {
      return node;
    }
    if (seen.has(node)) return '[circular]';
    if (path.length >= MAX_DEPTH) return '[too deep]';
    seen.add(node);
    const child = (key: string, v: unknown): unknown => {
      const p = [...path, key];
      if (v !== null && v !== undefined && patterns.some((pat) => matches(pat, p))) return REDACTED;
      return walk(v, p);
    };
    const out = isArray
      ? (node as unknown[]).map((v, i) => child(String(i), v))
      : Object.fromEntries(Object.entries(node).map(([k, v]) => [k, child(k, v)]));
    seen.delete(node);
    return out;
  };
  return walk(value, []) as T;
}
