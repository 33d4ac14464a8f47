import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { withTestDatabase } from '../helpers/db.js';
import { type SecurityApp, startSecurityApp } from '../security/harness.js';

/**
 * The API contract (`/openapi.json`) lints clean with Redocly's recommended rules: no errors and no
 * warnings (every operation declares its RFC 9457 problem answers, no unnamed wildcard parameter,
 * non-empty servers). The document comes from the app as `vidmesh serve` wires it.
 */
describe('the API contract', () => {
  const tdb = withTestDatabase({ driver: 'pglite' });
  let s: SecurityApp;
  before(async () => {
    s = await startSecurityApp(tdb.current.db, { webhooks: true, metrics: {}, verification: true });
  });
  after(async () => s?.close());

  test('/openapi.json lints clean with the Redocly recommended ruleset', async () => {
    const res = await fetch(`${s.url}/openapi.json`);
    assert.equal(res.status, 200);
    const source = await res.text();
    const doc = JSON.parse(source) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    assert.ok(Object.keys(doc.paths).length > 30, 'the whole API is documented');
    assert.ok(doc.paths['/api/v1/agent/outputs/{jobId}/{path}'], 'the wildcard parameter is named');
    assert.ok(doc.paths['/api/v1/jobs']?.post?.responses['4XX'], 'problem answers declared');
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({ source, absoluteRef: 'openapi.json', config });
    const found = problems.map(
      (p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer}`,
    );
    assert.deepEqual(found, []);
  });
});
