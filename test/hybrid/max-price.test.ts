import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '../../src/coordinator/client.js';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';
import { makeClip } from '../helpers/media.js';

/**
 * A user's `maxPrice` setting (`PATCH /settings/:user`) caps what their market jobs may offer: a spec
 * whose `market.maxPrice` is over it is a 422 problem naming both amounts, at or under it the order
 * opens; users without a limit and other tenants' users of the same name are not capped.
 */
describe("user settings' maxPrice caps market jobs", () => {
  let root: string;
  let hive: HiveNode;
  let coordinator: RunningCoordinator;
  let acme = '';
  let globex = '';
  const uploads = new Map<string, string>();

  const call = async (method: string, path: string, key: string, body?: unknown) => {
    const r = await fetch(`${coordinator.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return {
      status: r.status,
      type: r.headers.get('content-type') ?? '',
      body: (await r.json()) as Record<string, unknown>,
    };
  };
  const priced = (key: string, user: string, maxPrice: string) =>
    call('POST', '/jobs', key, {
      source: { type: 'upload', id: uploads.get(key) },
      network: 'community',
      user,
      market: { maxPrice, autoAccept: false },
    });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-max-price-'));
    hive = await startHiveNode();
    hive.createAccount('vidmesh-op');
    coordinator = await startTestCoordinator(join(root, 'coordinator'), {
      hiveNode: hive.url,
      hiveAccount: 'vidmesh-op',
    });
    acme = await createTenantKey(coordinator, 'acme');
    globex = await createTenantKey(coordinator, 'globex');
    const clip = await makeClip(join(root, 'clip.mp4'), { seconds: 2 });
    // Uploads are the tenant's own: one each.
    for (const key of [acme, globex]) {
      uploads.set(key, (await createClient({ url: coordinator.url, apiKey: key }).upload(clip)).upload.id);
    }
  });

  after(async () => {
    await coordinator?.stop({ graceMs: 500 });
    await hive?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('over the setting: 422 over_user_max_price with both amounts; at the setting: 202', async () => {
    const set = await call('PATCH', '/settings/alice', acme, { maxPrice: 0.5 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const over = await priced(acme, 'alice', '0.501');
    assert.equal(over.status, 422, JSON.stringify(over.body));
    assert.match(over.type, /problem\+json/);
    assert.equal(over.body.code, 'over_user_max_price');
    assert.equal(over.body.maxPrice, '0.501');
    assert.equal(over.body.userMaxPrice, '0.500');
    assert.match(String(over.body.detail), /0\.501 HBD.*0\.500 HBD/);
    const at = await priced(acme, 'alice', '0.500');
    assert.equal(at.status, 202, JSON.stringify(at.body));
    await call('DELETE', `/jobs/${(at.body.job as { id: string }).id}`, acme);
  });

  test("no limit for a user without one, nor for another tenant's user of the same name", async () => {
    await call('PATCH', '/settings/alice', acme, { maxPrice: 0.1 });
    for (const [key, user] of [
      [acme, 'carol'],
      [globex, 'alice'],
    ] as const) {
      const res = await priced(key, user, '5.000');
      assert.equal(res.status, 202, `${user}: ${JSON.stringify(res.body)}`);
      await call('DELETE', `/jobs/${(res.body.job as { id: string }).id}`, key);
    }
  });
});
