import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { type RunningCoordinator, registeredRoutes, startCoordinator } from '../../src/coordinator/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';
import { bearer, http, PARAMS, sweepRoutes } from './harness.js';

/**
 * `vidmesh serve` with every optional surface on (Encoder v2 API at `/v2`, the 3Speak gateway with its
 * kubo RPC, hotnode and embed routes, the marketplace against the stand-in Hive node): every route the
 * app registered — read from its route table, not its OpenAPI document, which hides the compatible
 * APIs — is sent the hostile parameters and bodies of the OpenAPI sweep, as another tenant and (with
 * a real job id) as the operator. None may answer 5xx or hang.
 */

describe('every route of a coordinator with all optional surfaces answers hostile input without a 5xx', () => {
  let tdb: TestDatabase;
  let dir: string;
  let hive: HiveNode;
  let server: RunningCoordinator;
  let tenantKey = '';
  let foreignJob = '';

  before(async () => {
    tdb = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-sweep-flags-'));
    hive = await startHiveNode();
    hive.createAccount('vidmesh-op');
    server = await startCoordinator(
      loadConfig({
        flags: {
          port: 0,
          host: '127.0.0.1',
          dataDir: dir,
          databaseUrl: tdb.url,
          encoders: 0,
          logLevel: 'silent',
          encoderV2Api: '/v2',
          threespeakGateway: true,
          hiveNode: hive.url,
          hiveAccount: 'vidmesh-op',
        },
        env: {},
      }),
    );
    const key = await http(server.url, 'POST', '/api/v1/keys', {
      json: { scopes: ['submit', 'read', 'encoder'], tenant: 'globex' },
      headers: bearer(server.apiKey),
    });
    assert.equal(key.status, 201, key.text);
    tenantKey = key.body.plaintext;
    const job = await http(server.url, 'POST', '/api/v1/jobs', {
      json: { source: { type: 'http', url: 'https://example.com/a.mp4' } },
      headers: bearer(server.apiKey),
    });
    assert.equal(job.status, 202, job.text);
    foreignJob = job.body.job.id;
  });
  after(async () => {
    await server?.stop({ graceMs: 500 });
    await hive?.close();
    await tdb?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('no 5xx or hang across all registered routes × hostile parameters × hostile bodies × two principals', async () => {
    const routes = registeredRoutes(server.app);
    const urls = new Set(routes.map((r) => r.url));
    for (const mounted of ['/v2/jobs', '/api/v0/add', '/api/v1/jobs'])
      assert.ok(urls.has(mounted), `the route table lists ${mounted}`);
    // Streams (SSE) are read to their headers only, as in the OpenAPI sweep.
    const ops = routes
      .filter((r) => ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method))
      .map((r) => ({ method: r.method, path: r.url }));
    const { failures, sent } = await sweepRoutes(server.url, ops, {
      fills: [foreignJob],
      principals: [tenantKey],
      fillPrincipals: [server.apiKey],
    });
    assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed (${ops.length} routes)`);
    assert.equal((await http(server.url, 'GET', '/health')).status, 200);
  });

  test('kubo RPC calls with a missing, hostile or unknown arg answer 4xx in kubo error shape', async () => {
    const absent = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
    const args = [undefined, '', ...PARAMS, absent, `${absent}/../../etc/passwd`, `/ipfs/${absent}/a`];
    const failures: string[] = [];
    for (const call of ['cat', 'ls', 'block/get', 'pin/add', 'pin/ls']) {
      for (const arg of args) {
        if (call === 'pin/ls' && arg === undefined) continue; // no arg: the list of pins
        const query = arg === undefined ? '' : `?arg=${encodeURIComponent(arg)}`;
        const res = await http(server.url, 'POST', `/api/v0/${call}${query}`, {
          headers: bearer(server.apiKey),
        });
        if (res.status < 400 || res.status >= 500 || res.body?.Type !== 'error')
          failures.push(`${res.status} ${call} arg=${String(arg).slice(0, 40)}: ${res.text.slice(0, 100)}`);
      }
    }
    for (const type of ['application/json', 'text/plain', 'video/mp4']) {
      const res = await http(server.url, 'POST', '/api/v0/add', {
        body: '<html></html>',
        headers: { ...bearer(server.apiKey), 'content-type': type },
      });
      if (res.status < 400 || res.status >= 500) failures.push(`${res.status} add as ${type}: ${res.text}`);
    }
    assert.deepEqual(failures, []);
  });
});
