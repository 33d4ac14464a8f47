import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { createHttpTransport } from '../../src/encoder/index.js';
import { generateIdentity } from '../../src/identity/index.js';
import { type CommunityNode, startCommunityNode } from '../helpers/community-node.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';

/**
 * "Encode here" pins a job to the browser tab's own did:key (`pinEncoder`), not to a tag an encoder
 * declares: a did:key community node declaring the tab's former tag (`browser-<did>`) and running its
 * claim loop never gets the job, nor does an operator encoder; the tab's encoder (its signed
 * registration) does.
 */
describe('"Encode here": a job pinned to the tab\'s encoder identity', () => {
  let tmp: string;
  let server: RunningCoordinator;
  let acme: VidmeshClient;
  let acmeKey: string;
  let uploadId: string;
  let squatter: CommunityNode | undefined;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-pin-'));
    server = await startTestCoordinator(join(tmp, 'coordinator'));
    acmeKey = await createTenantKey(server, 'acme');
    acme = createClient({ url: server.url, apiKey: acmeKey });
    uploadId = (await acme.upload(await makeClip(join(tmp, 'clip.mp4'), { seconds: 3 }))).upload.id;
  });

  after(async () => {
    await squatter?.stop();
    await server?.stop({ graceMs: 1000 });
    await rm(tmp, { recursive: true, force: true });
  });

  test("a community node declaring the tab's tag never claims the pinned job; the tab's own encoder does", async () => {
    const tab = generateIdentity();
    const tag = `browser-${tab.did.slice('did:key:'.length)}`;
    squatter = await startCommunityNode({
      coordinatorUrl: server.url,
      root: tmp,
      name: 'squatter',
      tags: [tag],
    });
    const submitted = await fetch(`${server.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
      // What the Submit page sends for "Encode here".
      body: JSON.stringify({
        source: { type: 'upload', id: uploadId },
        ladder: { only: ['480p'], format: 'fmp4' },
        network: 'community',
        pinEncoder: { did: tab.did },
      }),
    });
    assert.equal(submitted.status, 202, await submitted.clone().text());
    const job = ((await submitted.json()) as { job: { id: string } }).job;

    // The squatter's own signed claim (same DID, same declared tag) and an operator encoder's: nothing.
    const squatterHand = createHttpTransport({ url: server.url, identity: squatter.identity });
    assert.equal(await squatterHand.claim(squatter.encoderId, 0), null);
    const operator = createHttpTransport({ url: server.url, apiKey: server.apiKey });
    const { encoderId: operatorId } = await operator.register({
      name: 'operator',
      kind: 'infrastructure',
      version: '0.0.0-test',
      capabilities: { codecs: ['h264', 'aac'], hwaccel: [], maxHeight: 2160, concurrency: 1, tags: [tag] },
    });
    assert.equal(await operator.claim(operatorId, 0), null);

    // The tab registers with its own did:key (as web/src/encoder/worker.ts does, without any tag).
    const tabHand = createHttpTransport({ url: server.url, identity: tab });
    const { encoderId: tabId } = await tabHand.register({
      name: 'tab',
      kind: 'browser',
      version: 'web',
      capabilities: {
        codecs: ['h264'],
        hwaccel: [],
        maxHeight: 480,
        maxDurationS: 120,
        concurrency: 1,
        tags: [],
      },
    });
    const got = await tabHand.claim(tabId, 0);
    assert.equal(got?.id, job.id);
    const now = await acme.getJob(job.id);
    assert.equal(now.encoderId, tabId);
    assert.notEqual(now.encoderId, squatter.encoderId);
    assert.equal(squatter.node.activeJobs().length, 0, 'the squatter holds nothing');
    await acme.cancelJob(job.id);
  });

  test('pinEncoder must be a did:key (400 problem)', async () => {
    const res = await fetch(`${server.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        source: { type: 'upload', id: uploadId },
        network: 'community',
        pinEncoder: { did: 'did:web:example.com' },
      }),
    });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
  });
});
