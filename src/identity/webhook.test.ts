import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebhookSignatureError, type WebhookSignatureErrorCode } from './errors.js';
import { generateWebhookSecret, signWebhook, verifyWebhookSignature } from './webhook.js';

const T0 = new Date('2025-06-01T00:00:00Z');
const secret = generateWebhookSecret();
const body = JSON.stringify({ event: 'job.completed', jobId: 'j1' });
const refused = (c: WebhookSignatureErrorCode) => (e: unknown) =>
  e instanceof WebhookSignatureError && e.code === c && e.status === 401;

describe('webhook signatures', () => {
  it('matches an independently computed HMAC-SHA256 over "t.body"', async () => {
    // Reference value via WebCrypto, a second implementation of HMAC-SHA256.
    const key = await crypto.subtle.importKey(
      'raw',
      Buffer.from('whsec_test'),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const mac = Buffer.from(
      await crypto.subtle.sign('HMAC', key, Buffer.from(`1748736000.${body}`)),
    ).toString('hex');
    assert.equal(signWebhook('whsec_test', body, T0), `t=1748736000,v1=${mac}`);
  });

  it('verifies within tolerance, with rotated secrets on either side', () => {
    const header = signWebhook(secret, body, T0);
    assert.deepEqual(
      verifyWebhookSignature(secret, header, body, { now: new Date(T0.getTime() + 299_000) }),
      {
        timestamp: T0.getTime() / 1000,
      },
    );
    assert.deepEqual(
      verifyWebhookSignature(secret, header, Buffer.from(body), { now: T0 }).timestamp,
      1748736000,
    );
    const next = generateWebhookSecret();
    const rotating = signWebhook([secret, next], body, T0);
    assert.equal(rotating.split(',').length, 3);
    verifyWebhookSignature(next, rotating, body, { now: T0 });
    verifyWebhookSignature([next, secret], header, body, { now: T0 });
    assert.match(secret, /^whsec_[\w-]{43}$/);
  });

  const header = signWebhook(secret, body, T0);
  const rows: Array<[string, string | undefined, string, WebhookSignatureErrorCode, number?]> = [
    ['missing header', undefined, body, 'webhook_signature_malformed'],
    ['no t', header.replace(/^t=\d+,/, ''), body, 'webhook_signature_malformed'],
    ['no v1', header.replace(/,v1=.*/, ''), body, 'webhook_signature_malformed'],
    ['two t', `t=1,${header}`, body, 'webhook_signature_malformed'],
    ['non-hex v1', header.replace(/v1=.{4}/, 'v1=zzzz'), body, 'webhook_signature_malformed'],
    ['huge header', `${header},${'v0=x,'.repeat(2000)}`, body, 'webhook_signature_malformed'],
    ['tampered body', header, body.replace('j1', 'j2'), 'webhook_signature_mismatch'],
    ['other secret', signWebhook(generateWebhookSecret(), body, T0), body, 'webhook_signature_mismatch'],
    [
      'timestamp changed',
      header.replace(/t=\d+/, `t=${T0.getTime() / 1000 + 1}`),
      body,
      'webhook_signature_mismatch',
    ],
    ['too old', header, body, 'webhook_timestamp_out_of_tolerance', 301],
    ['from the future', header, body, 'webhook_timestamp_out_of_tolerance', -301],
  ];
  for (const [name, h, b, code, offsetS] of rows) {
    it(`refuses ${name} with ${code}`, () => {
      const now = new Date(T0.getTime() + (offsetS ?? 0) * 1000);
      assert.throws(() => verifyWebhookSignature(secret, h, b, { now }), refused(code));
    });
  }

  it('ignores unknown schemes next to a valid v1', () => {
    verifyWebhookSignature(secret, `${header},v0=deadbeef`, body, { now: T0 });
  });
});
