import type { Database, Queryable } from '../jobs/db.js';
import type { Logger } from '../log.js';
import type { HiveRpcError } from './errors.js';
import { type DynamicGlobalProperties, type HiveRpc, signTransaction, transferTransaction } from './hive.js';
import { EXTERNAL_ACCOUNT, type Ledger } from './ledger.js';
import * as Q from './market-sql.js';
import { parseHiveAsset } from './money.js';
import * as R from './rail-sql.js';

/**
 * The Hive rail (docs/marketplace.md): deposits in, payouts out, against the operator's Hive account.
 *
 * Deposits: a payer sends HBD to the operator's account with its deposit id as the memo. The watcher
 * reads the account's history (`condenser_api.get_account_history`), newest page first down to its
 * cursor (kept in `market_cursors`, so a restart resumes), and credits each matching transfer once:
 * the ledger movement's key is `hive:<trx_id>:<op_in_trx>`.
 *
 * Payouts: each `market_payouts` row becomes one HBD `transfer` signed with dhive (active key from
 * config). The trx id and signed transaction are recorded (`signed`) before the broadcast
 * (`condenser_api.broadcast_transaction_synchronous`). When the broadcast fails or times out, the trx
 * id is looked up (`condenser_api.get_transaction`): found means confirmed; not found before the
 * transaction's expiration means the same signed transaction is broadcast again (a node refuses a
 * duplicate, so it can land at most once); not found after it means it never will, and the payout is
 * signed afresh with a new trx id. No payout is ever sent twice.
 *
 * A payout fails when its signed transfer expired unseen and either it was signed `maxAttempts` times
 * or its destination account does not exist (`condenser_api.get_accounts`): it is marked `failed` and,
 * in the same database transaction, its amount goes back from the hot wallet to the ledger account it
 * left (a withdrawal: the user's; an encoder payout: the encoder's earnings), movement key
 * `payout-refund:<id>`. Only after the expiry, so a failed payout can never land later.
 */

/** The secret box context the operator's active key is sealed with (`vidmesh wallet seal-key`). */
export const HIVE_ACTIVE_KEY_CONTEXT = 'vidmesh:hive-active-key';

export interface RailOptions {
  db: Database;
  ledger: Ledger;
  rpc: HiveRpc;
  /** The operator's Hive account (deposits go to it, payouts come from it). */
  account: string;
  /** WIF of its active key (opened from its sealed form by the caller). */
  activeKey: string;
  /** Hive chain id, hex (mainnet default). */
  chainId?: string;
  /** Seconds a signed payout stays valid on chain (default 60, at most 3600). */
  expireS?: number;
  /** Account history entries read per call (default and Hive's maximum 1000). */
  pageSize?: number;
  /** ms a broadcast may take before it is looked up instead (default 10 000). */
  broadcastTimeoutMs?: number;
  /** Signed transfers of one payout that may expire unseen before it fails and is refunded (default 5). */
  maxAttempts?: number;
  clock?: () => Date;
  log?: Logger;
}

type HistoryOp = [
  number,
  {
    trx_id: string;
    op_in_trx: number;
    block: number;
    timestamp: string;
    op: [string, { from?: string; to?: string; amount?: string; memo?: string }];
  },
];

type PayoutRow = {
  id: string;
  hive_account: string;
  amount: string;
  memo: string;
  state: 'pending' | 'signed' | 'confirmed' | 'failed';
  trx_id: string | null;
  signed_tx: unknown;
  expires_at: Date | null;
  attempts: number;
  last_error: string | null;
};

export interface Payout {
  id: string;
  hiveAccount: string;
  amount: number;
  memo: string;
  state: PayoutRow['state'];
  trxId: string | null;
  /** Why the last broadcast did not confirm (the reason of a `failed` payout). */
  lastError: string | null;
}

/**
 * Debits `amount` milli-HBD from ledger `account` to the Hive hot wallet and queues its transfer to
 * `hiveAccount`, inside the caller's transaction `tx`: the money leaves the ledger exactly when the
 * payout exists. Idempotent by `id`.
 */
