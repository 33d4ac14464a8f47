import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, resolveClientTarget } from '../../config.js';
import { ValidationError } from '../../errors.js';
import { createSecretBox, resolveServerKey } from '../../identity/index.js';
import { HIVE_ACTIVE_KEY_CONTEXT, publicKeyOf } from '../../market/index.js';
import type { StatementView as Statement, WithdrawalView } from '../../market/wire.js';
import { adminApiCall } from '../keys.js';
import { type ClientFlags, output, withClientOptions } from './common.js';

const call = <T>(
  flags: ClientFlags,
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<T> => {
  const config = loadConfig({ flags: { url: flags.url, apiKey: flags.apiKey, dataDir: flags.dataDir } });
  return adminApiCall<T>(resolveClientTarget(config), method, path, body, headers);
};

/** One withdrawal as a line: time, id, amount, destination, state, trx id or error. Pure. */
export function withdrawalText(w: WithdrawalView): string {
  const tail = w.state === 'failed' ? `refunded: ${w.error ?? ''}` : (w.trxId ?? '');
  return `${w.createdAt.slice(0, 19).replace('T', ' ')}  ${w.id}  ${w.amount.padStart(12)} HBD -> @${w.hiveAccount}  ${w.state.padEnd(9)} ${tail}`.trimEnd();
}

/** A statement as a table: time, movement, amount, balance after, job or memo. Pure. */
export function statementText(s: Statement): string {
  const lines = [`${s.account}  balance ${s.balance} HBD`];
  for (const e of s.entries) {
    lines.push(
      `${e.at.slice(0, 19).replace('T', ' ')}  ${e.kind.padEnd(8)} ${e.amount.padStart(12)}  ${e.balanceAfter.padStart(12)}  ${e.jobId ?? e.memo ?? ''}`,
    );
  }
  if (s.withdrawals?.length) {
    lines.push('', 'withdrawals');
    for (const w of s.withdrawals) lines.push(withdrawalText(w));
  }
  return lines.join('\n');
}

/**
 * `vidmesh wallet`: the caller's marketplace account (docs/marketplace.md): balance and statement,
 * `wallet deposit` (a deposit id to send HBD with), `wallet withdraw AMOUNT` (HBD to the caller's own
 * Hive account), `wallet seal-key` (the operator's Hive active key sealed for `VIDMESH_HIVE_ACTIVE_KEY`).
 */
export function register(program: Command): void {
  const wallet = program.command('wallet').description('your marketplace wallet (HBD): statement, deposits');
  withClientOptions(
    wallet
      .command('show', { isDefault: true })
      .description('balance and statement, newest first (the default)')
      .option('--before <entryId>', 'older entries, before this entry id'),
  ).action(async (flags: ClientFlags & { before?: string }) => {
    const q = flags.before ? `?before=${encodeURIComponent(flags.before)}` : '';
    const s = await call<Statement>(flags, 'GET', `/api/v1/wallet${q}`);
    output(flags, s, () => statementText(s));
  });
  withClientOptions(
    wallet
      .command('deposit')
      .description('a deposit id: send HBD to the operator account with it as the memo'),
  ).action(async (flags: ClientFlags) => {
    const d = await call<{ id: string; to: string | null; memo: string }>(
      flags,
      'POST',
      '/api/v1/wallet/deposits',
    );
    output(flags, d, () =>
      d.to
        ? `send HBD to @${d.to} with the memo ${d.memo} (credited once the transfer is in the account history)`
        : `deposit id ${d.id} (this coordinator has no Hive account configured)`,
    );
  });
  withClientOptions(
    wallet
      .command('withdraw')
      .description(
        'send HBD from your balance to your own Hive account (your Keychain account, or the one the operator bound to your tenant)',
      )
      .argument('<amount>', 'HBD, up to 3 decimals, e.g. 2.500')
      .option(
        '--idempotency-key <key>',
        'reuse the key of a withdrawal whose answer was lost: it is not sent twice (default: a new key)',
      ),
  ).action(async (amount: string, flags: ClientFlags & { idempotencyKey?: string }) => {
    const w = await call<WithdrawalView>(
      flags,
      'POST',
      '/api/v1/wallet/withdrawals',
      { amount },
      { 'idempotency-key': flags.idempotencyKey ?? randomUUID() },
    );
    output(flags, w, () => `withdrawal ${w.id}: ${w.amount} HBD to @${w.hiveAccount}, ${w.state}`);
  });
  wallet
    .command('seal-key')
    .description(
      "seal the operator's Hive active key (WIF, from VIDMESH_HIVE_ACTIVE_KEY or stdin) with the server key, for VIDMESH_HIVE_ACTIVE_KEY",
    )
    .option('--data-dir <dir>', 'data dir holding secret-key (default ./.vidmesh)')
    .action(async (flags: { dataDir?: string }) => {
      const config = loadConfig({ flags: { dataDir: flags.dataDir } });
      let wif = process.env.VIDMESH_HIVE_ACTIVE_KEY?.trim();
      if (!wif) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        wif = Buffer.concat(chunks).toString('utf8').trim();
      }
      try {
        publicKeyOf(wif);
      } catch {
        throw new ValidationError('seal-key: not a WIF private key');
      }
      const key = await resolveServerKey({ keyFile: join(config.dataDir, 'secret-key'), env: process.env });
      process.stdout.write(`${createSecretBox(key).seal(wif, HIVE_ACTIVE_KEY_CONTEXT)}\n`);
    });
}
