import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { signBuffer } from '../../src/market/index.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';

/**
 * Ending dashboard sessions early on `vidmesh serve` (PGlite in its data dir, the stand-in Hive node):
 * sign-out ends the session server-side, so a copy of its cookie stops working, also after a restart;
 * "sign out everywhere" ends every session of the principal and no one else's; API-key sessions too.
 */
describe('session revocation: sign-out and sign out everywhere', () => {
  let root: string;
  let hive: HiveNode;
  let coordinator: RunningCoordinator;
  const keys: Record<string, { posting: string; active: string }> = {};
  const csrf = { 'x-vidmesh-csrf': '1' };

  const start = () =>
    startTestCoordinator(join(root, 'coordinator'), { hiveNode: hive.url, hiveAccount: 'vidmesh-op' });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-session-revoke-'));
    hive = await startHiveNode();
    hive.createAccount('vidmesh-op');
    keys.carol = hive.createAccount('carol');
    keys.dave = hive.createAccount('dave');
    coordinator = await start();
  });
  after(async () => {
    await coordinator?.stop({ graceMs: 0 });
    await hive?.close();
    await rm(root, { recursive: true, force: true });
  });

  /** Signs `account` in with a Keychain signature of the challenge; resolves its `Cookie` header value. */
  const hiveSession = async (account: string): Promise<string> => {
    const challenge = await fetch(`${coordinator.url}/api/v1/session/hive/challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ account }),
    });
    const { message } = (await challenge.json()) as { message: string };
    const r = await fetch(`${coordinator.url}/api/v1/session/hive`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...csrf },
      body: JSON.stringify({ account, message, signature: signBuffer(message, keys[account]!.posting) }),
    });
    assert.equal(r.status, 200, await r.clone().text());
    return r.headers.get('set-cookie')!.split(';')[0]!;
  };
  const keySession = async (apiKey: string): Promise<string> => {
    const r = await fetch(`${coordinator.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...csrf },
      body: JSON.stringify({ apiKey }),
    });
    assert.equal(r.status, 200, await r.clone().text());
    return r.headers.get('set-cookie')!.split(';')[0]!;
  };
  /** The status of a cookie-authenticated read of the wallet. */
  const walletWith = async (cookie: string) =>
    (await fetch(`${coordinator.url}/api/v1/wallet`, { headers: { cookie } })).status;
  const signOut = async (cookie: string, path = '/api/v1/session') =>
    (await fetch(`${coordinator.url}${path}`, { method: 'DELETE', headers: { cookie, ...csrf } })).status;

  test('sign-out ends a Hive session server-side: a copied cookie is refused, also after a restart, while other sessions live on', async () => {
    const a = await hiveSession('carol');
    const b = await hiveSession('carol');
    assert.equal(await walletWith(a), 200);
    assert.equal(await signOut(a), 204);
    assert.equal(await walletWith(a), 401, 'the copied cookie of a signed-out session');
    const who = await fetch(`${coordinator.url}/api/v1/session`, { headers: { cookie: a } });
    assert.equal(((await who.json()) as { principal: unknown }).principal, null);
    assert.equal(await walletWith(b), 200, 'another session of carol is untouched');

    await coordinator.stop({ graceMs: 0 });
    coordinator = await start();
    assert.equal(await walletWith(b), 200, 'a session outlives a restart');
    assert.equal(await walletWith(a), 401, 'and so does its sign-out');
  });

  test("sign out everywhere ends every session of the principal, this one too, and no one else's; a later sign-in works", async () => {
    const a = await hiveSession('carol');
    const b = await hiveSession('carol');
    const d = await hiveSession('dave');
    assert.equal(await signOut(a, '/api/v1/session/all'), 204);
    assert.equal(await walletWith(a), 401);
    assert.equal(await walletWith(b), 401, "carol's other session ended too");
    assert.equal(await walletWith(d), 200, "dave's session is not carol's");
    const c = await hiveSession('carol');
    assert.equal(await walletWith(c), 200, 'signing in again after it works');
    assert.equal(await signOut(a, '/api/v1/session/all'), 401, 'an ended session cannot sign out everywhere');
    assert.equal(await signOut('vidmesh_session=garbage', '/api/v1/session/all'), 401);
  });

  test('API-key sessions: sign out everywhere ends the sessions of that key only; the key itself still works', async () => {
    const acme = await createTenantKey(coordinator, 'acme');
    const globex = await createTenantKey(coordinator, 'globex');
    const k1 = await keySession(acme);
    const k2 = await keySession(acme);
    const g = await keySession(globex);
    assert.equal(await walletWith(k2), 200);
    const noCsrf = await fetch(`${coordinator.url}/api/v1/session/all`, {
      method: 'DELETE',
      headers: { cookie: k1 },
    });
    assert.equal(noCsrf.status, 403, 'the CSRF header is required');
    assert.equal(await signOut(k1, '/api/v1/session/all'), 204);
    assert.equal(await walletWith(k1), 401);
    assert.equal(await walletWith(k2), 401);
    assert.equal(await walletWith(g), 200);
    const bearer = await fetch(`${coordinator.url}/api/v1/wallet`, {
      headers: { authorization: `Bearer ${acme}` },
    });
    assert.equal(bearer.status, 200, 'the API key is not revoked by signing its sessions out');
    assert.equal(await walletWith(await keySession(acme)), 200);
  });
});
