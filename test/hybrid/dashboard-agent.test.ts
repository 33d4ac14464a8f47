import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { DesktopAgent } from '../../src/agent/index.js';
import { createClient, type VidmeshClient } from '../../src/coordinator/client.js';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { generateIdentity } from '../../src/identity/index.js';
import { pairAgent, startTestAgent } from '../helpers/agent.js';
import { launchChromium } from '../helpers/browser.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';

/**
 * The dashboard's agent badge in headless Chromium (issue 16): the user pairs the page with their
 * running agent (user, pairing token, agent URL), the badge shows the agent's health read from the
 * agent itself, and "Encode on my computer" makes the agent claim the user's waiting job.
 */
describe('dashboard agent badge', () => {
  let tmp: string;
  let server: RunningCoordinator;
  let acme: VidmeshClient;
  let acmeKey: string;
  let agent: DesktopAgent;
  let token: string;
  let browser: Browser | undefined;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-dash-agent-'));
    const launching = launchChromium();
    launching.catch(() => {});
    server = await startTestCoordinator(join(tmp, 'coordinator'), {
      heartbeatMs: 1000,
    });
    acmeKey = await createTenantKey(server, 'acme');
    acme = createClient({ url: server.url, apiKey: acmeKey });
    const identity = generateIdentity();
    assert.equal((await pairAgent(server.url, acmeKey, identity, 'erin')).status, 201);
    ({ agent, token } = await startTestAgent({
      coordinatorUrl: server.url,
      identity,
      user: 'erin',
      dir: join(tmp, 'agent'),
      allowedOrigin: new URL(server.url).origin,
      autoClaim: false,
    }));
    browser = await launching;
  });

  after(async () => {
    await browser?.close();
    await agent?.stop();
    await server?.stop({ graceMs: 500 });
    await rm(tmp, { recursive: true, force: true });
  });

  test('paired in the page, the badge shows the agent ready and "Encode on my computer" starts the job there', async () => {
    const upload = (await acme.upload(await makeClip(join(tmp, 'clip.mp4'), { seconds: 2 }))).upload;
    const page = await browser!.newPage();
    await page.goto(server.url);
    await page.getByLabel('API key').fill(acmeKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const form = page.getByRole('form', { name: 'Pair desktop agent' });
    await form.getByLabel('User').fill('erin');
    await form.getByLabel('Pairing token').fill(token);
    await form.getByLabel('Agent URL').fill(agent.url);
    await form.getByRole('button', { name: 'Pair agent' }).click();
    await page.getByText('Agent (erin): ready').waitFor({ timeout: 20_000 });

    const job = await acme.submitJob({
      source: { type: 'upload', id: upload.id },
      destination: { type: 'local' },
      ladder: { short: true, speed: 'ultrafast' },
      chunking: 'off',
      user: 'erin',
    });
    await page.getByRole('button', { name: 'Encode on my computer' }).click();
    await page.getByRole('status').getByText(job.id).waitFor({ timeout: 20_000 });
    const now = await acme.getJob(job.id);
    assert.equal(now.encoderId, agent.node.encoderId, 'the agent holds the job');
    assert.ok(['leased', 'running', 'verifying', 'completed'].includes(now.status), now.status);
    // The job's page shows the routing plan and the step the claim came in.
    await page.getByRole('status').getByRole('link', { name: job.id }).click();
    await page.getByText(/^agent until .* → browser \(offline\) → open$/).waitFor({ timeout: 20_000 });
    await page.getByText('routed step: agent').waitFor();
    await page.close();
  });
});
