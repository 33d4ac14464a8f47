import { ValidationError } from '../errors.js';
import type { Database, Queryable } from '../jobs/db.js';
import type { LedgerAccountKind } from '../jobs/vocabulary.js';
import { InsufficientFundsError, LedgerKeyReusedError } from './errors.js';
import * as Q from './ledger-sql.js';
import { MAX_MHBD } from './money.js';

/**
 * The double-entry escrow ledger (docs/marketplace.md): accounts hold integer milli-HBD; a movement is
 * one database transaction of legs that sum to zero, named by an idempotency key (the same key again
 * returns the first movement and moves nothing). No account but the external one (the Hive hot
 * wallet, the mirror of money outside) ever goes below zero, so the sum over all accounts is always 0.
 *
 * Account ids: `user:<payer>`, `encoder:<encoderId>`, `escrow:<jobId>`, `platform:fees`, `external:hive`.
 */

export const PLATFORM_ACCOUNT = 'platform:fees';
export const EXTERNAL_ACCOUNT = 'external:hive';
export const userAccount = (payer: string) => `user:${payer}`;
export const encoderAccount = (encoderId: string) => `encoder:${encoderId}`;
export const escrowAccount = (jobId: string) => `escrow:${jobId}`;

/** The kind of an account by its id prefix. @throws ValidationError for an unknown prefix. */
export function accountKind(id: string): LedgerAccountKind {
  const prefix = id.slice(0, id.indexOf(':'));
  if (prefix === 'user' || prefix === 'encoder' || prefix === 'escrow') return prefix;
  if (id === PLATFORM_ACCOUNT) return 'platform';
  if (id === EXTERNAL_ACCOUNT) return 'external';
  throw new ValidationError(`not a ledger account id: ${id}`);
}

/** One leg: `amount` milli-HBD added to (positive) or taken from (negative) `account`. */
export interface Leg {
  account: string;
  amount: number;
}

/**
 * What moved money and why: `deposit`, `hold`, `release` (with its fee), `refund` (of an escrow or of a
 * failed payout), `payout` (an encoder's earnings sent to Hive), `withdrawal` (a user's balance sent to
 * its own Hive account).
 */
export type MovementKind = 'deposit' | 'hold' | 'release' | 'refund' | 'payout' | 'withdrawal';

export interface Movement {
  /** Unique per movement (e.g. `hold:<jobId>:<bidId>`, `hive:<trxId>:<op>`): a repeat moves nothing. */
  key: string;
  kind: MovementKind;
  legs: Leg[];
  jobId?: string;
  memo?: string;
}

export interface PostedMovement {
  id: number;
  /** False when the key had been posted before (nothing moved now). */
  created: boolean;
  legs: Leg[];
}

export interface StatementLine {
  id: number;
  amount: number;
  balanceAfter: number;
  at: Date;
  kind: string;
  jobId: string | null;
  memo: string | null;
}

/**
 * Checks a movement before it touches the database: legs on distinct accounts, non-zero integer
 * amounts within {@link MAX_MHBD}, summing to zero. Pure. @throws ValidationError
 */
export function assertBalanced(m: Movement): void {
  if (!m.key || m.key.length > 200) throw new ValidationError('movement key: 1..200 characters');
  if (m.legs.length < 2) throw new ValidationError('a movement has at least two legs');
  const seen = new Set<string>();
  let sum = 0;
  for (const leg of m.legs) {
    accountKind(leg.account);
    if (seen.has(leg.account)) throw new ValidationError(`account ${leg.account} twice in one movement`);
    seen.add(leg.account);
    if (!Number.isSafeInteger(leg.amount) || leg.amount === 0 || Math.abs(leg.amount) > MAX_MHBD) {
      throw new ValidationError(`leg amount must be a non-zero integer milli-HBD: ${leg.amount}`);
    }
    sum += leg.amount;
  }
  if (sum !== 0) throw new ValidationError(`legs sum to ${sum}, not 0`);
}

const sameLegs = (a: Leg[], b: Leg[]) =>
  a.length === b.length &&
  [...a]
    .sort((x, y) => x.account.localeCompare(y.account))
    .every((l, i) => {
      const o = [...b].sort((x, y) => x.account.localeCompare(y.account))[i];
      return o !== undefined && o.account === l.account && Number(o.amount) === l.amount;
    });

