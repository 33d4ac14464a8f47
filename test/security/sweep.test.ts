import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { withTestDatabase } from '../helpers/db.js';
import { ADMIN, bearer, http, type SecurityApp, startSecurityApp, sweepRoutes } from './harness.js';

/**
 * Every route of the API, from its own OpenAPI document plus the hidden media routes, is sent hostile
 * path parameters and bodies, as the operator and as another tenant: none may answer 5xx (issue 12,
 * "input never gives 500"). Streams (SSE) are read to their headers only.
 */

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

    const { failures, sent } = await sweepRoutes(s.url, ops, {
      fills: [foreignJob],
      principals: [tenantKey],
      fillPrincipals: [ADMIN],
    });
    assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
    const health = await http(s.url, 'GET', '/health');
    assert.equal(health.status, 200);
  });
});
