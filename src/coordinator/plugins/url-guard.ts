import { isIP } from 'node:net';
import { ValidationError } from '../../errors.js';
import { isAllowedByPolicy, isForbiddenAddress, type SsrfPolicy, safeSegments } from '../../storage/index.js';
import { UrlForbiddenError } from '../errors.js';

const URL_KEYS = new Set(['url', 'baseUrl', 'endpoint', 'apiUrl', 'publicBaseUrl']);

/**
 * Refuses, at submit time, a job spec whose URLs (source, destination, webhook: every `url`,
 * `baseUrl`, `endpoint`, `apiUrl`, `publicBaseUrl` field) name a loopback, private, link-local or
 * otherwise non-public address literally (`127.0.0.1`, `[::1]`, `169.254.169.254`, `localhost`;
 * the WHATWG URL parser has already turned `2130706433` and `0x7f.1` into dotted quads). Host names
 * are not resolved here: the storage module's guarded agents check every resolved address when
 * connecting (DNS rebinding included). Hosts and ranges the operator allowlisted (`allow`, from
 * `VIDMESH_SSRF_ALLOW`) pass, as they do in the storage module. Throws {@link UrlForbiddenError} (400
 * `url_forbidden`).
 */
export function assertNoPrivateUrlLiterals(spec: unknown, path = '', allow: SsrfPolicy = {}): void {
  if (spec === null || typeof spec !== 'object') return;
  for (const [k, v] of Object.entries(spec as Record<string, unknown>)) {
    const here = path ? `${path}.${k}` : k;
    if (typeof v === 'string' && URL_KEYS.has(k)) {
      let host: string;
      try {
        host = new URL(v).hostname.replace(/^\[|\]$/g, '').toLowerCase();
      } catch {
        continue; // not a URL: the schema already judged its shape
      }
      const local = host === 'localhost' || host.endsWith('.localhost') || host === '';
      if ((local || (isIP(host) !== 0 && isForbiddenAddress(host))) && !isAllowedByPolicy(host, allow)) {
        throw new UrlForbiddenError(`${here}: URLs may not point at private or loopback addresses`, {
          details: { field: here },
        });
      }
    } else if (typeof v === 'object') {
      assertNoPrivateUrlLiterals(v, here, allow);
    }
  }
}

/**
 * Refuses NUL characters anywhere in a request value (PostgreSQL text and jsonb cannot hold them, and
 * they cut C strings short downstream) and destination `prefix`es that could leave their folder or
 * bucket prefix (`..`, absolute, backslash, control characters, percent-encoded forms: storage
 * `safeSegments`). Throws `ValidationError` (400) or the storage module's `UnsafePathError` (400).
 */
export function assertSafeSpecStrings(spec: unknown): void {
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > 32) return;
    if (typeof v === 'string') {
      if (v.includes('\u0000'))
        throw new ValidationError(`${path || 'body'}: NUL characters are not allowed`);
      // URL parsers drop CR/LF/TAB silently; refuse them so a stored URL is the URL that is used.
      if (URL_KEYS.has(path.split('.').pop() ?? '') && /[\u0000-\u001f\u007f]/.test(v)) {
        throw new ValidationError(`${path}: control characters are not allowed in URLs`);
      }
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (k.includes('\u0000'))
          throw new ValidationError(`${path || 'body'}: NUL characters are not allowed`);
        walk(x, path ? `${path}.${k}` : k, depth + 1);
      }
    }
  };
  walk(spec, '', 0);
  const s = spec as { destination?: unknown; outputs?: unknown } | null;
  // The job's destination and each output's (docs/outputs.md).
  const dests = [s?.destination, ...(Array.isArray(s?.outputs) ? s.outputs.map((o) => o?.destination) : [])];
  for (const dest of dests as Array<{ prefix?: unknown } | undefined>) {
    if (typeof dest?.prefix === 'string') {
      const trimmed = dest.prefix.replace(/^\/+|\/+$/g, '');
      if (trimmed !== '') safeSegments(trimmed);
    }
  }
}
