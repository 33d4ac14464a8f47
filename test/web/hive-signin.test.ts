import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { createLedger, EXTERNAL_ACCOUNT, signBuffer, userAccount } from '../../src/market/index.js';
import { launchChromium } from '../helpers/browser.js';
import { startTestCoordinator } from '../helpers/coordinator.js';
import { type HiveNode, startHiveNode } from '../helpers/hive-node.js';
import { until } from '../helpers/processes.js';

/**
 * "Sign in with Hive Keychain" on the dashboard in Chromium. The browser has a stand-in
 * `window.hive_keychain` whose `requestSignBuffer(account, message, 'Posting', cb)` answers as the
 * extension does (`{success, result: <hex signature>}`), signing in the test process with a test
 * account's posting key (dhive); the coordinator checks it against the account's keys from the
 * stand-in Hive node (`condenser_api.get_accounts`).
 */
describe('dashboard: Sign in with Hive Keychain, then the wallet page', () => {
  let root: string;
  let hive: HiveNode;
  let coordinator: RunningCoordinator;
  let browser: Browser;
  let carol: { posting: string; active: string };
  let signer = '';
  const signed: Array<{ message: string; signature: string }> = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-hive-signin-'));
    const launching = launchChromium();
    launching.catch(() => {});
    hive = await startHiveNode();
    const op = hive.createAccount('vidmesh-op', 1_000_000);
    carol = hive.createAccount('carol');
    coordinator = await startTestCoordinator(join(root, 'coordinator'), {
      hiveNode: hive.url,
      hiveAccount: 'vidmesh-op',
      hiveActiveKey: op.active,
      marketIntervalMs: 200,
    });
    browser = await launching;
  });

  after(async () => {
    await browser?.close();
    await coordinator?.stop({ graceMs: 0 });
    await hive?.close();
    await rm(root, { recursive: true, force: true });
  });

  test('a Keychain signature by the posting key signs in as hive:<account>; a wrong key and a replay do not', async () => {
    const context = await browser.newContext();
    await context.exposeFunction('__standInKeychainSign', (message: string) => {
      const signature = signBuffer(message, signer);
      signed.push({ message, signature });
      return signature;
    });
    await context.addInitScript(`
      window.hive_keychain = {
        requestSignBuffer(account, message, role, callback) {
          if (role !== 'Posting') return callback({ success: false, error: 'role', message: 'wrong role' });
          window.__standInKeychainSign(message).then(
            (result) => callback({ success: true, result, data: { username: account, message, method: role } }),
            (e) => callback({ success: false, error: 'sign', message: String(e) }),
          );
        },
      };`);
    const page = await context.newPage();
    try {
      await page.goto(coordinator.url);
      // A key that is not carol's posting key (her active key) is refused with the reason shown.
      signer = carol.active;
      await page.getByLabel('Hive account').fill('carol');
      await page.getByRole('button', { name: 'Sign in with Hive Keychain' }).click();
      await page.getByRole('alert').filter({ hasText: 'not by a posting key' }).waitFor();
      assert.equal(
        (await context.cookies()).find((c) => c.name === 'vidmesh_session'),
        undefined,
      );

      signer = carol.posting;
      await page.getByRole('button', { name: 'Sign in with Hive Keychain' }).click();
      await page.getByRole('navigation', { name: 'Main' }).waitFor();
      const session = (await context.cookies()).find((c) => c.name === 'vidmesh_session');
      assert.ok(session?.httpOnly, 'httpOnly session cookie');
      const who = (await page.evaluate("fetch('/api/v1/session').then((r) => r.json())")) as {
        principal: { id: string; tenant: string; scopes: string[] };
      };
      assert.deepEqual(who.principal, { id: 'hive:carol', tenant: 'hive:carol', scopes: ['submit', 'read'] });
      const wallet = (await page.evaluate("fetch('/api/v1/wallet').then((r) => r.json())")) as {
        account: string;
      };
      assert.equal(wallet.account, 'user:hive:carol', "the account's own wallet");

      // The wallet page: the account's balance and statement, and a deposit id to send HBD with.
      await createLedger(coordinator.db).post({
        key: 'hive:web:0',
        kind: 'deposit',
        memo: 'dep_web from @carol',
        legs: [
          { account: EXTERNAL_ACCOUNT, amount: -4_200 },
          { account: userAccount('hive:carol'), amount: 4_200 },
        ],
      });
      await page.getByRole('link', { name: 'Wallet' }).click();
      await page.locator('[data-balance]').filter({ hasText: '4.200 HBD' }).waitFor();
      const rows = await page.getByRole('table', { name: 'Statement' }).locator('tbody tr').allTextContents();
      assert.equal(rows.length, 1);
      assert.match(rows[0]!, /deposit.*4\.200.*4\.200.*dep_web from @carol/);
      await page.getByRole('button', { name: 'New deposit id' }).click();
      await page
        .locator('[data-deposit]')
        .filter({ hasText: /Send HBD to @vidmesh-op with the memo dep_/ })
        .waitFor();
      // A withdrawal to carol's own account: listed at once, then paid by a signed transfer.
      const before = hive.balance('carol');
      await page.getByLabel('Withdraw (HBD)').fill('1.000');
      await page.getByRole('button', { name: 'Withdraw to my Hive account' }).click();
      await page
        .getByRole('table', { name: 'Withdrawals' })
        .locator('tbody tr')
        .filter({ hasText: '@carol' })
        .waitFor();
      await page.locator('[data-balance]').filter({ hasText: '3.200 HBD' }).waitFor();
      await until('the withdrawal reached carol', 30_000, () => hive.balance('carol') === before + 1_000);
      const sent = hive.transfers.filter((t) => t.to === 'carol');
      assert.deepEqual(
        sent.map((t) => [t.from, t.amount]),
        [['vidmesh-op', 1_000]],
      );

      // The signed statement names this origin, a time and a nonce; it signs in once only.
      const last = signed.at(-1)!;
      assert.match(
        last.message,
        new RegExp(`^vidmesh: sign in\\naccount: carol\\norigin: ${coordinator.url}\\n`),
      );
      const replay = await fetch(`${coordinator.url}/api/v1/session/hive`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-vidmesh-csrf': '1' },
        body: JSON.stringify({ account: 'carol', ...last }),
      });
      assert.equal(replay.status, 401, await replay.clone().text());
      assert.equal(((await replay.json()) as { code: string }).code, 'hive_signature_invalid');
      // The same signature presented for another account or another site is refused too.
      const other = await fetch(`${coordinator.url}/api/v1/session/hive`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-vidmesh-csrf': '1' },
        body: JSON.stringify({ account: 'vidmesh-op', ...last }),
      });
      assert.equal(other.status, 400);
    } finally {
      await context.close();
    }
  });
});
