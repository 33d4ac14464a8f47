import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { withTestDatabase } from '../helpers/db.js';
import { ADMIN, bearer, CAPS, http, type SecurityApp, startSecurityApp } from './harness.js';

/**
 * Hostile input across the API: each case gets its documented 4xx (docs/api.md, docs/identity.md),
 * the service stays up (`/health` after each), and a bystander job of the same tenant is unaffected.
 */

interface Case {
  name: string;
  method: string;
  /** `{job}`: the test's own leased job; `{bystander}`: the bystander job; `{other}`: tenant A's job. */
  path: string;
  json?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** Which key sends it (default admin). */
  as?: 'admin' | 'tenantB' | 'encoder' | 'none';
  status: number;
  code?: string;
}

const SRC = { type: 'http', url: 'https://example.com/in.mp4' };
const job = (extra: Record<string, unknown>) => ({ source: SRC, ...extra });
const INJECT = "'; DROP TABLE jobs; --";

const CASES: Case[] = [
  // Malformed JSON and content types
  { name: 'truncated JSON', method: 'POST', path: '/api/v1/jobs', raw: '{"source":', status: 400 },
  { name: 'JSON null', method: 'POST', path: '/api/v1/jobs', raw: 'null', status: 400 },
  { name: 'JSON array', method: 'POST', path: '/api/v1/jobs', raw: '[]', status: 400 },
  { name: 'JSON with BOM and garbage', method: 'POST', path: '/api/v1/jobs', raw: '\ufeff{{}}', status: 400 },
  {
    name: '__proto__ pollution',
    method: 'POST',
    path: '/api/v1/jobs',
    raw: `{"source":${JSON.stringify(SRC)},"__proto__":{"admin":true}}`,
    status: 400,
  },
  {
    name: 'constructor.prototype pollution',
    method: 'POST',
    path: '/api/v1/jobs',
    raw: `{"source":${JSON.stringify(SRC)},"constructor":{"prototype":{"admin":true}}}`,
    status: 400,
  },
  {
    name: 'text/plain body on a JSON route: 415',
    method: 'POST',
    path: '/api/v1/jobs',
    raw: 'source=x',
    contentType: 'text/plain',
    status: 415,
  },
  // Wrong types
  {
    name: 'source as string',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: 'http://x' },
    status: 400,
  },
  {
    name: 'priority as number',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ priority: 5 }),
    status: 400,
  },
  {
    name: 'maxAttempts as string',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ maxAttempts: '3' }),
    status: 400,
  },
  {
    name: 'metadata value number',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ metadata: { a: 1 } }),
    status: 400,
  },
  { name: 'tags as string', method: 'POST', path: '/api/v1/jobs', json: job({ tags: 'gpu' }), status: 400 },
  {
    name: 'unknown top-level field',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ ffmpegArgs: ['-i', '/etc/passwd'] }),
    status: 400,
  },
  {
    name: 'filter string in ladder',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ ladder: { filter: 'movie=/etc/passwd' } }),
    status: 400,
  },
  // Huge numbers
  {
    name: 'maxAttempts 1e308',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ maxAttempts: 1e308 }),
    status: 400,
  },
  {
    name: 'maxAttempts negative',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ maxAttempts: -1 }),
    status: 400,
  },
  { name: 'limit 1e20', method: 'GET', path: '/api/v1/jobs?limit=100000000000000000000', status: 400 },
  {
    name: 'claim waitMs huge',
    method: 'POST',
    path: '/api/v1/agent/claim',
    json: { encoderId: 'x', waitMs: 1e12 },
    as: 'encoder',
    status: 400,
  },
  {
    name: 'progress 1e9 percent',
    method: 'POST',
    path: '/api/v1/agent/progress',
    json: { encoderId: 'x', jobId: 'y', leaseToken: 'z', stage: 'encoding', progress: 1e9 },
    as: 'encoder',
    status: 400,
  },
  {
    name: 'logs afterSeq negative',
    method: 'GET',
    path: '/api/v1/jobs/{bystander}/logs?afterSeq=-5',
    status: 400,
  },
  // Unicode / NUL
  {
    name: 'NUL in metadata value',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ metadata: { note: 'a\u0000b' } }),
    status: 400,
  },
  {
    name: 'NUL in metadata key',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ metadata: { 'a\u0000b': 'x' } }),
    status: 400,
  },
  { name: 'non-ASCII tag', method: 'POST', path: '/api/v1/jobs', json: job({ tags: ['gpü'] }), status: 400 },
  {
    name: 'RTL override in encoder name',
    method: 'POST',
    path: '/api/v1/encoders/register',
    json: { name: 'a'.repeat(129), kind: 'community', version: '1', capabilities: CAPS },
    as: 'encoder',
    status: 400,
  },
  {
    name: 'NUL in key name',
    method: 'POST',
    path: '/api/v1/keys',
    json: { scopes: ['read'], name: 'a\u0000b' },
    status: 400,
  },
  // Path traversal
  { name: 'traversal in job id', method: 'GET', path: '/api/v1/jobs/..%2f..%2fetc%2fpasswd', status: 404 },
  { name: 'traversal in media path', method: 'GET', path: '/media/..%2f..%2fetc/passwd', status: 403 },
  { name: 'dot segments in media path', method: 'GET', path: '/media/%2e%2e/%2e%2e/etc/passwd', status: 404 },
  {
    name: 'traversal in upload id',
    method: 'GET',
    path: '/api/v1/uploads/..%2f..%2fetc%2fpasswd',
    status: 404,
  },
  {
    name: 'traversal in upload source',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: { type: 'upload', id: '../../etc/passwd' } },
    status: 400,
  },
  {
    name: 'traversal in local prefix',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ destination: { type: 'local', prefix: '../../etc' } }),
    status: 400,
  },
  {
    name: 'encoded traversal in s3 prefix',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ destination: { type: 's3', bucket: 'bucket-x', prefix: 'a/%2e%2e/%2e%2e/b' } }),
    status: 400,
  },
  {
    name: 'dot-dot inside local prefix',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ destination: { type: 'local', prefix: 'a/../../etc' } }),
    status: 400,
  },
  {
    name: 'backslash local prefix',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ destination: { type: 'local', prefix: '..\\..\\etc' } }),
    status: 400,
  },
  {
    name: 'traversal in output PUT',
    method: 'PUT',
    path: '/api/v1/agent/outputs/{job}/..%2f..%2f..%2fescape.txt',
    raw: 'x',
    contentType: 'text/plain',
    headers: { 'x-lease-token': '{lease}' },
    as: 'encoder',
    status: 400,
  },
  {
    name: 'backslash in output PUT',
    method: 'PUT',
    path: '/api/v1/agent/outputs/{job}/..%5c..%5cescape.txt',
    raw: 'x',
    contentType: 'text/plain',
    headers: { 'x-lease-token': '{lease}' },
    as: 'encoder',
    status: 400,
  },
  // SSRF
  {
    name: 'loopback source',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: { type: 'http', url: 'http://127.0.0.1:5432/' } },
    status: 400,
    code: 'url_forbidden',
  },
  {
    name: 'metadata service source',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: { type: 'http', url: 'http://169.254.169.254/latest/meta-data/' } },
    status: 400,
    code: 'url_forbidden',
  },
  {
    name: 'IPv6 loopback source',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: { type: 'http', url: 'http://[::1]/x.mp4' } },
    status: 400,
    code: 'url_forbidden',
  },
  {
    name: 'decimal IP source',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: { type: 'http', url: 'http://2130706433/x.mp4' } },
    status: 400,
    code: 'url_forbidden',
  },
  {
    name: 'localhost source',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: { type: 'http', url: 'http://localhost:8080/x' } },
    status: 400,
    code: 'url_forbidden',
  },
  {
    name: 'IPv4-mapped IPv6 source',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: { type: 'http', url: 'http://[::ffff:127.0.0.1]/x' } },
    status: 400,
    code: 'url_forbidden',
  },
  {
    name: 'private webhook',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ webhook: { url: 'http://10.0.0.1/hook' } }),
    status: 400,
    code: 'url_forbidden',
  },
  {
    name: 'private http destination',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ destination: { type: 'http', baseUrl: 'http://192.168.1.1/up/' } }),
    status: 400,
    code: 'url_forbidden',
  },
  {
    name: 'loopback s3 endpoint',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ destination: { type: 's3', bucket: 'bucket-x', endpoint: 'http://127.0.0.1:9000' } }),
    status: 400,
    code: 'url_forbidden',
  },
  {
    name: 'file: URL source',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: { type: 'http', url: 'file:///etc/passwd' } },
    status: 400,
  },
  {
    name: 'gopher: URL source',
    method: 'POST',
    path: '/api/v1/jobs',
    json: { source: { type: 'http', url: 'gopher://127.0.0.1:6379/_INFO' } },
    status: 400,
  },
  {
    name: 'ftp webhook',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ webhook: { url: 'ftp://example.com/x' } }),
    status: 400,
  },
  // Oversized
  {
    name: 'body over the JSON limit',
    method: 'POST',
    path: '/api/v1/jobs',
    raw: JSON.stringify(job({ metadata: { a: 'x'.repeat(100_000) } })),
    status: 413,
  },
  {
    name: '33 metadata keys',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }),
    status: 400,
  },
  {
    name: 'metadata value over 1024',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ metadata: { a: 'x'.repeat(1025) } }),
    status: 400,
  },
  {
    name: 'Idempotency-Key over 255',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({}),
    headers: { 'idempotency-key': 'k'.repeat(300) },
    status: 400,
  },
  {
    name: '10 KB bearer token',
    method: 'GET',
    path: '/api/v1/jobs',
    headers: { authorization: `Bearer ${'a'.repeat(10_000)}` },
    as: 'none',
    status: 401,
  },
  {
    name: 'huge DIDJWS',
    method: 'POST',
    path: '/api/v1/encoders/heartbeat',
    json: { encoderId: 'x' },
    headers: { authorization: `DIDJWS ${'a'.repeat(15_000)}.b.c` },
    as: 'none',
    status: 401,
  },
  {
    name: '500 log lines of 5000 chars',
    method: 'POST',
    path: '/api/v1/agent/progress',
    json: {
      encoderId: 'x',
      jobId: 'y',
      leaseToken: 'z',
      stage: 'encoding',
      progress: 1,
      logs: Array(501).fill('x'),
    },
    as: 'encoder',
    status: 400,
  },
  // Injection-looking strings
  { name: 'SQL in queue', method: 'POST', path: '/api/v1/jobs', json: job({ queue: INJECT }), status: 400 },
  { name: 'SQL in tags', method: 'POST', path: '/api/v1/jobs', json: job({ tags: [INJECT] }), status: 400 },
  {
    name: 'SQL in status filter',
    method: 'GET',
    path: `/api/v1/jobs?status=${encodeURIComponent("queued' OR '1'='1")}`,
    status: 400,
  },
  {
    name: 'SQL in cursor',
    method: 'GET',
    path: `/api/v1/jobs?cursor=${encodeURIComponent(INJECT)}`,
    status: 400,
  },
  {
    name: 'SQL in job id',
    method: 'GET',
    path: `/api/v1/jobs/${encodeURIComponent("1' OR '1'='1")}`,
    status: 404,
  },
  {
    name: 'SQL in key id',
    method: 'DELETE',
    path: `/api/v1/keys/${encodeURIComponent("' OR 1=1 --")}`,
    status: 400,
  },
  {
    name: 'SQL in encoder id',
    method: 'POST',
    path: `/api/v1/encoders/${encodeURIComponent("x' OR '1'='1")}/ban`,
    status: 404,
  },
  {
    name: 'SQL in tenant',
    method: 'POST',
    path: '/api/v1/keys',
    json: { scopes: ['read'], tenant: INJECT },
    status: 400,
  },
  {
    name: 'shell in ladder preset',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ ladder: { ladder: '$(rm -rf /)' } }),
    status: 400,
  },
  {
    name: 'javascript: webhook URL',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({ webhook: { url: 'javascript:alert(document.cookie)' } }),
    status: 400,
  },
  {
    name: 'empty Idempotency-Key',
    method: 'POST',
    path: '/api/v1/jobs',
    json: job({}),
    headers: { 'idempotency-key': '' },
    status: 400,
  },
  { name: 'unknown scope', method: 'POST', path: '/api/v1/keys', json: { scopes: ['root'] }, status: 400 },
  {
    name: 'key expiring in the past',
    method: 'POST',
    path: '/api/v1/keys',
    json: { scopes: ['read'], expiresAt: '2001-01-01T00:00:00Z' },
    status: 400,
  },
  // Other tenants' ids
  {
    name: "other tenant's job",
    method: 'GET',
    path: '/api/v1/jobs/{other}',
    as: 'tenantB',
    status: 404,
    code: 'job_not_found',
  },
  {
    name: "cancel other tenant's job",
    method: 'DELETE',
    path: '/api/v1/jobs/{other}',
    as: 'tenantB',
    status: 404,
  },
  {
    name: "retry other tenant's job",
    method: 'POST',
    path: '/api/v1/jobs/{other}/retry',
    json: {},
    as: 'tenantB',
    status: 404,
  },
  {
    name: "other tenant's events",
    method: 'GET',
    path: '/api/v1/jobs/{other}/events',
    as: 'tenantB',
    status: 404,
  },
  // Credentials
  { name: 'no credentials', method: 'GET', path: '/api/v1/jobs', as: 'none', status: 401 },
  {
    name: 'well-formed unknown key',
    method: 'GET',
    path: '/api/v1/jobs',
    headers: { authorization: 'Bearer vmk_0123456789ab_3mJr7AoUXx2Wqd4tPzUNgLCxnSPHxbAyoiHhdCs5rMtq' },
    as: 'none',
    status: 401,
    code: 'api_key_invalid',
  },
  {
    name: 'Basic auth',
    method: 'GET',
    path: '/api/v1/jobs',
    headers: { authorization: 'Basic YWRtaW46YWRtaW4=' },
    as: 'none',
    status: 401,
  },
];

