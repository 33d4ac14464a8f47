import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { generateIdentity, type Identity, signPairingProof } from '../../src/identity/index.js';
import { signJws, toCompactJws } from '../../src/identity/jws.js';
import { type Hand, pairAgent, registerHand } from '../helpers/agent.js';
import { createTenantKey } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';

/**
 * Hybrid routing over HTTP (issue 16): a user's job goes to their own desktop agent first (grace
 * window), then — short jobs — to their browser encoder, then to operator and community encoders; the
 * steps are in the job's history. Encoders are driven by hand through the real signed HTTP transport
 * (register, heartbeat, claim), so each claim's answer is exactly what that encoder would get. Windows
 * are 5 s here (VIDMESH_AGENT_GRACE_S / VIDMESH_BROWSER_GRACE_S).
 */

// Long enough for a few signed claims on a loaded machine, short enough to wait out twice.
const WINDOW_S = 5;
const now = () => Math.floor(Date.now() / 1000);

describe('routing: own agent → own browser → operator/community', () => {
  let tmp: string;
  let server: RunningCoordinator;
  let acme: VidmeshClient;
  let acmeKey: string;
  let uploadId: string;
  let longUploadId: string;
  const hands: Record<string, Hand> = {};

  const pair = (identity: Identity, user: string, key = acmeKey) =>
    pairAgent(server.url, key, identity, user);

  const hand = (
    name: string,
    kind: 'desktop' | 'browser' | 'community' | 'infrastructure',
    auth: { identity: Identity } | { apiKey: string },
    extraCaps: Record<string, unknown> = {},
  ) => registerHand(server.url, name, kind, auth, extraCaps);

  const submit = (user: string, upload = uploadId) =>
    acme.submitJob({
      source: { type: 'upload', id: upload },
      destination: { type: 'local' },
      // Short mode cuts a source to its first 60 s, which a browser may take: the long one is whole.
      ladder: { short: upload === uploadId, speed: 'ultrafast' },
      network: 'community',
      chunking: 'off',
      user,
    } as never);

  const claim = (h: Hand) => h.transport.claim(h.id, 0);
  const history = (jobId: string) => acme.jobHistory(jobId);

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-routing-'));
    server = await startCoordinator(
      loadConfig({
        env: { VIDMESH_AGENT_GRACE_S: String(WINDOW_S), VIDMESH_BROWSER_GRACE_S: String(WINDOW_S) },
        flags: { port: 0, dataDir: join(tmp, 'coordinator'), encoders: 0, logLevel: 'silent' },
      }),
    );
    const created = await fetch(`${server.url}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes: ['submit', 'read'], tenant: 'acme', name: 'acme' }),
    });
    acmeKey = ((await created.json()) as { plaintext: string }).plaintext;
    acme = createClient({ url: server.url, apiKey: acmeKey });
    uploadId = (await acme.upload(await makeClip(join(tmp, 'short.mp4'), { seconds: 3 }))).upload.id;
    // 130 s: over the browser limit (loops of the 10 s clip, stream copy).
    longUploadId = (await acme.upload(await makeClip(join(tmp, 'long.mp4'), { loops: 12 }))).upload.id;

    const aliceAgentId = generateIdentity();
    const bobAgentId = generateIdentity();
    const aliceBrowserId = generateIdentity();
    assert.equal((await pair(aliceAgentId, 'alice')).status, 201);
    assert.equal((await pair(bobAgentId, 'bob')).status, 201);
    assert.equal((await pair(aliceBrowserId, 'alice')).status, 201);
    hands.aliceAgent = await hand('alice-agent', 'desktop', { identity: aliceAgentId });
    hands.bobAgent = await hand('bob-agent', 'desktop', { identity: bobAgentId });
    hands.aliceBrowser = await hand(
      'alice-tab',
      'browser',
      { identity: aliceBrowserId },
      {
        maxHeight: 480,
        maxDurationS: 120,
      },
    );
    hands.community = await hand('stranger', 'community', { identity: generateIdentity() });
    hands.operator = await hand('operator', 'infrastructure', { apiKey: server.apiKey });
  });

  after(async () => {
    await server?.stop({ graceMs: 1000 });
    await rm(tmp, { recursive: true, force: true });
  });

  test("with alice's agent online and idle, her job goes to her agent and to no other encoder", async () => {
    const job = await submit('alice');
    for (const other of ['operator', 'community', 'bobAgent', 'aliceBrowser']) {
      assert.equal(await claim(hands[other]!), null, `${other} got alice's job during her agent's window`);
    }
    const got = await claim(hands.aliceAgent!);
    assert.equal(got?.id, job.id);
    assert.equal(got?.about?.owner, 'alice', 'her agent is told whose job it is');
    assert.deepEqual(got?.transfer, { source: 'coordinator', output: 'coordinator' }, 'no credential');
    const events = await history(job.id);
    const routed = events.find((e) => e.reason === 'routed');
    assert.deepEqual(
      routed?.routing?.steps?.map((s) => s.step),
      ['agent', 'browser', 'open'],
      JSON.stringify(routed),
    );
    assert.equal(routed?.routing?.steps?.[0]?.encoderId, hands.aliceAgent!.id);
    const claimed = events.find((e) => e.reason === 'claimed');
    assert.equal(claimed?.routing?.route, 'agent');
    await acme.cancelJob(job.id);
  });

  test("another user's agent never gets alice's job, also once every window has passed", async () => {
    const job = await submit('alice');
    await new Promise((r) => setTimeout(r, (2 * WINDOW_S + 0.5) * 1000));
    assert.equal(await claim(hands.bobAgent!), null);
    const got = await claim(hands.operator!);
    assert.equal(got?.id, job.id, 'after the windows the operator may claim it');
    const claimed = (await history(job.id)).find((e) => e.reason === 'claimed');
    assert.equal(claimed?.routing?.route, 'open');
    await acme.cancelJob(job.id);
  });

  test("alice's agent offline: a short job goes to her browser first, then to the community", async () => {
    // Silence everyone, then only the browser, the community and bob's agent speak again.
    await server.store.markSilentEncodersOffline(0);
    for (const h of ['aliceBrowser', 'community', 'bobAgent', 'operator']) {
      await hands[h]!.transport.heartbeat(hands[h]!.id, []);
    }
    const first = await submit('alice');
    const steps = (await history(first.id)).find((e) => e.reason === 'routed')?.routing?.steps;
    assert.deepEqual(
      steps?.map((s) => [s.step, s.skipped ?? s.encoderId ?? 'open']),
      [
        ['agent', 'offline'],
        ['browser', hands.aliceBrowser!.id],
        ['open', 'open'],
      ],
    );
    assert.equal(await claim(hands.community!), null, 'community waits for the browser window');
    const inTab = await claim(hands.aliceBrowser!);
    assert.equal(inTab?.id, first.id);
    assert.equal((await history(first.id)).find((e) => e.reason === 'claimed')?.routing?.route, 'browser');
    await acme.cancelJob(first.id);

    // The browser lets the next one pass (busy): after its window the community encoder takes it.
    const second = await submit('alice');
    assert.equal(await claim(hands.community!), null);
    await new Promise((r) => setTimeout(r, (WINDOW_S + 0.5) * 1000));
    const byStranger = await claim(hands.community!);
    assert.equal(byStranger?.id, second.id);
    assert.equal((await history(second.id)).find((e) => e.reason === 'claimed')?.routing?.route, 'open');
    await acme.cancelJob(second.id);
  });

  test('a job too long for a browser skips the browser step (130 s source)', async () => {
    const job = await submit('alice', longUploadId);
    const steps = (await history(job.id)).find((e) => e.reason === 'routed');
    // Agent offline (previous test), browser not offered: nothing of alice's gets a window, open at once.
    assert.equal(steps, undefined, 'no own step offered: no routing event');
    assert.equal(await claim(hands.aliceBrowser!), null, 'her browser never gets a long job');
    assert.equal((await claim(hands.community!))?.id, job.id);
    await acme.cancelJob(job.id);
  });

  test('settings: allowCommunity false keeps community encoders away; another tenant sees its own defaults', async () => {
    const patched = await fetch(`${server.url}/api/v1/settings/alice`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ allowCommunity: false, maxPrice: 0.5 }),
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(await patched.json(), {
      user: 'alice',
      preferOwnAgent: true,
      allowBrowser: true,
      allowCommunity: false,
      maxPrice: 0.5,
    });
    const bad = await fetch(`${server.url}/api/v1/settings/alice`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ maxPrice: -1 }),
    });
    assert.equal(bad.status, 400);
    assert.match(bad.headers.get('content-type') ?? '', /problem\+json/);
    const job = await submit('alice', longUploadId);
    assert.equal(await claim(hands.community!), null, 'community encoders never get it');
    assert.equal((await claim(hands.operator!))?.id, job.id);
    await acme.cancelJob(job.id);

    const other = await fetch(`${server.url}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes: ['submit', 'read'], tenant: 'globex', name: 'globex' }),
    });
    const globexKey = ((await other.json()) as { plaintext: string }).plaintext;
    const seen = await fetch(`${server.url}/api/v1/settings/alice`, {
      headers: { authorization: `Bearer ${globexKey}` },
    });
    assert.equal(((await seen.json()) as { allowCommunity: boolean }).allowCommunity, true);
  });

  test("a pairing proof names its tenant: another tenant's key using it gets 403 pairing_tenant_mismatch, acme's key pairs", async () => {
    const agent = generateIdentity();
    const globexKey = await createTenantKey(server, 'globex');
    // Signed for acme's dave, as `vidmesh agent pair` with acme's key signs it.
    const proof = await signPairingProof(agent, { tenant: 'acme', user: 'dave' });
    const post = (key: string, body: Record<string, unknown>) =>
      fetch(`${server.url}/api/v1/agent/pairings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const stolen = await post(globexKey, { did: agent.did, user: 'dave', proof });
    assert.equal(stolen.status, 403);
    assert.match(stolen.headers.get('content-type') ?? '', /problem\+json/);
    assert.equal(((await stolen.json()) as { code: string }).code, 'pairing_tenant_mismatch');
    assert.equal(await server.store.getAgentBinding(agent.did), null, 'globex did not get the agent');
    // A proof without a tenant (an older agent's) is refused the same way.
    const unnamed = await post(acmeKey, {
      did: agent.did,
      user: 'dave',
      proof: toCompactJws(
        await signJws(agent, { typ: 'vidmesh-agent-pairing', user: 'dave', iat: now(), exp: now() + 60 }),
      ),
    });
    assert.equal(unnamed.status, 403);
    const claims = await fetch(`${server.url}/api/v1/agent/pairings/claims?user=dave`, {
      headers: { authorization: `Bearer ${globexKey}` },
    });
    assert.deepEqual(await claims.json(), { typ: 'vidmesh-agent-pairing', tenant: 'globex', user: 'dave' });
    const paired = await post(acmeKey, { did: agent.did, user: 'dave', proof });
    assert.equal(paired.status, 201);
    assert.deepEqual(await server.store.getAgentBinding(agent.did).then((b) => b && [b.tenant, b.user]), [
      'acme',
      'dave',
    ]);
  });

  test('pairing needs the DID’s own proof; a desktop encoder must be paired; check-agent reports the agent', async () => {
    const agent = generateIdentity();
    const forged = await fetch(`${server.url}/api/v1/agent/pairings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
      // Signed by another identity than the DID being paired.
      body: JSON.stringify({
        did: agent.did,
        user: 'carol',
        proof: await signPairingProof(generateIdentity(), { tenant: 'acme', user: 'carol' }),
      }),
    });
    assert.equal(forged.status, 401);
    const wrongUser = await fetch(`${server.url}/api/v1/agent/pairings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        did: agent.did,
        user: 'carol',
        proof: await signPairingProof(agent, { tenant: 'acme', user: 'mallory' }),
      }),
    });
    assert.equal(wrongUser.status, 401);
    await assert.rejects(
      hand('unpaired', 'desktop', { identity: generateIdentity() }),
      (err: Error & { details?: { code?: string } }) =>
        /agent_not_paired/.test(`${err.message} ${JSON.stringify(err)}`),
    );

    const check = async (user: string) => {
      const res = await fetch(`${server.url}/api/v1/agent/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user }),
      });
      assert.equal(res.status, 200);
      return (await res.json()) as { status: string; encoderId: string | null; hwAccel: string };
    };
    await hands.aliceAgent!.transport.heartbeat(hands.aliceAgent!.id, []);
    const alice = await check('alice');
    assert.equal(alice.status, 'ready');
    assert.equal(alice.encoderId, hands.aliceAgent!.id);
    assert.equal(alice.hwAccel, 'none');
    assert.equal((await check('carol')).status, 'offline');
  });
});
