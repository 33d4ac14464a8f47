import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningCoordinator, registeredRoutes } from '../../src/coordinator/index.js';
import { generateIdentity, signPairingProof, signRequest } from '../../src/identity/index.js';
import { startTestCoordinator } from '../helpers/coordinator.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';
import { bearer, CAPS, http, PARAMS, sweepRoutes } from './harness.js';

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
  const keyFor = async (tenant: string) => {
    const key = await http(server.url, 'POST', '/api/v1/keys', {
      json: { scopes: ['submit', 'read'], tenant },
      headers: bearer(server.apiKey),
    });
    assert.equal(key.status, 201, key.text);
    return key.body.plaintext as string;
  };

  before(async () => {
    tdb = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-sweep-flags-'));
    hive = await startHiveNode();
    hive.createAccount('vidmesh-op');
    server = await startTestCoordinator(dir, {
      databaseUrl: tdb.url,
      encoderV2Api: '/v2',
      threespeakGateway: true,
      hiveNode: hive.url,
      hiveAccount: 'vidmesh-op',
    });
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
    let { failures, sent } = await sweepRoutes(server.url, ops, {
      fills: [foreignJob],
      principals: [tenantKey],
      fillPrincipals: [server.apiKey],
    });
    // Hostile values in the query strings the routes read (limits, cursors, filters, kubo's arg).
    const names = ['limit', 'before', 'cursor', 'status', 'kind', 'user', 'since', 'arg', 'tenant', 'q'];
    for (const op of ops.filter((o) => !/[:*]/.test(o.path))) {
      for (const value of PARAMS) {
        const query = names.map((n) => `${n}=${encodeURIComponent(value).replace(/%25/g, '%')}`).join('&');
        sent++;
        const res = await fetch(`${server.url}${op.path}?${query}`, {
          method: op.method,
          headers: bearer(tenantKey),
          signal: AbortSignal.timeout(10_000),
        }).catch((err: Error) => ({ status: 0, body: null, message: err.message }));
        await res.body?.cancel();
        if (res.status >= 500 || res.status === 0)
          failures.push(`${res.status} ${op.method} ${op.path}?${query.slice(0, 60)}`);
      }
    }
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

  test("another tenant's key gets 404/403, never tenant A's data, on the new routes", async () => {
    const a = await keyFor('acme');
    const b = await keyFor('initech');
    const submitted = await http(server.url, 'POST', '/api/v1/jobs', {
      json: {
        source: { type: 'http', url: 'https://example.com/acme.mp4' },
        metadata: { secret: 'acme-only' },
      },
      headers: bearer(a),
    });
    assert.equal(submitted.status, 202, submitted.text);
    const jobA = submitted.body.job.id as string;
    const noLeak = (res: { status: number; text: string }, what: string) => {
      assert.ok(res.status < 500, `${what}: ${res.status} ${res.text}`);
      assert.ok(!res.text.includes('acme'), `${what} shows tenant A's data: ${res.text.slice(0, 200)}`);
    };

    // Encoder v2 API.
    const got = await http(server.url, 'GET', `/v2/jobs/${jobA}`, { headers: bearer(b) });
    assert.equal(got.status, 404, got.text);
    noLeak(got, 'GET /v2/jobs/:id');
    const del = await http(server.url, 'DELETE', `/v2/jobs/${jobA}`, { headers: bearer(b) });
    assert.equal(del.status, 404, del.text);
    noLeak(del, 'DELETE /v2/jobs/:id');
    assert.equal((await http(server.url, 'GET', `/v2/jobs/${jobA}`, { headers: bearer(a) })).status, 200);
    const list = await http(server.url, 'GET', '/v2/jobs', { headers: bearer(b) });
    assert.equal(list.status, 200, list.text);
    assert.ok(!list.text.includes(jobA), "B's job list shows A's job");
    const mine = await http(server.url, 'GET', '/v2/jobs', { headers: bearer(a) });
    assert.ok(mine.text.includes(jobA), "A's own list shows A's job (the check above can fail)");
    noLeak(await http(server.url, 'GET', '/v2/workers', { headers: bearer(b) }), 'GET /v2/workers');

    // Per-output retry and the job routes behind it.
    const retry = await http(server.url, 'POST', `/api/v1/jobs/${jobA}/retry`, {
      json: { renditions: ['480p'] },
      headers: bearer(b),
    });
    assert.equal(retry.status, 404, retry.text);
    noLeak(retry, 'POST /jobs/:id/retry');

    // Routing settings are per tenant: B's "alice" is not A's "alice".
    const set = await http(server.url, 'PATCH', '/api/v1/settings/alice', {
      json: { allowCommunity: true, maxPrice: 7 },
      headers: bearer(a),
    });
    assert.equal(set.status, 200, set.text);
    const seen = await http(server.url, 'GET', '/api/v1/settings/alice', { headers: bearer(b) });
    assert.equal(seen.status, 200, seen.text);
    assert.equal(seen.body.maxPrice, null, "B reads A's user's settings");
    await http(server.url, 'PATCH', '/api/v1/settings/alice', { json: { maxPrice: 1 }, headers: bearer(b) });
    const still = await http(server.url, 'GET', '/api/v1/settings/alice', { headers: bearer(a) });
    assert.equal(still.body.maxPrice, 7, "B's change reached A's user");

    // Market: A's job has no order B can read or accept; B's wallet is B's.
    const order = await http(server.url, 'GET', `/api/v1/community/jobs/${jobA}`, { headers: bearer(b) });
    assert.equal(order.status, 404, order.text);
    const accept = await http(server.url, 'POST', '/api/v1/community/accept', {
      json: { jobId: jobA, bidId: 'bid_x' },
      headers: bearer(b),
    });
    assert.ok(accept.status === 404 || accept.status === 403, `accept: ${accept.status} ${accept.text}`);
    noLeak(await http(server.url, 'GET', '/api/v1/wallet', { headers: bearer(b) }), 'GET /wallet');

    // Pairing: A's agent pairs with A's alice; B replaying the agent's proof must not take the agent.
    const agent = generateIdentity();
    const proof = await signPairingProof(agent, { tenant: 'acme', user: 'alice' });
    const paired = await http(server.url, 'POST', '/api/v1/agent/pairings', {
      json: { did: agent.did, user: 'alice', proof },
      headers: bearer(a),
    });
    assert.equal(paired.status, 201, paired.text);
    const stolen = await http(server.url, 'POST', '/api/v1/agent/pairings', {
      json: { did: agent.did, user: 'alice', proof },
      headers: bearer(b),
    });
    assert.ok(
      stolen.status >= 400 && stolen.status < 500,
      `B re-paired A's agent: ${stolen.status} ${stolen.text}`,
    );
    const binding = await server.store.getAgentBinding(agent.did);
    assert.equal(binding?.tenant, 'acme', "A's agent now works for B");
    // A's proof names A's tenant; a proof the agent signed for B finds it paired with A.
    assert.equal(stolen.status, 403);
    assert.equal(stolen.body.code, 'pairing_tenant_mismatch');
    const elsewhere = await http(server.url, 'POST', '/api/v1/agent/pairings', {
      json: {
        did: agent.did,
        user: 'alice',
        proof: await signPairingProof(agent, { tenant: 'initech', user: 'alice' }),
      },
      headers: bearer(b),
    });
    assert.equal(elsewhere.status, 409, elsewhere.text);
    assert.equal(elsewhere.body.code, 'agent_paired_elsewhere');
    const moved = await http(server.url, 'POST', '/api/v1/agent/pairings', {
      json: {
        did: agent.did,
        user: 'bob',
        proof: await signPairingProof(agent, { tenant: 'acme', user: 'bob' }),
      },
      headers: bearer(a),
    });
    assert.equal(moved.status, 201, `re-pairing within the tenant still moves the agent: ${moved.text}`);

    // A's paired desktop agent registers: B's worker and encoder lists do not show A's user's machine.
    const body = JSON.stringify({
      name: 'acme-laptop',
      kind: 'desktop',
      version: '1.0.0',
      capabilities: CAPS,
    });
    const reg = await http(server.url, 'POST', '/api/v1/encoders/register', {
      body,
      headers: {
        'content-type': 'application/json',
        ...(await signRequest(agent, { method: 'POST', path: '/api/v1/encoders/register', body })),
      },
    });
    assert.ok(reg.status === 200 || reg.status === 201, reg.text);
    const agentId = reg.body.encoder?.id ?? reg.body.id;
    assert.ok(typeof agentId === 'string', reg.text);
    const mineA = await http(server.url, 'GET', '/v2/workers', { headers: bearer(a) });
    assert.ok(mineA.text.includes(agentId), `A sees its own agent (the check below can fail): ${mineA.text}`);
    for (const path of ['/v2/workers', '/api/v1/encoders']) {
      const seenB = await http(server.url, 'GET', path, { headers: bearer(b) });
      assert.equal(seenB.status, 200, seenB.text);
      assert.ok(!seenB.text.includes(agentId), `${path} shows A's desktop agent to B`);
    }
    const check = await http(server.url, 'POST', '/api/v1/agent/check', {
      json: { user: 'alice' },
      headers: bearer(b),
    });
    assert.equal(check.status, 200, check.text);
    assert.equal(check.body.encoderId, null);
  });
});
