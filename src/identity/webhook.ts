import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { WebhookSignatureError } from './errors.js';

/**
 * Webhook signatures (the scheme Stripe documents for its `Stripe-Signature` header, under vidmesh's
 * name): header `Vidmesh-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=<hex>…]` where each
 * `v1` is HMAC-SHA256 (RFC 2104, FIPS 180-4) keyed with the endpoint secret's UTF-8 bytes over the
 * bytes of `${t}.` followed by the raw body. Several `v1` values appear while a secret is rotated
 * (one per live secret); a receiver accepts the delivery when any matches any of its secrets.
 */
export const WEBHOOK_SIGNATURE_HEADER = 'Vidmesh-Signature';
/** Default receiver tolerance between `t` and its clock, seconds. */
export const DEFAULT_WEBHOOK_TOLERANCE_S = 300;

/** A new endpoint secret: `whsec_` + base64url of 32 random bytes. */
export function generateWebhookSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64url');
}

function mac(secret: string, timestamp: number, body: string | Uint8Array): Buffer {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${timestamp}.`).update(body).digest();
}

function asList(secrets: string | readonly string[]): readonly string[] {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0 || list.some((s) => s.length === 0))
    throw new TypeError('webhook secret must not be empty');
  return list;
}

/**
 * The `Vidmesh-Signature` header value for `body` (the exact bytes that will be sent) at `now`
 * (default: current time), with one `v1` per secret given (pass old and new while rotating).
 */
export function signWebhook(
  secret: string | readonly string[],
  body: string | Uint8Array,
  now: Date = new Date(),
): string {
  const t = Math.floor(now.getTime() / 1000);
  return [`t=${t}`, ...asList(secret).map((s) => `v1=${mac(s, t, body).toString('hex')}`)].join(',');
}

const MAX_HEADER_LENGTH = 4096;

/**
 * For webhook receivers: checks a `Vidmesh-Signature` header against the raw request body (bytes as
 * received, before any JSON parsing) and the endpoint secret(s). Constant-time comparison of every
 * candidate. Resolves the signed timestamp (unix seconds). Throws {@link WebhookSignatureError} (401):
 * `webhook_signature_malformed`, `webhook_signature_mismatch`, or `webhook_timestamp_out_of_tolerance`
 * when `t` is more than `toleranceS` (default 300) away from `now`.
 */
export function verifyWebhookSignature(
  secret: string | readonly string[],
  header: string | undefined,
  body: string | Uint8Array,
  options: { toleranceS?: number; now?: Date } = {},
): { timestamp: number } {
  const secrets = asList(secret);
  if (header === undefined || header.length === 0 || header.length > MAX_HEADER_LENGTH) {
    throw new WebhookSignatureError('webhook_signature_malformed', 'signature header missing or too long');
  }
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (eq < 0)
      throw new WebhookSignatureError('webhook_signature_malformed', 'signature header item without =');
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) {
        throw new WebhookSignatureError('webhook_signature_malformed', 'one integer t= expected');
      }
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/i.test(value)) {
        throw new WebhookSignatureError('webhook_signature_malformed', 'v1 must be 64 hex digits');
      }
      candidates.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (v0, a future v2) are ignored, so senders can add them without breaking receivers.
  }
  if (timestamp === undefined || candidates.length === 0) {
    throw new WebhookSignatureError('webhook_signature_malformed', 't= and at least one v1= are required');
  }
  let matched = false;
  for (const s of secrets) {
    const expected = mac(s, timestamp, body);
    for (const c of candidates) if (timingSafeEqual(expected, c)) matched = true;
  }
  if (!matched)
    throw new WebhookSignatureError('webhook_signature_mismatch', 'no signature matches the secret');
  const nowS = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(nowS - timestamp) > (options.toleranceS ?? DEFAULT_WEBHOOK_TOLERANCE_S)) {
    throw new WebhookSignatureError(
      'webhook_timestamp_out_of_tolerance',
      'signature timestamp outside tolerance',
    );
  }
  return { timestamp };
}