describe('hostile input suite', () => {
  const tdb = withTestDatabase();
  let s: SecurityApp;
  let tenantA = '';
  let tenantB = '';
  let encKey = '';
  let bystander = '';
  let bystanderBefore = '';
  let otherJob = '';
  let leasedJob = '';
  let lease = '';

  before(async () => {
    s = await startSecurityApp(tdb.current.db);
    tenantA = (await s.keys.create({ scopes: ['submit', 'read'], tenant: 'tenant-a' })).plaintext;
    tenantB = (await s.keys.create({ scopes: ['submit', 'read'], tenant: 'tenant-b' })).plaintext;
    encKey = (await s.keys.create({ scopes: ['encoder'] })).plaintext;
    // The encoder leases one job for the output PUT cases; the bystander needs a tag it lacks.
    const leased = await http(s.url, 'POST', '/api/v1/jobs', { json: job({}), headers: bearer(ADMIN) });
    leasedJob = leased.body.job.id;
    const reg = await http(s.url, 'POST', '/api/v1/encoders/register', {
      json: { name: 'hostile-node', kind: 'infrastructure', version: '1', capabilities: CAPS },
      headers: bearer(encKey),
    });
    const claim = await http(s.url, 'POST', '/api/v1/agent/claim', {
      json: { encoderId: reg.body.encoder.id, waitMs: 0 },
      headers: bearer(encKey),
    });
    assert.equal(claim.body.job.id, leasedJob, claim.text);
    lease = claim.body.leaseToken;
    const by = await http(s.url, 'POST', '/api/v1/jobs', {
      json: job({ tags: ['bystander-only'], metadata: { who: 'bystander' } }),
      headers: bearer(tenantA),
    });
    bystander = by.body.job.id;
    bystanderBefore = JSON.stringify((await s.store.get(bystander)).spec);
    otherJob = (
      await http(s.url, 'POST', '/api/v1/jobs', {
        json: job({ tags: ['bystander-only'] }),
        headers: bearer(tenantA),
      })
    ).body.job.id;
  });
  after(async () => s?.close());

  test(`at least 40 cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 40);
  });

  for (const c of CASES) {
    test(`${c.name}: ${c.status}${c.code ? ` ${c.code}` : ''}`, async () => {
      const sub = (v: string) =>
        v
          .replaceAll('{job}', leasedJob)
          .replaceAll('{bystander}', bystander)
          .replaceAll('{other}', otherJob)
          .replaceAll('{lease}', lease);
      const auth =
        c.as === 'none' ? {} : bearer(c.as === 'tenantB' ? tenantB : c.as === 'encoder' ? encKey : ADMIN);
      const headers: Record<string, string> = {
        ...auth,
        ...Object.fromEntries(Object.entries(c.headers ?? {}).map(([k, v]) => [k, sub(v)])),
      };
      if (c.raw !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
      const r = await http(s.url, c.method, sub(c.path), {
        ...(c.json !== undefined ? { json: c.json } : {}),
        ...(c.raw !== undefined ? { body: c.raw } : {}),
        headers,
      });
      assert.equal(r.status, c.status, `${c.name}: ${r.text.slice(0, 300)}`);
      if (c.code) assert.equal(r.body?.code, c.code, c.name);
      if (r.status !== 404 || r.text) {
        assert.match(r.headers.get('content-type') ?? '', /problem\+json/, `${c.name}: problem details`);
      }
      assert.doesNotMatch(r.text, /at .*\.(js|ts):\d+|\/work\/|node_modules/, 'no stack traces or paths');
      const health = await http(s.url, 'GET', '/health');
      assert.equal(health.status, 200, 'service stays up');
    });
  }

  test('the bystander job and the leased job are unaffected; no file escaped', async () => {
    const b = await s.store.get(bystander);
    assert.equal(b.status, 'queued');
    assert.equal(JSON.stringify(b.spec), bystanderBefore);
    const l = await s.store.get(leasedJob);
    assert.ok(['leased', 'running'].includes(l.status), l.status);
    assert.ok(l.lease, 'still held by its encoder');
    const count = await tdb.current.db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
    assert.equal(count.rows[0]!.n, 3, 'no hostile submit created a job');
  });
});
