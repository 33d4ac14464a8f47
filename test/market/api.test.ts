import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '../../src/coordinator/client.js';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { generateIdentity, type Identity, signRequest } from '../../src/identity/index.js';
import { bindingStatement, canonicalHiveRequest, signBuffer } from '../../src/market/index.js';
import { startTestCoordinator } from '../helpers/coordinator.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';
import { makeClip } from '../helpers/media.js';

/**
 * The marketplace API against hostile input (`vidmesh serve` on PGlite, the stand-in Hive node): every
 * refusal is an RFC 9457 problem with a stable code, never a 500, and never another tenant's order,
 * money or encoder.
 */
describe('marketplace API refuses forged, foreign and malformed requests', () => {
  let root: string;
  let hive: HiveNode;
  let coordinator: RunningCoordinator;
  let acme = '';
  let globex = '';
  let uploadId = '';
  let alice: { posting: string; active: string };
  let bob: { posting: string; active: string };
  let identity: Identity;
  let encoderId = '';

  const call = async (method: string, path: string, auth: string, body?: unknown) => {
    const r = await fetch(`${coordinator.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${auth}`,
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
  const signed = async (method: string, path: string, body?: unknown, who: Identity = identity) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers = await signRequest(who, {
      method,
      path: `/api/v1${path}`,
      ...(text ? { body: text } : {}),
    });
    const r = await fetch(`${coordinator.url}/api/v1${path}`, {
      method,
      headers: { ...headers, ...(text ? { 'content-type': 'application/json' } : {}) },
      ...(text ? { body: text } : {}),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const keyFor = async (tenant: string) =>
    (await call('POST', '/keys', coordinator.apiKey, { scopes: ['submit', 'read'], tenant })).body
      .plaintext as string;
  const offer = (hiveField: Record<string, string>, prices: Record<string, string> = { sd: '0.100' }) =>
    signed('POST', '/community/offers', { encoderId, prices, hive: hiveField });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-market-api-'));
    const clip = await makeClip(join(root, 'clip.mp4'), { seconds: 2 });
    hive = await startHiveNode();
    hive.createAccount('vidmesh-op');
    alice = hive.createAccount('alice');
    bob = hive.createAccount('bob');
    coordinator = await startTestCoordinator(join(root, 'coordinator'), {
      hiveNode: hive.url,
      hiveAccount: 'vidmesh-op',
    });
    acme = await keyFor('acme');
    globex = await keyFor('globex');
    uploadId = (await createClient({ url: coordinator.url, apiKey: acme }).upload(clip)).upload.id;
    identity = generateIdentity();
    const reg = await signed('POST', '/encoders/register', {
      name: 'stranger',
      kind: 'community',
      version: '1',
      capabilities: { codecs: ['h264'], hwaccel: [], maxHeight: 1080, concurrency: 1, tags: [] },
    });
    assert.equal(reg.status, 200, JSON.stringify(reg.body));
    encoderId = (reg.body.encoder as { id: string }).id;
  });

  after(async () => {
    await coordinator?.stop({ graceMs: 0 });
    await hive?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('a binding is refused when forged, replayed for another did or account, stale, or unsigned by a did', async () => {
    const now = new Date();
    const good = bindingStatement(identity.did, 'alice', now);
    const cases: Array<[string, Record<string, string>, number, string]> = [
      [
        'signed by another account',
        { account: 'alice', statement: good, signature: signBuffer(good, bob.posting) },
        401,
        'hive_signature_invalid',
      ],
      [
        'signed with the active, not a posting key',
        { account: 'alice', statement: good, signature: signBuffer(good, alice.active) },
        401,
        'hive_signature_invalid',
      ],
      [
        'garbage signature',
        { account: 'alice', statement: good, signature: 'ab'.repeat(65) },
        401,
        'hive_signature_invalid',
      ],
      [
        "another did's statement",
        {
          account: 'alice',
          statement: bindingStatement(generateIdentity().did, 'alice', now),
          signature: 'x',
        },
        400,
        'validation_failed',
      ],
      [
        'statement for another account',
        { account: 'bob', statement: good, signature: signBuffer(good, bob.posting) },
        400,
        'validation_failed',
      ],
      [
        'stale statement',
        (() => {
          const old = bindingStatement(identity.did, 'alice', new Date(now.getTime() - 3_600_000));
          return { account: 'alice', statement: old, signature: signBuffer(old, alice.posting) };
        })(),
        400,
        'validation_failed',
      ],
      [
        'unknown account',
        { account: 'nobody-x', statement: bindingStatement(identity.did, 'nobody-x', now), signature: 'x' },
        401,
        'hive_signature_invalid',
      ],
    ];
    for (const [name, hiveField, status, code] of cases) {
      const r = await offer(hiveField);
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, code, name);
    }
    // An API key cannot publish an offer for (or bind) a did:key encoder.
    const byKey = await call('POST', '/community/offers', acme, { encoderId, prices: { sd: '0.100' } });
    assert.equal(byKey.status, 403, JSON.stringify(byKey.body));
    // Malformed prices are 400, never 500.
    for (const price of ['-1', '0.0001', '1e3', 'lots', '99999999999']) {
      const r = await signed('POST', '/community/offers', { encoderId, prices: { sd: price } });
      assert.equal(r.status, 400, `${price}: ${JSON.stringify(r.body)}`);
    }
    // The genuine statement binds.
    const ok = await offer({ account: 'alice', statement: good, signature: signBuffer(good, alice.posting) });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.hiveAccount, 'alice');
  });

  test("priced jobs: private network refused; another tenant sees, accepts and bids on nothing of acme's", async () => {
    const priv = await call('POST', '/jobs', acme, {
      source: { type: 'upload', id: uploadId },
      market: { maxPrice: '1.000' },
    });
    assert.equal(priv.status, 400, JSON.stringify(priv.body));
    assert.match(String(priv.body.detail), /community/);
    const badPrice = await call('POST', '/jobs', acme, {
      source: { type: 'upload', id: uploadId },
      network: 'community',
      market: { maxPrice: '1.0001' },
    });
    assert.equal(badPrice.status, 400);
    const sub = await call('POST', '/jobs', acme, {
      source: { type: 'upload', id: uploadId },
      network: 'community',
      market: { maxPrice: '1.000', autoAccept: false },
    });
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    const jobId = (sub.body.job as { id: string }).id;
    const bid = await signed('POST', '/community/bids', { encoderId, jobId, price: '0.800' });
    assert.equal(bid.status, 201, JSON.stringify(bid.body));
    assert.equal((bid.body.bid as { state: string }).state, 'open', 'no auto-accept');
    const bidId = (bid.body.bid as { id: string }).id;
    // A job that needs a tag this encoder does not have: its bid is a 422 problem, not an open bid.
    const tagged = await call('POST', '/jobs', acme, {
      source: { type: 'upload', id: uploadId },
      network: 'community',
      tags: ['gpu-farm'],
      market: { maxPrice: '1.000', autoAccept: false },
    });
    assert.equal(tagged.status, 202, JSON.stringify(tagged.body));
    const taggedId = (tagged.body.job as { id: string }).id;
    const incapable = await signed('POST', '/community/bids', { encoderId, jobId: taggedId, price: '0.500' });
    assert.equal(incapable.status, 422, JSON.stringify(incapable.body));
    assert.equal(incapable.body.code, 'encoder_cannot_encode');
    assert.equal(incapable.body.type, 'urn:vidmesh:problem:encoder_cannot_encode');
    assert.deepEqual((await call('GET', `/community/jobs/${taggedId}`, acme)).body.bids, []);
    // Another tenant: its order view and its accept answer exactly like a missing order.
    const seen = await call('GET', `/community/jobs/${jobId}`, globex);
    assert.equal(seen.status, 404);
    assert.equal(seen.body.code, 'order_not_found');
    const stolen = await call('POST', '/community/accept', globex, { jobId, bidId });
    assert.equal(stolen.status, 404);
    // A bid for another encoder (not this did's) is refused.
    const other = generateIdentity();
    const impersonate = await signed('POST', '/community/bids', { encoderId, jobId, price: '0.500' }, other);
    assert.ok([401, 403, 404, 409].includes(impersonate.status), JSON.stringify(impersonate.body));
    // The owner without funds: 402, the bid stays open, nothing held.
    const poor = await call('POST', '/community/accept', acme, { jobId, bidId });
    assert.equal(poor.status, 402, JSON.stringify(poor.body));
    assert.equal(poor.body.code, 'insufficient_funds');
    assert.match(poor.type, /application\/problem\+json/);
    const view = await call('GET', `/community/jobs/${jobId}`, acme);
    assert.equal((view.body.order as { state: string }).state, 'open');
    assert.deepEqual(
      (view.body.bids as Array<{ state: string }>).map((b) => b.state),
      ['open'],
    );
    // Globex's wallet is its own: empty, and acme's deposit ids are not its business.
    const wallet = await call('GET', '/wallet', globex);
    assert.deepEqual(
      [wallet.body.account, wallet.body.balance, wallet.body.entries],
      ['user:globex', '0.000', []],
    );
    // Unknown job ids and oversized fields are 4xx.
    assert.equal(
      (await call('POST', '/community/accept', acme, { jobId: 'x'.repeat(65), bidId })).status,
      400,
    );
    assert.equal(
      (await signed('POST', '/community/bids', { encoderId, jobId: 'nope', price: '0.100' })).status,
      404,
    );
  });

  test('a job submitted with a Keychain-signed request belongs to hive:<account>; tampering, replay and foreign keys are refused', async () => {
    const body = JSON.stringify({
      source: { type: 'http', url: 'https://example.com/v.mp4' },
      metadata: { by: 'alice' },
    });
    const sign = (
      o: {
        account?: string;
        key?: string;
        issued?: Date;
        nonce?: string;
        path?: string;
        bodyText?: string;
      } = {},
    ) => {
      const account = o.account ?? 'alice';
      const issued = (o.issued ?? new Date()).toISOString();
      const nonce = o.nonce ?? randomBytes(12).toString('base64url');
      const message = canonicalHiveRequest({
        account,
        method: 'POST',
        path: o.path ?? '/api/v1/jobs',
        bodySha256: createHash('sha256')
          .update(o.bodyText ?? body)
          .digest('hex'),
        issued,
        nonce,
      });
      const signature = signBuffer(message, o.key ?? alice.posting);
      return `HiveKeychain account="${account}", issued="${issued}", nonce="${nonce}", signature="${signature}"`;
    };
    const post = (authorization: string, text = body) =>
      fetch(`${coordinator.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: text,
      });
    const auth = sign();
    const ok = await post(auth);
    assert.equal(ok.status, 202, await ok.clone().text());
    const job = ((await ok.json()) as { job: { id: string } }).job;
    assert.equal((await coordinator.store.get(job.id)).tenant, 'hive:alice');
    const refusals: Array<[string, Response]> = [
      ['replayed', await post(auth)],
      ['body changed after signing', await post(sign(), body.replace('alice', 'mallory'))],
      ['signed for another path', await post(sign({ path: '/api/v1/jobs?x=1' }))],
      ["bob's key for alice", await post(sign({ key: bob.posting }))],
      ["alice's active key", await post(sign({ key: alice.active }))],
      ['an hour old', await post(sign({ issued: new Date(Date.now() - 3_600_000) }))],
      ['malformed', await post('HiveKeychain account="alice"')],
    ];
    for (const [name, r] of refusals) {
      assert.equal(r.status, 401, `${name}: ${await r.clone().text()}`);
      assert.equal(((await r.json()) as { code: string }).code, 'hive_signature_invalid', name);
    }
    // alice's own wallet, not acme's.
    const issued = new Date().toISOString();
    const nonce = randomBytes(12).toString('base64url');
    const message = canonicalHiveRequest({
      account: 'alice',
      method: 'GET',
      path: '/api/v1/wallet',
      bodySha256: createHash('sha256').update('').digest('hex'),
      issued,
      nonce,
    });
    const w = await fetch(`${coordinator.url}/api/v1/wallet`, {
      headers: {
        authorization: `HiveKeychain account="alice", issued="${issued}", nonce="${nonce}", signature="${signBuffer(message, alice.posting)}"`,
      },
    });
    assert.equal(w.status, 200, await w.clone().text());
    assert.equal(((await w.json()) as { account: string }).account, 'user:hive:alice');
  });
});
