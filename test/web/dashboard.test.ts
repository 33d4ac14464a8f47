import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { loadConfig } from '../../src/config.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { createSqlApiKeyStore } from '../../src/identity/index.js';
import type { JobStore } from '../../src/jobs/index.js';
import { mediaDir, packageRoot } from '../../src/paths.js';
import { launchChromium } from '../helpers/player.js';

/**
 * The dashboard in a real browser (Debian's Chromium via playwright-core) against `startCoordinator`
 * (what `vidmesh serve` runs) in-process: PGlite, one in-process encoder running real ffmpeg, the built
 * web/dist, the bootstrap admin key and a hashed read-only key. Covers
 * sign-in (httpOnly session cookie), upload via the Submit page, live progress in the Jobs table over
 * the dashboard SSE stream, playback with a manual quality switch, a failing job's reason and log with
 * retry from the page, a read-only key (no controls, API refuses), CSRF and sign-out.
 * Screenshots of every page go to test-artifacts/dashboard/.
 */

const ARTIFACTS = join(packageRoot(), 'test-artifacts', 'dashboard');
const WEB_ROOT = join(packageRoot(), 'web', 'dist');
/** Page-side expression (this project compiles without DOM types, so page code is passed as strings). */
const VIDEO = "document.querySelector('video')";

/**
 * Installed before any page script (through the DevTools protocol, so the page's CSP does not apply):
 * sums layout shifts (CLS entries without recent input) and records the highest upload progress shown.
 */
const PROBES = `
window.__probe = { cls: 0, uploadMax: -1 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__probe.cls += e.value;
}).observe({ type: 'layout-shift', buffered: true });
document.addEventListener('DOMContentLoaded', () => {
  new MutationObserver(() => {
    const el = document.querySelector('[aria-label="upload progress"]');
    if (el) window.__probe.uploadMax = Math.max(window.__probe.uploadMax, Number(el.getAttribute('aria-valuenow')));
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
});`;

/**
 * Polls a page expression until it is truthy. Not `page.waitForFunction`: its string predicates run
 * through `eval` in the page, which the dashboard's CSP (no 'unsafe-eval') rightly refuses.
 */
