import { isIP } from 'node:net';
import { isForbiddenAddress } from '../../storage/index.js';
import { UrlForbiddenError } from '../errors.js';

const URL_KEYS = new Set(['url', 'baseUrl', 'endpoint', 'apiUrl', 'publicBaseUrl']);

/**
 * Refuses, at submit time, a job spec whose URLs (source, destination, webhook: every `url`,
 * `baseUrl`, `endpoint`, `apiUrl`, `publicBaseUrl` field) name a loopback, private, link-local or
 * otherwise non-public address literally (`127.0.0.1`, `[::1]`, `169.254.169.254`, `localhost`;
 * the WHATWG URL parser has already turned `2130706433` and `0x7f.1` into dotted quads). Host names
 * are not resolved here: the storage module's guarded agents check every resolved address when
 * connecting (DNS rebinding included). Throws {@link UrlForbiddenError} (400 `url_forbidden`).
 */
export function assertNoPrivateUrlLiterals(spec: unknown, path = ''): void {
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
      if (local || (isIP(host) !== 0 && isForbiddenAddress(host))) {
        throw new UrlForbiddenError(`${here}: URLs may not point at private or loopback addresses`, {
          details: { field: here },
        });
      }
    } else if (typeof v === 'object') {
      assertNoPrivateUrlLiterals(v, here);
    }
  }
}
