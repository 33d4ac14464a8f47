import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { DesktopAgent } from '../../src/agent/index.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { JobView } from '../../src/coordinator/index.js';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { generateIdentity } from '../../src/identity/index.js';
import { pairAgent, startTestAgent } from '../helpers/agent.js';
import { launchChromium } from '../helpers/browser.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';
import { until } from '../helpers/processes.js';

/**
 * The desktop agent (`vidmesh agent`, issue 16) against a real coordinator: it encodes its user's
 * short clip end to end with ffmpeg (same pipeline as `vidmesh encoder`), and its local API answers
 * the web app's origin with the pairing token only — checked from two origins in headless Chromium.
 */

async function blankPage(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://localhost:${(server.address() as AddressInfo).port}` };
}

describe('desktop agent', () => {
  let tmp: string;
  let server: RunningCoordinator;
  let acme: VidmeshClient;
  let acmeKey: string;
  let clipId: string;
  let webApp: { server: Server; origin: string };
  let otherSite: { server: Server; origin: string };
  const agents: DesktopAgent[] = [];

  const agentFor = async (user: string, autoClaim: boolean) => {
    const identity = generateIdentity();
    assert.equal((await pairAgent(server.url, acmeKey, identity, user)).status, 201);
    const started = await startTestAgent({
      coordinatorUrl: server.url,
      identity,
      user,
      dir: join(tmp, `agent-${user}`),
      allowedOrigin: webApp.origin,
      claimWaitMs: 1000,
      autoClaim,
    });
    agents.push(started.agent);
    return started;
  };

  const submit = (user: string) =>
    acme.submitJob({
      source: { type: 'upload', id: clipId },
      destination: { type: 'local' },
      ladder: { short: true, speed: 'ultrafast', segmentDuration: 1 },
      chunking: 'off',
      metadata: { permlink: `clip-of-${user}` },
      user,
    } as never);

  const waitFinal = async (id: string, ms = 90_000): Promise<JobView> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const job = await acme.getJob(id);
      if (['completed', 'dead', 'cancelled'].includes(job.status)) return job;
      assert.ok(Date.now() < deadline, `job still ${job.status}/${job.stage}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-agent-'));
    server = await startTestCoordinator(join(tmp, 'coordinator'), {
      heartbeatMs: 1000,
    });
    acmeKey = await createTenantKey(server, 'acme');
    acme = createClient({ url: server.url, apiKey: acmeKey });
    clipId = (await acme.upload(await makeClip(join(tmp, 'clip.mp4'), { seconds: 3 }))).upload.id;
    webApp = await blankPage();
    otherSite = await blankPage();
  });

  after(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await server?.stop({ graceMs: 1000 });
    for (const s of [webApp, otherSite]) await new Promise((r) => s?.server.close(r));
    await rm(tmp, { recursive: true, force: true });
  });

  test("the agent encodes its user's short clip end to end with ffmpeg; its local API reports it", async () => {
    const { agent, token } = await agentFor('alice', true);
    const job = await waitFinal((await submit('alice')).id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    assert.equal(job.encoderId, agent.node.encoderId, "alice's agent encoded it");
    const history = await acme.jobHistory(job.id);
    assert.equal(history.find((e) => e.reason === 'claimed')?.routing?.route, 'agent');

    // The published ladder is real: master → media playlist → segments that are served.
    const masterUrl = job.result?.masterUrl ?? '';
    const master = await (await fetch(new URL(masterUrl, server.url))).text();
    assert.match(master, /^#EXTM3U/);
    const media = master.split('\n').find((l) => l.endsWith('.m3u8'));
    assert.ok(media, master);
    const playlist = await (await fetch(new URL(media, new URL(masterUrl, server.url)))).text();
    const segments = playlist.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.ok(segments.length >= 2, playlist);
    const seg = await fetch(new URL(segments[0]!, new URL(media, new URL(masterUrl, server.url))));
    assert.equal(seg.status, 200);
    assert.ok((await seg.arrayBuffer()).byteLength > 1000);

    const call = (path: string, body?: unknown) =>
      fetch(`${agent.url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const done = (await (await call('/complete', { jobId: job.id })).json()) as Record<string, unknown>;
    assert.equal(done.status, 'completed');
    assert.equal(done.masterUrl, masterUrl);
    assert.deepEqual(done.qualities, ['480p']);
    const progress = (await (await call('/progress', { jobId: job.id })).json()) as Record<string, unknown>;
    assert.equal(progress.progress, 100);
    // The node drops the job from its count just after the coordinator records the completion.
    const health = await until('the agent is ready again', 10_000, async () => {
      const h = (await (await call('/health')).json()) as Record<string, unknown>;
      return h.status === 'ready' && h;
    });
    assert.deepEqual(
      { ...health, version: undefined },
      { status: 'ready', hwAccel: 'none', jobsInProgress: 0, ipfsConnected: false, version: undefined },
    );
    assert.equal((await call('/progress', { jobId: 'not-a-job' })).status, 404);
  });

  test('the local API answers only the web app origin with the pairing token (Chromium, two origins)', async () => {
    const { agent, token } = await agentFor('carol', false);
    const job = await submit('carol');
    let browser: Browser | undefined;
    try {
      browser = await launchChromium();
      const page = await browser.newPage();
      type Answer = { status?: number; body?: unknown; error?: string };
      const from = async (origin: string, path: string, init: Record<string, unknown>): Promise<Answer> => {
        await page.goto(`${origin}/`);
        return page.evaluate(
          async ([url, init]) => {
            try {
              const res = await fetch(url as string, init as RequestInit);
              const text = await res.text();
              return { status: res.status, body: text ? JSON.parse(text) : null };
            } catch (err) {
              return { error: String(err) };
            }
          },
          [`${agent.url}${path}`, init] as const,
        );
      };
      const auth = { authorization: `Bearer ${token}` };

      // Another origin: refused (no CORS answer the page could read), with or without the token.
      const foreign = await from(otherSite.origin, '/claim', {
        method: 'POST',
        headers: { ...auth, 'x-hive-user': 'carol' },
      });
      assert.ok(foreign.error, `another origin read an answer: ${JSON.stringify(foreign)}`);
      assert.equal((await acme.getJob(job.id)).status, 'queued', 'nothing was claimed for the other origin');

      // The web app without the token, with a wrong one: 401.
      assert.equal((await from(webApp.origin, '/health', {})).status, 401);
      assert.equal(
        (await from(webApp.origin, '/health', { headers: { authorization: 'Bearer wrong' } })).status,
        401,
      );
      const health = await from(webApp.origin, '/health', { headers: auth });
      assert.equal(health.status, 200);
      assert.equal((health.body as { status: string }).status, 'ready');

      // Another user's name: 403. Its own user: the job, as the blueprint answers it.
      const wrongUser = await from(webApp.origin, '/claim', {
        method: 'POST',
        headers: { ...auth, 'x-hive-user': 'alice' },
      });
      assert.equal(wrongUser.status, 403);
      const claimed = await from(webApp.origin, '/claim', {
        method: 'POST',
        headers: { ...auth, 'x-hive-user': 'carol' },
      });
      assert.equal(claimed.status, 200, JSON.stringify(claimed));
      assert.deepEqual(claimed.body, {
        jobId: job.id,
        inputCid: null,
        owner: 'carol',
        permlink: 'clip-of-carol',
        isShort: true,
        qualities: ['480p'],
      });

      // The user stops it from the web app: reported failed (retryable) to the coordinator.
      const stopped = await from(webApp.origin, '/fail', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ jobId: job.id, error: 'stopped from the dashboard' }),
      });
      assert.equal(stopped.status, 200, JSON.stringify(stopped));
      const deadline = Date.now() + 30_000;
      let now = await acme.getJob(job.id);
      while (now.status !== 'failed' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        now = await acme.getJob(job.id);
      }
      assert.equal(now.status, 'failed');
      assert.equal((now.error as { code?: string } | null)?.code, 'agent_job_stopped');
    } finally {
      await browser?.close();
      await acme.cancelJob(job.id).catch(() => undefined);
    }
  });
});