async function until(page: Page, expression: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('web dashboard (Chromium, real coordinator, PGlite, 1 encoder)', () => {
  let dir: string;
  let server: RunningCoordinator;
  let store: JobStore;
  let url = '';
  let ADMIN_KEY = '';
  let READ_KEY = '';
  let browser: Browser;
  let launching: Promise<Browser> | undefined;
  let clip: string;

  before(async () => {
    assert.ok(existsSync(join(WEB_ROOT, 'index.html')), 'web/dist missing: run `npm run build` first');
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-web-'));
    await mkdir(ARTIFACTS, { recursive: true });
    // 4 s of the real 720p clip (stream copy: no CPU spent).
    clip = join(dir, 'bbb-4s.mp4');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-i',
      join(mediaDir(), 'big_buck_bunny_10s.mp4'),
      '-t',
      '4',
      '-c',
      'copy',
      clip,
    ]);

    const config = loadConfig({
      env: {},
      flags: {
        port: 0,
        dataDir: dir,
        heartbeatMs: 1000,
        maintenanceMs: 500,
        maxAttempts: 1,
        logLevel: 'silent',
      },
    });
    // Chromium starts while PGlite initialises (both take seconds on a loaded 2-core box).
    launching = launchChromium();
    launching.catch(() => {});
    server = await startCoordinator(config);
    store = server.store;
    url = server.url;
    ADMIN_KEY = server.apiKey;
    READ_KEY = (await createSqlApiKeyStore(server.db).create({ name: 'dashboard-reader', scopes: ['read'] }))
      .plaintext;
    browser = await launching;
  });

  after(async () => {
    // A failed `before` may leave a launched browser behind: close it too.
    await (browser ?? (await launching?.catch(() => undefined)))?.close();
    await server?.stop({ graceMs: 500 });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  /** Screenshot, then assert the page does not scroll sideways (nothing wider than the viewport). */
  async function shotFits(page: Page, name: string) {
    await shot(page, name);
    const [scroll, client] = (await page.evaluate(
      '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
    )) as [number, number];
    assert.ok(scroll <= client, `${name}: page is ${scroll} px wide in a ${client} px viewport`);
  }

  async function signIn(page: Page, key: string) {
    await page.goto(url);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
  }

  let doneJobId = '';
  let deadJobId = '';

  test('sign in, upload, live progress to 100 %, play and switch quality', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await context.addInitScript(PROBES);
    const page = await context.newPage();
    try {
      await page.goto(url);
      await shot(page, '0-signin');
      await page.getByLabel('API key').fill('vmk_wrong_key');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'invalid API key' }).waitFor();
      await signIn(page, ADMIN_KEY);

      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === 'vidmesh_session');
      assert.ok(session, 'session cookie set');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Strict');
      assert.ok(!session.value.includes(ADMIN_KEY), 'the key is sealed, not stored in clear');
      assert.equal(await page.evaluate('document.cookie'), '', 'page JS cannot read the session');
      assert.equal(await page.evaluate('localStorage.length'), 0);

      await page.getByRole('link', { name: 'Submit' }).click();
      await page.getByLabel('Video file').setInputFiles(clip);
      await page.getByLabel('Ladder preset').selectOption('fast');
      await page.getByLabel('Title (optional)').fill('bunny 4 s');
      await shot(page, '1-submit');
      await page.getByRole('button', { name: 'Submit job' }).click();
      await page.waitForURL(/\/jobs\/[\w-]+$/);
      doneJobId = page.url().split('/').pop() ?? '';
      assert.equal(await page.evaluate('window.__probe.uploadMax'), 100, 'upload progress bar reached 100 %');

      // Watch the Jobs table: progress arrives over the one dashboard SSE stream, not per-row polling.
      let listRequests = 0;
      page.on('request', (r) => {
        if (/\/api\/v1\/jobs(\?|$)/.test(r.url())) listRequests++;
      });
      await page.getByRole('link', { name: 'Jobs' }).click();
      const row = page.locator(`tr[data-job="${doneJobId}"]`);
      await row.waitFor();
      await page.evaluate('window.__probe.cls = 0');
      const seen = new Set<number>();
      const bar = row.getByRole('progressbar');
      const deadline = Date.now() + 60_000;
      for (;;) {
        seen.add(Number(await bar.getAttribute('aria-valuenow')));
        if ((await row.getAttribute('data-status')) === 'completed') break;
        assert.ok(Date.now() < deadline, `job did not complete; progress seen ${[...seen]}`);
        await page.waitForTimeout(150);
      }
      assert.equal(await bar.getAttribute('aria-valuenow'), '100');
      assert.ok(listRequests <= 1, `the table fetched the job list ${listRequests} times`);
      const cls = Number(await page.evaluate('window.__probe.cls'));
      assert.ok(cls < 0.01, `layout shift while progress moved: ${cls}`);
      await row.locator('img').waitFor();
      await shot(page, '2-jobs');

      await row.getByRole('link').first().click();
      await page.locator('video').waitFor();
      assert.equal(
        await page.getByRole('progressbar', { name: 'job progress' }).getAttribute('aria-valuenow'),
        '100',
      );
      const quality = page.getByLabel('Quality');
      await until(
        page,
        `document.querySelectorAll('select[aria-label="Quality"] option').length >= 3`,
        20_000,
      );
      await page.evaluate(`${VIDEO}.play().then(() => true)`);
      await until(page, `${VIDEO}.currentTime > 1`, 20_000);
      const playing = Number(await page.locator('.player').getAttribute('data-level'));
      const target = playing === 0 ? 1 : 0;
      await quality.selectOption(String(target));
      await page.waitForSelector(`.player[data-level="${target}"]`, { timeout: 20_000 });
      const t0 = Number(await page.evaluate(`${VIDEO}.currentTime`));
      await until(page, `${VIDEO}.currentTime > ${t0 + 0.5}`, 20_000);
      await page.getByRole('cell', { name: '1280×720' }).waitFor();
      await page.locator('.timeline li').filter({ hasText: 'running → completed' }).waitFor();
      // Source facts from the encoder's probe, wait vs encode time, poster, a download per rendition.
      await page.locator('[data-source-facts]').filter({ hasText: 'h264 1280×720 @ 24 fps' }).waitFor();
      await page
        .locator('.job-summary')
        .filter({ hasText: /waited .* encoded .* total/ })
        .waitFor();
      await page.getByRole('img', { name: 'Poster frame' }).waitFor();
      const playlist = page.getByRole('link', { name: '720p playlist' });
      assert.equal((await page.request.get((await playlist.getAttribute('href')) ?? '')).status(), 200);
      await shotFits(page, '3-job-detail');

      await page.getByRole('link', { name: 'Overview' }).click();
      await page.getByRole('heading', { name: 'Recent failures and rescues' }).waitFor();
      assert.match((await page.locator('.tile').filter({ hasText: 'completed' }).textContent()) ?? '', /^1/);
      await page
        .locator('figcaption')
        .filter({ hasText: /queue wait \(mean .*\) vs .* encode time \(mean/ })
        .waitFor();
      await page.getByRole('button', { name: '24h' }).click();
      await page.locator('figcaption').filter({ hasText: 'over the last 24 h' }).waitFor();
      assert.equal(await page.getByRole('button', { name: '24h' }).getAttribute('aria-pressed'), 'true');
      await shotFits(page, '4-overview');
      await page.getByRole('link', { name: 'Encoders' }).click();
      const enc = page.locator('tr[data-encoder$="-serve-1"]');
      await enc.waitFor();
      // Host and load from the encoder's heartbeats (the first is sent at start).
      await enc.locator('[data-load="cpu"] meter').waitFor();
      await enc.locator('[data-load="memory"] meter').waitFor();
      assert.ok((await enc.locator('.enc-host').textContent())?.trim(), 'the host name is shown');
      await page
        .getByRole('region', { name: 'Fleet summary' })
        .filter({ hasText: 'infrastructure online' })
        .waitFor();
      await shotFits(page, '5-encoders');
      // Ban then approve again (the issue-6 routes): the operator's decision lands in the store.
      const encoderId = server.encoders[0].encoderId ?? '';
      await enc.getByRole('button', { name: 'Ban' }).click();
      await enc.getByText('banned').waitFor();
      assert.equal((await store.getEncoder(encoderId)).approval, 'banned');
      await enc.getByRole('button', { name: 'Approve' }).click();
      await enc.getByRole('button', { name: 'Ban' }).waitFor();
      assert.equal((await store.getEncoder(encoderId)).approval, 'approved');

      await page.getByRole('link', { name: 'Jobs' }).click();
      await page.locator(`tr[data-job="${doneJobId}"]`).waitFor();
      await shotFits(page, '2-jobs-wide');

      // Phone width: every page fits without sideways scrolling (tables become stacked cards).
      await page.setViewportSize({ width: 390, height: 844 });
      await page.locator(`tr[data-job="${doneJobId}"]`).waitFor();
      await shotFits(page, '6-phone-jobs');
      await page.getByRole('link', { name: 'Overview' }).click();
      await page.getByRole('heading', { name: 'History' }).waitFor();
      await shotFits(page, '6-phone-overview');
      await page.getByRole('link', { name: 'Encoders' }).click();
      await enc.waitFor();
      await shotFits(page, '6-phone-encoders');
      await page.getByRole('link', { name: 'Submit' }).click();
      await page.getByLabel('Video file').waitFor();
      await shotFits(page, '6-phone-submit');
      await page.goto(`${url}/jobs/${doneJobId}`);
      await page.locator('[data-source-facts]').waitFor();
      await page.getByRole('cell', { name: '1280×720' }).waitFor();
      await shotFits(page, '6-phone-job-detail');
    } finally {
      await context.close();
    }
  });

  test('a failing job shows its reason and log; retry from the page re-runs it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
    const page = await context.newPage();
    try {
      await signIn(page, ADMIN_KEY);
      await page.getByRole('link', { name: 'Submit' }).click();
      // Drag and drop: a 64 KiB "video" of zeros dropped on the drop zone.
      const dataTransfer = await page.evaluateHandle(`(() => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(65536)], 'broken.mp4', { type: 'video/mp4' }));
        return dt;
      })()`);
      await page.getByRole('region', { name: 'Drop zone' }).dispatchEvent('drop', { dataTransfer });
      await page.getByText('broken.mp4 · 64 KiB').waitFor();
      await page.getByRole('button', { name: 'Submit job' }).click();
      await page.waitForURL(/\/jobs\/[\w-]+$/);
      deadJobId = page.url().split('/').pop() ?? '';
      const reason = page.locator('.failure .reason');
      await reason.waitFor({ timeout: 30_000 });
      assert.ok(((await reason.textContent()) ?? '').length > 0);
      await until(
        page,
        `!document.querySelector('pre.log').textContent.includes('no log lines yet')`,
        10_000,
      );
      const before = await store.get(deadJobId);
      assert.equal(before.status, 'dead');
      await shot(page, '7-failed-job');

      await page.getByRole('button', { name: 'Retry job' }).click();
      await page.locator('.timeline li').filter({ hasText: 'dead → queued' }).waitFor();
      const events = await store.listEvents(deadJobId);
      const retry = events.find((e) => e.from === 'dead' && e.to === 'queued');
      assert.ok(retry, 'retry transition recorded');
      assert.equal(retry.actor, 'api_key:bootstrap', 'retried by the signed-in principal');
      // It fails again (same bytes) and the page follows it back to dead over the re-opened stream.
      await page.locator('.timeline li').filter({ hasText: '→ dead' }).nth(1).waitFor({ timeout: 30_000 });
      await page.getByRole('button', { name: 'Retry job' }).waitFor();
      await shot(page, '8-failed-job-retried-dark');

      // CSRF: the cookie alone does not authorise a mutation.
      const csrf = await page.evaluate(
        async (id) => (await fetch(`/api/v1/jobs/${id}/retry`, { method: 'POST' })).status,
        deadJobId,
      );
      assert.equal(csrf, 403);
    } finally {
      await context.close();
    }
  });

  test('a read-only key sees no cancel/retry controls and the API refuses them; sign-out ends the session', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
      await signIn(page, READ_KEY);
      assert.equal(await page.getByRole('link', { name: 'Submit' }).count(), 0);
      // A tenant key's Overview counts its tenant's jobs (the completed and the dead one above).
      await page.locator('.tile').first().waitFor();
      assert.match((await page.locator('.tile').filter({ hasText: 'completed' }).textContent()) ?? '', /^1/);
      assert.match((await page.locator('.tile').filter({ hasText: 'dead' }).textContent()) ?? '', /^1/);
      // Keyboard: the first Tab reaches the skip link; links work with Enter.
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate('document.activeElement.textContent'), 'Skip to content');
      await page.getByRole('link', { name: 'Jobs' }).focus();
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/jobs$/);
      await page.locator(`tr[data-job="${deadJobId}"]`).waitFor();
      assert.equal(await page.getByRole('button', { name: /cancel|retry/i }).count(), 0);
      await shot(page, '9-jobs-read-only');
      await page.goto(`${url}/jobs/${deadJobId}`);
      await page.locator('.failure .reason').waitFor();
      assert.equal(await page.getByRole('button', { name: /cancel|retry/i }).count(), 0);
      await page.getByRole('link', { name: 'Encoders' }).click();
      await page.locator('tr[data-encoder$="-serve-1"]').waitFor();
      assert.equal(await page.getByRole('button', { name: /approve|ban/i }).count(), 0);
      await page.goto(`${url}/jobs/${deadJobId}`);
      await page.locator('.failure .reason').waitFor();

      const refused = await page.evaluate(async (id) => {
        const h = { 'x-vidmesh-csrf': '1', 'content-type': 'application/json' };
        const retry = await fetch(`/api/v1/jobs/${id}/retry`, { method: 'POST', headers: h, body: '{}' });
        const cancel = await fetch(`/api/v1/jobs/${id}`, { method: 'DELETE', headers: h });
        const ban = await fetch('/api/v1/encoders/x/ban', { method: 'POST', headers: h });
        return [retry.status, ((await retry.json()) as { code: string }).code, cancel.status, ban.status];
      }, deadJobId);
      assert.deepEqual(refused, [403, 'forbidden', 403, 403]);
      assert.equal((await store.get(deadJobId)).status, 'dead', 'nothing changed');

      const cookie = (await context.cookies()).find((c) => c.name === 'vidmesh_session');
      assert.ok(cookie);
      const headers = { cookie: `vidmesh_session=${cookie.value}` };
      assert.equal((await fetch(`${url}/api/v1/jobs`, { headers })).status, 200);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('API key').waitFor();
      assert.equal(
        (await fetch(`${url}/api/v1/jobs`, { headers })).status,
        401,
        'signed-out session is dead',
      );
    } finally {
      await context.close();
    }
  });
});