export async function queuePayout(
  ledger: Ledger,
  tx: Queryable,
  p: {
    id: string;
    account: string;
    hiveAccount: string;
    amount: number;
    memo: string;
    jobId?: string;
    /** The ledger movement's kind (default `payout`; a user's withdrawal: `withdrawal`). */
    kind?: 'payout' | 'withdrawal';
  },
  now: Date,
): Promise<void> {
  await ledger.post(
    {
      key: `payout:${p.id}`,
      kind: p.kind ?? 'payout',
      ...(p.jobId ? { jobId: p.jobId } : {}),
      memo: `@${p.hiveAccount}`,
      legs: [
        { account: p.account, amount: -p.amount },
        { account: EXTERNAL_ACCOUNT, amount: p.amount },
      ],
    },
    tx,
  );
  await tx.query(R.INSERT_PAYOUT, [p.id, p.account, p.hiveAccount, p.amount, p.memo, now]);
}

export function createHiveRail(options: RailOptions) {
  const { db, ledger, rpc, account, log } = options;
  const clock = options.clock ?? (() => new Date());
  const expireS = Math.min(options.expireS ?? 60, 3600);
  const cursorName = `hive:history:${account}`;
  const PAGE = Math.min(Math.max(options.pageSize ?? 1000, 1), 1000);

  const readNewHistory = async (cursor: number): Promise<HistoryOp[]> => {
    const collected: HistoryOp[] = [];
    let start = -1;
    let limit = PAGE;
    for (;;) {
      const page = await rpc.call<HistoryOp[]>('condenser_api.get_account_history', [account, start, limit]);
      if (page.length === 0) break;
      collected.unshift(...page.filter(([i]) => i > cursor));
      const lowest = page[0]![0];
      if (lowest <= cursor + 1 || lowest === 0) break;
      // Hive returns the entries with index in [start - limit, start] and wants start >= limit.
      start = lowest - 1;
      limit = Math.min(PAGE, start);
    }
    // A page may overlap the previous one by an entry: keep each index once.
    const byIndex = new Map(collected.map((op) => [op[0], op] as const));
    return [...byIndex.values()].sort((a, b) => a[0] - b[0]);
  };

  const pollDeposits = async (): Promise<Array<{ trxId: string; depositId: string; amount: number }>> => {
    const cur = (await db.query<{ position: string }>(R.GET_CURSOR, [cursorName])).rows[0];
    const cursor = cur ? Number(cur.position) : -1;
    const ops = await readNewHistory(cursor);
    const credited: Array<{ trxId: string; depositId: string; amount: number }> = [];
    for (const [index, entry] of ops) {
      const [type, body] = entry.op;
      const amount = type === 'transfer' && body.to === account ? parseHiveAsset(body.amount ?? '') : null;
      if (amount !== null && amount > 0) {
        const depositId = (body.memo ?? '').trim();
        const dep = (await db.query<{ id: string; account_id: string }>(Q.GET_DEPOSIT, [depositId])).rows[0];
        if (dep) {
          const posted = await ledger.post({
            key: `hive:${entry.trx_id}:${entry.op_in_trx}`,
            kind: 'deposit',
            memo: `${depositId} from @${body.from}`,
            legs: [
              { account: EXTERNAL_ACCOUNT, amount: -amount },
              { account: dep.account_id, amount },
            ],
          });
          if (posted.created) credited.push({ trxId: entry.trx_id, depositId, amount });
        } else {
          // Not ours to guess: an operator refunds or assigns it by hand (docs/marketplace.md).
          log?.warn(
            { trxId: entry.trx_id, from: body.from, memo: body.memo },
            'hive: transfer without a deposit id',
          );
        }
      }
      await db.query(R.PUT_CURSOR, [cursorName, index, clock()]);
    }
    return credited;
  };

  const lookup = async (trxId: string): Promise<boolean> => {
    try {
      await rpc.call('condenser_api.get_transaction', [trxId]);
      return true;
    } catch (err) {
      const message = String((err as HiveRpcError).details?.rpc ? (err as Error).message : '');
      if (/unknown transaction/i.test(message)) return false;
      throw err;
    }
  };

  const maxAttempts = Math.max(options.maxAttempts ?? 5, 1);

  const accountExists = async (name: string): Promise<boolean> =>
    (await rpc.call<unknown[]>('condenser_api.get_accounts', [[name]])).length > 0;

  /** Marks payout `id` failed and refunds it, in one transaction; false when it was no longer `trxId`'s. */
  const fail = (id: string, trxId: string, reason: string): Promise<boolean> =>
    db.transaction(async (tx) => {
      const { rows } = await tx.query<{ account_id: string; amount: string }>(R.MARK_FAILED, [
        id,
        trxId,
        reason,
        clock(),
      ]);
      const row = rows[0];
      if (!row) return false;
      await ledger.post(
        {
          key: `payout-refund:${id}`,
          kind: 'refund',
          memo: `payout ${id} failed`,
          legs: [
            { account: EXTERNAL_ACCOUNT, amount: -Number(row.amount) },
            { account: row.account_id, amount: Number(row.amount) },
          ],
        },
        tx,
      );
      log?.warn({ payout: id, trxId, err: reason }, 'hive: payout failed; refunded to its ledger account');
      return true;
    });

  const processPayout = async (row: PayoutRow): Promise<Payout['state']> => {
    let p = row;
    if (p.state === 'pending') {
      const props = await rpc.call<DynamicGlobalProperties>(
        'condenser_api.get_dynamic_global_properties',
        [],
      );
      const tx = transferTransaction(
        { from: account, to: p.hive_account, amount: Number(p.amount), memo: p.memo },
        props,
        expireS,
      );
      const { signed, trxId } = signTransaction(tx, options.activeKey, options.chainId);
      const expires = new Date(`${tx.expiration}Z`);
      // Recorded before the broadcast: after a crash or timeout the trx id is what gets looked up.
      const marked = await db.query(R.MARK_SIGNED, [p.id, trxId, JSON.stringify(signed), expires, clock()]);
      if (!marked.rows[0]) return 'pending';
      p = { ...p, state: 'signed', trx_id: trxId, signed_tx: signed, expires_at: expires };
    }
    const trxId = p.trx_id!;
    try {
      await rpc.call('condenser_api.broadcast_transaction_synchronous', [p.signed_tx], {
        timeoutMs: options.broadcastTimeoutMs ?? 10_000,
      });
    } catch (err) {
      const found = await lookup(trxId).catch(() => null);
      if (found !== true) {
        const reason = (err as Error).message.slice(0, 500);
        if (found === false && p.expires_at && clock().getTime() > new Date(p.expires_at).getTime() + 3_000) {
          if (p.attempts >= maxAttempts || !(await accountExists(p.hive_account))) {
            return (await fail(p.id, trxId, reason)) ? 'failed' : 'signed';
          }
          await db.query(R.MARK_EXPIRED, [p.id, trxId, reason, clock()]);
          return 'pending';
        }
        await db.query(R.NOTE_ERROR, [p.id, reason, clock()]);
        log?.warn({ payout: p.id, trxId, err: reason }, 'hive: payout broadcast unconfirmed; retried');
        return 'signed';
      }
    }
    await db.query(R.MARK_CONFIRMED, [p.id, trxId, clock()]);
    log?.info({ payout: p.id, trxId, to: p.hive_account }, 'hive: payout confirmed');
    return 'confirmed';
  };

  return {
    /** Reads new history and credits deposits; returns what was credited now. Leader-only. */
    pollDeposits,
    /** Signs/broadcasts/looks up every unconfirmed payout once; returns their states. Leader-only. */
    async processPayouts(limit = 50): Promise<Array<{ id: string; state: Payout['state'] }>> {
      const { rows } = await db.query<PayoutRow>(R.OPEN_PAYOUTS, [limit]);
      const out: Array<{ id: string; state: Payout['state'] }> = [];
      for (const row of rows) {
        try {
          out.push({ id: row.id, state: await processPayout(row) });
        } catch (err) {
          await db
            .query(R.NOTE_ERROR, [row.id, (err as Error).message.slice(0, 500), clock()])
            .catch(() => {});
          out.push({ id: row.id, state: row.state });
        }
      }
      return out;
    },
    async payout(id: string): Promise<Payout | null> {
      const r = (await db.query<PayoutRow>(R.GET_PAYOUT, [id])).rows[0];
      return r
        ? {
            id: r.id,
            hiveAccount: r.hive_account,
            amount: Number(r.amount),
            memo: r.memo,
            state: r.state,
            trxId: r.trx_id,
            lastError: r.last_error,
          }
        : null;
    },
  };
}
export type HiveRail = ReturnType<typeof createHiveRail>;
