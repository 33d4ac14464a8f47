export { canonicalJson } from './canonical.js';

/** base64url without padding (RFC 4648 §5, as JWS uses it: RFC 7515 §2). */
export function b64url(bytes: Uint8Array | string): string {
  return Buffer.from(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes).toString('base64url');
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Decodes strict unpadded base64url; `undefined` for any other character (Node's decoder is lenient). */
export function fromB64url(text: string): Buffer | undefined {
  if (!B64URL.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64url');
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes standard base64 (RFC 4648 §4), padding optional, tolerating surrounding whitespace;
 * `undefined` for any other character or an impossible length (Node's own decoder skips garbage).
 */
export function fromB64(text: string): Buffer | undefined {
  const t = text.trim();
  if (!B64.test(t)) return undefined;
  const bare = t.replace(/=+$/, '');
  if (bare.length % 4 === 1 || (t.length !== bare.length && t.length % 4 !== 0)) return undefined;
  return Buffer.from(bare, 'base64');
}
