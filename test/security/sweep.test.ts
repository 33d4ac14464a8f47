import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { withTestDatabase } from '../helpers/db.js';
import { ADMIN, bearer, http, type SecurityApp, startSecurityApp } from './harness.js';

/**
 * Every route of the API, from its own OpenAPI document plus the hidden media routes, is sent hostile
 * path parameters and bodies, as the operator and as another tenant: none may answer 5xx (issue 12,
 * "input never gives 500"). Streams (SSE) are read to their headers only.
 */

const PARAMS = [
  '../../etc/passwd',
  '%00',
  '%ED%A0%80', // a lone surrogate, UTF-8 encoded
  "x'; DROP TABLE jobs;--",
  'a'.repeat(3000),
];

const BODIES: Array<{ name: string; body?: string; type?: string }> = [
  { name: 'empty object', body: '{}', type: 'application/json' },
  { name: 'array', body: '[1,2,3]', type: 'application/json' },
  { name: 'null', body: 'null', type: 'application/json' },
  { name: 'string', body: '"x"', type: 'application/json' },
  {
    name: 'lone surrogates',
    body: '{"\\ud800":"\\udfff","source":{"type":"http","url":"https://e.com/\\ud800"}}',
    type: 'application/json',
  },
  { name: 'NUL', body: '{"name":"a\\u0000b","url":"https://e.com/\\u0000"}', type: 'application/json' },
  {
    name: 'valid job, lone surrogate in metadata',
    body: '{"source":{"type":"http","url":"https://example.com/a.mp4"},"metadata":{"t":"\\ud800"}}',
    type: 'application/json',
  },
  {
    name: 'unresolvable host',
    body: '{"url":"https://no-such-host.invalid/hook"}',
    type: 'application/json',
  },
  { name: 'broken JSON', body: '{"a":', type: 'application/json' },
  { name: 'deep nesting', body: `${'['.repeat(2000)}${']'.repeat(2000)}`, type: 'application/json' },
  {
    name: 'wrong types',
    body: '{"encoderId":1,"jobId":[],"leaseToken":{},"scopes":"admin","url":5}',
    type: 'application/json',
  },
  { name: 'text/plain', body: 'hello', type: 'text/plain' },
  { name: 'form', body: 'a=1&b=2', type: 'application/x-www-form-urlencoded' },
  { name: 'html as media', body: '<html><script>alert(1)</script></html>', type: 'video/mp4' },
  { name: 'no body' },
];

describe('every route answers hostile input without a 5xx', () => {
  const tdb = withTestDatabase();
  let s: SecurityApp;
  let tenantKey = '';
  let foreignJob = '';

  before(async () => {
    s = await startSecurityApp(tdb.current.db, { webhooks: true, metrics: {} });
    tenantKey = (await s.keys.create({ scopes: ['submit', 'read', 'encoder'], tenant: 'globex' })).plaintext;
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      json: { source: { type: 'http', url: 'https://example.com/a.mp4' } },
      headers: bearer(ADMIN),
    });
    assert.equal(job.status, 202);
    foreignJob = job.body.job.id;
  });
  after(async () => s?.close());

  test('no 5xx across routes × hostile parameters × hostile bodies × two principals', async () => {
    const doc = s.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    const ops: Array<{ method: string; path: string }> = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        if (['get', 'post', 'put', 'patch', 'delete'].includes(method))
          ops.push({ method: method.toUpperCase(), path });
      }
    }
    ops.push({ method: 'GET', path: '/media/{job}/{file}' }, { method: 'GET', path: '/ipfs/{cid}/{file}' });
    assert.ok(ops.length > 30, `the OpenAPI document lists the API (${ops.length} operations)`);

    const failures: string[] = [];
    let sent = 0;
    const send = async (method: string, path: string, auth: string, b: (typeof BODIES)[number]) => {
      sent++;
      const hasBody = method !== 'GET' && b.body !== undefined;
      try {
        const res = await fetch(s.url + path, {
          method,
          headers: { ...bearer(auth), ...(hasBody && b.type ? { 'content-type': b.type } : {}) },
          ...(hasBody ? { body: b.body } : {}),
          signal: AbortSignal.timeout(10_000),
        });
        await res.body?.cancel();
        if (res.status >= 500) failures.push(`${res.status} ${method} ${path.slice(0, 120)} [${b.name}]`);
      } catch (err) {
        failures.push(`no answer ${method} ${path.slice(0, 120)} [${b.name}]: ${(err as Error).message}`);
      }
    };
    for (const op of ops) {
      const fills = [foreignJob, ...PARAMS];
      for (const fill of fills) {
        const path = op.path.replace(
          /\{[^}]+\}/g,
          fill === foreignJob ? fill : encodeURIComponent(fill).replace(/%25/g, '%'),
        );
        const bodies = op.method === 'GET' ? [BODIES[BODIES.length - 1]!] : BODIES;
        for (const b of bodies) {
          await send(op.method, path, tenantKey, b);
          if (fill === foreignJob) await send(op.method, path, ADMIN, b);
        }
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
    const health = await http(s.url, 'GET', '/health');
    assert.equal(health.status, 200);
  });
});
