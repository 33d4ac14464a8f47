import { randomBytes } from 'node:crypto';
import type { Database } from '../jobs/db.js';
import {
  InsufficientFundsError,
  NoHiveAccountError,
  WithdrawalKeyReusedError,
  WithdrawalLimitError,
} from './errors.js';
import { HIVE_ACCOUNT_RE } from './hive.js';
import { type Ledger, userAccount } from './ledger.js';
import { formatHbd } from './money.js';
import { queuePayout } from './rail.js';
import * as Q from './withdrawals-sql.js';

/**
 * Withdrawals (docs/marketplace.md): a payer sends part of its ledger balance to its own Hive account.
 * The request is one database transaction that locks the payer's ledger account, checks the
 * Idempotency-Key, the minimum and the rolling 24 h cap, moves the amount from the payer to the Hive
 * hot wallet (`withdrawal` movement: the balance can never go below zero) and queues the payout that
 * the Hive rail signs and broadcasts (src/market/rail.ts). A payout that fails is refunded by the rail.
 *
 * The destination is never taken from the request: it is the account of a Hive Keychain user
 * (tenant `hive:<account>`), or the account the payer verified with a Keychain-signed statement.
 */

export interface WithdrawalLimits {
  /** Smallest withdrawal, milli-HBD. */
  min: number;
  /** Most a payer may withdraw in any 24 h (failed withdrawals not counted), milli-HBD. */
  dailyCap: number;
}

export interface Withdrawal {
  id: string;
  payer: string;
  idempotencyKey: string;
  hiveAccount: string;
  /** milli-HBD. */
  amount: number;
  /** The payout's state: `pending`, `signed` (broadcast, not confirmed yet), `confirmed` or `failed` (refunded). */
  state: 'pending' | 'signed' | 'confirmed' | 'failed';
  trxId: string | null;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
}

type Row = {
  id: string;
  payer: string;
  idempotency_key: string;
  hive_account: string;
  amount: string;
  created_at: Date;
  state: Withdrawal['state'];
  trx_id: string | null;
  last_error: string | null;
  updated_at: Date;
};
const toWithdrawal = (r: Row): Withdrawal => ({
  id: r.id,
  payer: r.payer,
  idempotencyKey: r.idempotency_key,
  hiveAccount: r.hive_account,
  amount: Number(r.amount),
  state: r.state,
  trxId: r.trx_id,
  lastError: r.state === 'confirmed' ? null : r.last_error,
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});

const DAY_MS = 86_400_000;

export function createWithdrawals(options: {
  db: Database;
  ledger: Ledger;
  limits: WithdrawalLimits;
  clock?: () => Date;
}) {
  const { db, ledger, limits } = options;
  const clock = options.clock ?? (() => new Date());

  /** The Hive account payer `payer` withdraws to, or null: its own for `hive:<account>`, else the verified one. */
  const destinationOf = async (payer: string): Promise<string | null> => {
    const own = /^hive:(.+)$/.exec(payer)?.[1];
    if (own && HIVE_ACCOUNT_RE.test(own)) return own;
    const { rows } = await db.query<{ hive_account: string }>(Q.GET_WALLET_ACCOUNT, [payer]);
    return rows[0]?.hive_account ?? null;
  };

  return {
    limits,
    destinationOf,

    /** Records the Hive account `payer` withdraws to (the caller verified the Keychain-signed statement). */
    async verifyAccount(b: { payer: string; hiveAccount: string; statement: string; signature: string }) {
      await db.query(Q.PUT_WALLET_ACCOUNT, [b.payer, b.hiveAccount, b.statement, b.signature, clock()]);
    },

    /**
     * Withdraws `amount` milli-HBD of `payer`'s balance to its Hive account. The same `key` again
     * returns the first withdrawal (`created: false`) and moves nothing.
     * @throws NoHiveAccountError (409) when the payer has no Hive account to withdraw to
     * @throws WithdrawalLimitError (422) below the minimum or beyond the rolling 24 h cap
     * @throws InsufficientFundsError (402) beyond the balance
     * @throws WithdrawalKeyReusedError (422) when `key` named another amount
     */
    async request(input: {
      payer: string;
      key: string;
      amount: number;
    }): Promise<{ withdrawal: Withdrawal; created: boolean }> {
      const { payer, key, amount } = input;
      const hiveAccount = await destinationOf(payer);
      if (!hiveAccount) {
        throw new NoHiveAccountError(
          'no Hive account to withdraw to: sign in with Hive Keychain, or have the operator bind one (PUT /api/v1/wallet/hive-account, admin)',
        );
      }
      const account = userAccount(payer);
      return db.transaction(async (tx) => {
        const now = clock();
        // The payer's row lock: concurrent withdrawals (and their key and cap checks) run one at a time.
        const locked = await tx.query<{ balance: string }>(Q.LOCK_ACCOUNT, [account]);
        const prior = (await tx.query<Row>(Q.GET_BY_KEY, [payer, key])).rows[0];
        if (prior) {
          if (Number(prior.amount) !== amount || prior.hive_account !== hiveAccount) {
            throw new WithdrawalKeyReusedError('Idempotency-Key was already used for another withdrawal', {
              details: { withdrawalId: prior.id },
            });
          }
          return { withdrawal: toWithdrawal(prior), created: false };
        }
        if (amount < limits.min) {
          throw new WithdrawalLimitError(`the smallest withdrawal is ${formatHbd(limits.min)} HBD`, {
            details: { min: formatHbd(limits.min) },
          });
        }
        const since = new Date(now.getTime() - DAY_MS);
        const withdrawn = Number(
          (await tx.query<{ total: string }>(Q.WITHDRAWN_SINCE, [payer, since])).rows[0]?.total ?? 0,
        );
        if (withdrawn + amount > limits.dailyCap) {
          const left = Math.max(limits.dailyCap - withdrawn, 0);
          throw new WithdrawalLimitError(
            `beyond the daily withdrawal cap of ${formatHbd(limits.dailyCap)} HBD: ${formatHbd(left)} HBD left in the last 24 h`,
            { details: { dailyCap: formatHbd(limits.dailyCap), left: formatHbd(left) } },
          );
        }
        if (!locked.rows[0] || Number(locked.rows[0].balance) < amount) {
          throw new InsufficientFundsError(`insufficient funds in ${account} for a withdrawal`, {
            details: { account },
          });
        }
        const id = `wd_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
        await tx.query(Q.INSERT, [id, payer, key, hiveAccount, amount, now]);
        await queuePayout(
          ledger,
          tx,
          { id, account, hiveAccount, amount, memo: `vidmesh withdrawal ${id}`, kind: 'withdrawal' },
          now,
        );
        const row = (await tx.query<Row>(Q.GET_BY_KEY, [payer, key])).rows[0]!;
        return { withdrawal: toWithdrawal(row), created: true };
      });
    },

    /** A payer's withdrawals, newest first (at most `limit`, default 50, up to 500). */
    async list(payer: string, limit = 50): Promise<Withdrawal[]> {
      const { rows } = await db.query<Row>(Q.LIST, [payer, Math.min(Math.max(limit, 1), 500)]);
      return rows.map(toWithdrawal);
    },
  };
}
export type Withdrawals = ReturnType<typeof createWithdrawals>;
