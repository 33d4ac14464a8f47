import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';
import { packageRoot } from '../../src/paths.js';
import { type Hand, pairAgent, registerHand } from '../helpers/agent.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';
import { killChildren, until } from '../helpers/processes.js';

/**
 * Routing moves on when the user's own encoder cannot do the job (issue 16 follow-ups): a job failed by
 * the user's agent goes to their browser next and then to the open fleet, never back to the encoder that
 * failed it; and an agent killed with SIGKILL during its window gives the job up as soon as its
 * heartbeats stop (three heartbeat intervals), not when its window would have ended. Windows are long
 * here (120 s) so that only the rerouting can hand the job on within the test.
 */

const WINDOW_S = 120;
const HEARTBEAT_MS = 1000;
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const run = promisify(execFile);

describe('rerouting: a failing or vanished own encoder hands the job on', () => {
  let tmp: string;
  let server: RunningCoordinator;
  let acme: VidmeshClient;
  let acmeKey: string;
  let uploadId: string;
  const children: ChildProcess[] = [];

  const hand = (
    name: string,
    kind: 'desktop' | 'browser' | 'infrastructure',
    auth: { identity: Identity } | { apiKey: string },
    extraCaps: Record<string, unknown> = {},
  ) => registerHand(server.url, name, kind, auth, extraCaps);

  const submit = (user: string) =>
    acme.submitJob({
      source: { type: 'upload', id: uploadId },
      destination: { type: 'local' },
      ladder: { short: true, speed: 'ultrafast' },
      network: 'community',
      chunking: 'off',
      user,
    } as never);

  /** Claims in a loop (the job may be backing off) until `h` gets a job or `ms` pass. */
  const claimWithin = async (h: Hand, ms: number) =>
    until(`${h.id} claims a job`, ms, async () => (await h.transport.claim(h.id, 500)) ?? false);

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-reroute-'));
    server = await startTestCoordinator(
      join(tmp, 'coordinator'),
      { heartbeatMs: HEARTBEAT_MS, maintenanceMs: 200, rescueGraceMs: 0 },
      { VIDMESH_AGENT_GRACE_S: String(WINDOW_S), VIDMESH_BROWSER_GRACE_S: String(WINDOW_S) },
    );
    acmeKey = await createTenantKey(server, 'acme');
    acme = createClient({ url: server.url, apiKey: acmeKey });
    uploadId = (await acme.upload(await makeClip(join(tmp, 'short.mp4'), { seconds: 3 }))).upload.id;
  });

  after(async () => {
    await killChildren(children);
    await server?.stop({ graceMs: 1000 });
    await rm(tmp, { recursive: true, force: true });
  });

  test("a job failed by alice's agent goes to her browser, then (failed there too) to the open fleet; never back", async () => {
    const agentId = generateIdentity();
    const browserId = generateIdentity();
    assert.equal((await pairAgent(server.url, acmeKey, agentId, 'alice')).status, 201);
    assert.equal((await pairAgent(server.url, acmeKey, browserId, 'alice')).status, 201);
    const agent = await hand('alice-agent', 'desktop', { identity: agentId });
    const browser = await hand('alice-tab', 'browser', { identity: browserId }, { maxHeight: 480 });
    const operator = await hand('operator', 'infrastructure', { apiKey: server.apiKey });
    const job = await submit('alice');
    const first = await agent.transport.claim(agent.id, 0);
    assert.equal(first?.id, job.id, 'her agent gets it first');
    await agent.transport.fail(
      agent.id,
      { jobId: job.id, leaseToken: first!.leaseToken },
      { error: { code: 'gpu_lost', message: 'the GPU went away' }, retryable: true },
    );
    // Her browser is next, well before the agent's 120 s window would have ended.
    const inTab = await claimWithin(browser, 30_000);
    assert.equal(inTab.id, job.id);
    assert.equal(await agent.transport.claim(agent.id, 0), null, 'the agent that failed it is skipped');
    assert.equal(await operator.transport.claim(operator.id, 0), null, 'the browser step runs first');
    await browser.transport.fail(
      browser.id,
      { jobId: job.id, leaseToken: inTab.leaseToken },
      { error: { code: 'webcodecs_failed', message: 'encoder closed' }, retryable: true },
    );
    const open = await claimWithin(operator, 30_000);
    assert.equal(open.id, job.id);
    assert.equal(await agent.transport.claim(agent.id, 0), null);
    assert.equal(await browser.transport.claim(browser.id, 0), null);

    const events = await acme.jobHistory(job.id);
    assert.deepEqual(
      events.filter((e) => e.reason === 'claimed').map((e) => e.routing?.route),
      ['agent', 'browser', 'open'],
    );
    const rerouted = events.filter((e) => e.reason === 'retry_scheduled').map((e) => e.routing?.rerouted);
    assert.deepEqual(
      rerouted.map((r) => r && [r.step, r.encoderId, r.why]),
      [
        ['agent', agent.id, 'failed'],
        ['browser', browser.id, 'failed'],
      ],
    );
    await acme.cancelJob(job.id);
  });

  test("alice's agent killed with SIGKILL during its window: the job goes to the open fleet once its heartbeats stop", async () => {
    const dir = join(tmp, 'agent-bob');
    const env = {
      ...process.env,
      ENCODER_PRIVATE_KEY: '',
      VIDMESH_URL: '',
      VIDMESH_API_KEY: '',
      VIDMESH_HEARTBEAT_MS: String(HEARTBEAT_MS),
      VIDMESH_LOG_LEVEL: 'silent',
    };
    await run(
      process.execPath,
      [
        CLI,
        'agent',
        'pair',
        '--coordinator',
        server.url,
        '--api-key',
        acmeKey,
        '--user',
        'bob',
        '--data-dir',
        dir,
      ],
      { env },
    );
    // --on-request: the agent is online and idle but does not take the job by itself.
    const child = spawn(
      process.execPath,
      [
        CLI,
        'agent',
        '--coordinator',
        server.url,
        '--user',
        'bob',
        '--data-dir',
        dir,
        '--agent-port',
        '0',
        '--hwaccel',
        'none',
        '--on-request',
      ],
      { env, stdio: 'ignore' },
    );
    children.push(child);
    const operator = await hand('operator-2', 'infrastructure', { apiKey: server.apiKey });
    const check = async () => {
      const res = await fetch(`${server.url}/api/v1/agent/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'bob' }),
      });
      return (await res.json()) as { status: string; encoderId: string | null };
    };
    const ready = await until('the agent process is ready', 30_000, async () => {
      const c = await check();
      return c.status === 'ready' && c;
    });
    const job = await submit('bob');
    const plan = (await acme.jobHistory(job.id)).find((e) => e.reason === 'routed')?.routing?.steps;
    const agentStep = plan?.find((s) => s.step === 'agent') as { encoderId?: string; until?: string };
    assert.equal(agentStep?.encoderId, ready.encoderId, 'the agent step went to the running agent');
    assert.equal(await operator.transport.claim(operator.id, 0), null, 'its window holds while it lives');

    child.kill('SIGKILL');
    const open = await claimWithin(operator, 60_000);
    assert.equal(open.id, job.id, 'the open fleet got it after the agent died');
    const events = await acme.jobHistory(job.id);
    const rerouted = events.find((e) => e.reason === 'rerouted')?.routing?.rerouted;
    assert.equal(rerouted?.encoderId, ready.encoderId);
    assert.equal(rerouted?.why, 'silent');
    const claimed = events.find((e) => e.reason === 'claimed');
    assert.equal(claimed?.routing?.route, 'open');
    assert.ok(
      new Date(claimed!.at) < new Date(agentStep.until!),
      `claimed at ${claimed?.at}, before the window's end ${agentStep.until}`,
    );
    await acme.cancelJob(job.id);
  });
});