export interface Ledger {
  /**
   * Posts one movement in its own transaction (or in `tx` when given: the caller's transaction).
   * The same key with the same legs returns the first posting (`created: false`).
   * @throws InsufficientFundsError (402) when a leg would take a non-external account below zero
   * @throws LedgerKeyReusedError (422) when the key was posted with other legs
   * @throws ValidationError (400) for an unbalanced or malformed movement
   */
  post(m: Movement, tx?: Queryable): Promise<PostedMovement>;
  /** The balance of an account, milli-HBD (0 for an account never used). */
  balance(account: string, q?: Queryable): Promise<number>;
  /** An account's entries, newest first; `before` an entry id for the next page. */
  statement(account: string, options?: { before?: number; limit?: number }): Promise<StatementLine[]>;
  /** Sums over the whole ledger (all zero in a healthy ledger): balances, entries, negatives, drift. */
  trialBalance(): Promise<{ balances: number; entries: number; negative: number; drifted: number }>;
}

/** The ledger on the vidmesh database (drizzle/0021); `clock` stamps entries (default wall clock). */
export function createLedger(db: Database, options: { clock?: () => Date } = {}): Ledger {
  const clock = options.clock ?? (() => new Date());

  const postIn = async (q: Queryable, m: Movement): Promise<PostedMovement> => {
    const now = clock();
    const ins = await q.query<{ id: string }>(Q.INSERT_TRANSACTION, [
      m.key,
      m.kind,
      m.jobId ?? null,
      m.memo ?? null,
      now,
    ]);
    const created = ins.rows[0];
    if (!created) {
      const { rows } = await q.query<{ id: string; legs: Leg[] }>(Q.GET_TRANSACTION, [m.key]);
      const prior = rows[0];
      if (!prior) throw new Error(`ledger: key ${m.key} conflicted but no transaction found`);
      if (!sameLegs(m.legs, prior.legs)) {
        throw new LedgerKeyReusedError(`movement key ${m.key} was used for different legs`);
      }
      return {
        id: Number(prior.id),
        created: false,
        legs: prior.legs.map((l) => ({ ...l, amount: Number(l.amount) })),
      };
    }
    // One lock order for every movement (account id), so concurrent movements never deadlock.
    const legs = [...m.legs].sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0));
    for (const leg of legs) {
      await q.query(Q.ENSURE_ACCOUNT, [leg.account, accountKind(leg.account)]);
      const r = await q.query<{ balance: string }>(Q.APPLY_LEG, [leg.account, leg.amount]);
      const row = r.rows[0];
      if (!row) {
        throw new InsufficientFundsError(`insufficient funds in ${leg.account} for ${m.kind}`, {
          details: { account: leg.account },
        });
      }
      await q.query(Q.INSERT_ENTRY, [created.id, leg.account, leg.amount, row.balance, now]);
    }
    return { id: Number(created.id), created: true, legs: m.legs };
  };

  return {
    async post(m, tx) {
      assertBalanced(m);
      if (tx) return postIn(tx, m);
      return db.transaction((t) => postIn(t, m));
    },
    async balance(account, q = db) {
      const { rows } = await q.query<{ balance: string }>(Q.GET_ACCOUNT, [account]);
      return rows[0] ? Number(rows[0].balance) : 0;
    },
    async statement(account, options = {}) {
      const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
      const { rows } = await db.query<{
        id: string;
        amount: string;
        balance_after: string;
        created_at: Date;
        kind: string;
        job_id: string | null;
        memo: string | null;
      }>(Q.STATEMENT, [account, options.before ?? null, limit]);
      return rows.map((r) => ({
        id: Number(r.id),
        amount: Number(r.amount),
        balanceAfter: Number(r.balance_after),
        at: new Date(r.created_at),
        kind: r.kind,
        jobId: r.job_id,
        memo: r.memo,
      }));
    },
    async trialBalance() {
      const { rows } = await db.query<{
        balances: string;
        entries: string;
        negative: number;
        drifted: number;
      }>(Q.TRIAL_BALANCE);
      const r = rows[0]!;
      return {
        balances: Number(r.balances),
        entries: Number(r.entries),
        negative: Number(r.negative),
        drifted: Number(r.drifted),
      };
    },
  };
}
