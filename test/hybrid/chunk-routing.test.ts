import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { generateIdentity } from '../../src/identity/index.js';
import { type Hand, pairAgent, registerHand } from '../helpers/agent.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';

/**
 * Chunk tasks follow their parent's routing (issue 16 round 3): a user's split job's chunk tasks are
 * offered to that user's own desktop agent first, for the agent window planned at submit, and to no
 * operator, community encoder or other user's agent during it. Encoders are driven by hand over the
 * signed HTTP transport; the agent window is 600 s so only routing can explain who gets what.
 */
describe("chunk tasks of a user's split job", () => {
  let tmp: string;
  let server: RunningCoordinator;
  let acme: VidmeshClient;
  let acmeKey: string;
  let uploadId: string;
  let aliceAgent: Hand;
  let bobAgent: Hand;
  let operator: Hand;
  let community: Hand;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-chunk-routing-'));
    server = await startTestCoordinator(join(tmp, 'coordinator'), {}, { VIDMESH_AGENT_GRACE_S: '600' });
    acmeKey = await createTenantKey(server, 'acme');
    acme = createClient({ url: server.url, apiKey: acmeKey });
    // 10 s in 4 s chunks: video chunk tasks plus the audio task.
    uploadId = (await acme.upload(await makeClip(join(tmp, 'clip.mp4')))).upload.id;
    const alice = generateIdentity();
    const bob = generateIdentity();
    assert.equal((await pairAgent(server.url, acmeKey, alice, 'alice')).status, 201);
    assert.equal((await pairAgent(server.url, acmeKey, bob, 'bob')).status, 201);
    aliceAgent = await registerHand(server.url, 'alice-agent', 'desktop', { identity: alice });
    bobAgent = await registerHand(server.url, 'bob-agent', 'desktop', { identity: bob });
    operator = await registerHand(server.url, 'operator', 'infrastructure', { apiKey: server.apiKey });
    community = await registerHand(server.url, 'stranger', 'community', { identity: generateIdentity() });
  });

  after(async () => {
    await server?.stop({ graceMs: 1000 });
    await rm(tmp, { recursive: true, force: true });
  });

  test("are offered to the user's own agent first: during its window only alice's agent claims them, each in the agent step", async () => {
    const parent = await acme.submitJob({
      source: { type: 'upload', id: uploadId },
      destination: { type: 'local' },
      ladder: { speed: 'ultrafast' },
      network: 'community',
      chunking: { seconds: 4 },
      user: 'alice',
    } as never);
    const routed = (await acme.jobHistory(parent.id)).find((e) => e.reason === 'routed');
    assert.equal(routed?.routing?.steps?.[0]?.encoderId, aliceAgent.id, JSON.stringify(routed));
    assert.ok(
      (await acme.jobHistory(parent.id)).some((e) => e.reason === 'split'),
      'the job was split into chunk tasks',
    );

    for (const [name, other] of Object.entries({ operator, community, bobAgent })) {
      assert.equal(
        await other.transport.claim(other.id, 0),
        null,
        `${name} got a chunk task in alice's window`,
      );
    }
    // Her agent gets every task (it may hold several leases: claims are not capped per hand here).
    const taken: string[] = [];
    for (;;) {
      const got = await aliceAgent.transport.claim(aliceAgent.id, 0);
      if (!got) break;
      taken.push(got.id);
      const task = await acme.getJob(got.id);
      assert.equal(task.parentId, parent.id, 'only chunk tasks are claimable (the parent is the stitcher’s)');
      const claimed = (await acme.jobHistory(got.id)).find((e) => e.reason === 'claimed');
      assert.equal(claimed?.routing?.route, 'agent', JSON.stringify(claimed));
    }
    assert.ok(taken.length >= 3, `alice's agent claimed ${taken.length} chunk tasks`);
    await acme.cancelJob(parent.id);
  });
});
