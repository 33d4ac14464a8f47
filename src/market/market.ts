import { randomBytes } from 'node:crypto';
import type { Database, Queryable } from '../jobs/db.js';
import type { JobStore } from '../jobs/index.js';
import { LEASED_STATUSES } from '../jobs/vocabulary.js';
import type { Logger } from '../log.js';
import { createReputationStore, EMPTY_REPUTATION, reputationScore } from '../trust/index.js';
import {
  EncoderCannotEncodeError,
  MarketConflictError,
  MarketValidationError,
  OrderNotFoundError,
} from './errors.js';
import {
  createLedger,
  encoderAccount,
  escrowAccount,
  type Ledger,
  PLATFORM_ACCOUNT,
  userAccount,
} from './ledger.js';
import * as Q from './market-sql.js';
import { feeOf, type TierPrices } from './money.js';
import { queuePayout } from './rail.js';
import { type OfferCandidate, rankOffers, type Settlement, settlementOf } from './settlement.js';

/**
 * The community marketplace (docs/marketplace.md): a priced job has one order; community encoders
 * publish offers and bid; the payer (or the order's auto-accept) accepts one bid, whose price moves
 * from the payer's account into the job's escrow; the job is then reserved for that encoder (claim
 * gate, `jobs.reserved_for`). Settlement follows the job: verified completion releases the escrow to
 * the encoder (less the platform fee) and queues its Hive payout; failure, rejection or timeout
 * refunds the payer. Every money movement is one ledger transaction with an idempotency key derived
 * from the job and bid, so a settlement pass may run any number of times, on any coordinator.
 */

export interface MarketOrder {
  jobId: string;
  payer: string;
  /** milli-HBD. */
  maxPrice: number;
  autoAccept: boolean;
  state: 'open' | 'accepted' | 'paid' | 'refunded';
  bidId: string | null;
  encoderId: string | null;
  price: number | null;
  fee: number | null;
  deadline: Date | null;
  durationS: number | null;
  heights: number[] | null;
  createdAt: Date;
}

export interface MarketBid {
  id: string;
  jobId: string;
  encoderId: string;
  /** milli-HBD. */
  price: number;
  state: 'open' | 'accepted' | 'lost' | 'paid' | 'refunded';
  createdAt: Date;
}

export interface MarketOffer {
  encoderId: string;
  prices: TierPrices;
  maxConcurrent: number;
}

export interface HiveBinding {
  encoderId: string;
  did: string;
  hiveAccount: string;
  statement: string;
  signature: string;
  boundAt: Date;
}

type OrderRow = {
  job_id: string;
  payer: string;
  max_price: string;
  auto_accept: boolean;
  state: MarketOrder['state'];
  bid_id: string | null;
  encoder_id: string | null;
  price: string | null;
  fee: string | null;
  deadline: Date | null;
  duration_s: number | null;
  heights: number[] | null;
  created_at: Date;
};
type BidRow = {
  id: string;
  job_id: string;
  encoder_id: string;
  price: string;
  state: MarketBid['state'];
  created_at: Date;
};

const num = (v: string | null) => (v === null ? null : Number(v));
const toOrder = (r: OrderRow): MarketOrder => ({
  jobId: r.job_id,
  payer: r.payer,
  maxPrice: Number(r.max_price),
  autoAccept: r.auto_accept,
  state: r.state,
  bidId: r.bid_id,
  encoderId: r.encoder_id,
  price: num(r.price),
  fee: num(r.fee),
  deadline: r.deadline ? new Date(r.deadline) : null,
  durationS: r.duration_s === null ? null : Number(r.duration_s),
  heights: r.heights,
  createdAt: new Date(r.created_at),
});
const toBid = (r: BidRow): MarketBid => ({
  id: r.id,
  jobId: r.job_id,
  encoderId: r.encoder_id,
  price: Number(r.price),
  state: r.state,
  createdAt: new Date(r.created_at),
});

export interface MarketOptions {
  db: Database;
  /**
   * The hooks into the job store: reserve a job for the accepted encoder (claim gate), and ask whether
   * a bidder could claim it at all (the claim's capability match).
   */
  jobs: Pick<JobStore, 'reserve' | 'canEncode'>;
  /** Platform fee in basis points of the accepted price (default 500 = 5 %). */
  feeBps?: number;
  /** ms the accepted encoder has to take the job before the order is refunded and reopened (default 1 h). */
  acceptTimeoutMs?: number;
  /** ms an auto-accept order waits for bids before the offers decide (default 30 s). */
  bidWindowMs?: number;
  clock?: () => Date;
  log?: Logger;
}

export interface SettlementOutcome {
  jobId: string;
  action: Exclude<Settlement, 'wait'> | 'selected';
  encoderId?: string | null;
  payoutId?: string;
}

export function createMarket(options: MarketOptions) {
  const { db, jobs, log } = options;
  const clock = options.clock ?? (() => new Date());
  const feeBps = options.feeBps ?? 500;
  const acceptTimeoutMs = options.acceptTimeoutMs ?? 3_600_000;
  const bidWindowMs = options.bidWindowMs ?? 30_000;
  const ledger: Ledger = createLedger(db, { clock });
  const reputation = createReputationStore(db, clock);

  const getOrder = async (jobId: string, q: Queryable = db): Promise<MarketOrder> => {
    const { rows } = await q.query<OrderRow>(Q.GET_ORDER, [jobId]);
    if (!rows[0]) throw new OrderNotFoundError(`no market order for job ${jobId}`);
    return toOrder(rows[0]);
  };

  const bindingOf = async (encoderId: string, q: Queryable = db): Promise<HiveBinding | null> => {
    const { rows } = await q.query<{
      encoder_id: string;
      did: string;
      hive_account: string;
      statement: string;
      signature: string;
      bound_at: Date;
    }>(Q.GET_BINDING, [encoderId]);
    const r = rows[0];
    return r
      ? {
          encoderId: r.encoder_id,
          did: r.did,
          hiveAccount: r.hive_account,
          statement: r.statement,
          signature: r.signature,
          boundAt: new Date(r.bound_at),
        }
      : null;
  };

  const offerOf = async (encoderId: string, q: Queryable = db): Promise<MarketOffer | null> => {
    const { rows } = await q.query<{ encoder_id: string; prices: TierPrices; max_concurrent: number }>(
      Q.GET_OFFER,
      [encoderId],
    );
    const r = rows[0];
    return r ? { encoderId: r.encoder_id, prices: r.prices, maxConcurrent: r.max_concurrent } : null;
  };

  /**
   * Accepts bid `bidId` of job `jobId`: one transaction that locks the order (a second accept gets
   * 409), holds the price in the job's escrow (402 `insufficient_funds` when the payer lacks it), marks
   * the order accepted and the other bids lost; then reserves the job for the bid's encoder.
   */
  const accept = async (jobId: string, bidId: string, by?: { payer: string }): Promise<MarketOrder> => {
    const now = clock();
    const order = await db.transaction(async (tx) => {
      const { rows } = await tx.query<OrderRow>(Q.LOCK_ORDER, [jobId]);
      const o = rows[0];
      if (!o || (by && o.payer !== by.payer))
        throw new OrderNotFoundError(`no market order for job ${jobId}`);
      if (o.state !== 'open') throw new MarketConflictError(`the order of job ${jobId} is ${o.state}`);
      const bidRow = (await tx.query<BidRow>(Q.GET_BID, [bidId, jobId])).rows[0];
      if (bidRow?.state !== 'open') throw new MarketConflictError(`bid ${bidId} is not open on job ${jobId}`);
      const bid = toBid(bidRow);
      if (bid.price > Number(o.max_price)) {
        throw new MarketValidationError(`bid ${bidId} is above the order's maximum price`);
      }
      const offer = await offerOf(bid.encoderId, tx);
      const active = (await tx.query<{ n: number }>(Q.ACTIVE_ORDERS_OF, [bid.encoderId])).rows[0]?.n ?? 0;
      if (active >= (offer?.maxConcurrent ?? 1)) {
        throw new MarketConflictError(`encoder ${bid.encoderId} holds its maximum of concurrent jobs`);
      }
      await ledger.post(
        {
          key: `hold:${jobId}:${bid.id}`,
          kind: 'hold',
          jobId,
          legs: [
            { account: userAccount(o.payer), amount: -bid.price },
            { account: escrowAccount(jobId), amount: bid.price },
          ],
        },
        tx,
      );
      await tx.query(Q.ACCEPT_ORDER, [
        jobId,
        bid.id,
        bid.encoderId,
        bid.price,
        feeOf(bid.price, feeBps),
        new Date(now.getTime() + acceptTimeoutMs),
        now,
      ]);
      await tx.query(Q.DECIDE_BIDS, [jobId, bid.id]);
      return getOrder(jobId, tx);
    });
    // After the commit: a job that ended meanwhile cannot be reserved, and settlement refunds it.
    await jobs.reserve(jobId, order.encoderId).catch((err: unknown) => {
      log?.warn({ err, jobId }, 'market: accepted job could not be reserved');
    });
    return order;
  };

  /** Applies one settlement to one order, in one transaction, if the order is still as it was read. */
  const apply = async (
    row: OrderRow,
    action: Exclude<Settlement, 'wait'>,
  ): Promise<SettlementOutcome | null> => {
    const now = clock();
    const jobId = row.job_id;
    let payoutId: string | undefined;
    // A reopened order holds its job for the next accepted bid. Held before the order reopens, so an
    // accept that follows the reopening can never be overwritten by this hold.
    if (action === 'refund-reopen') await jobs.reserve(jobId, '').catch(() => undefined);
    const applied = await db.transaction(async (tx) => {
      const cur = (await tx.query<OrderRow>(Q.LOCK_ORDER, [jobId])).rows[0];
      if (!cur || cur.state !== row.state || cur.bid_id !== row.bid_id) return false;
      if (action === 'close') {
        await tx.query(Q.SETTLE_ORDER, [jobId, 'refunded', now]);
        await tx.query(Q.CLOSE_BIDS, [jobId]);
        return true;
      }
      const bidId = cur.bid_id!;
      const price = Number(cur.price);
      const fee = Number(cur.fee ?? 0);
      if (action === 'release') {
        const earned = price - fee;
        await ledger.post(
          {
            key: `release:${jobId}:${bidId}`,
            kind: 'release',
            jobId,
            legs: [
              { account: escrowAccount(jobId), amount: -price },
              { account: encoderAccount(cur.encoder_id!), amount: earned },
              ...(fee > 0 ? [{ account: PLATFORM_ACCOUNT, amount: fee }] : []),
            ],
          },
          tx,
        );
        const binding = await bindingOf(cur.encoder_id!, tx);
        // Paid out only to the Hive account the encoder's did:key is bound to; unbound earnings stay
        // on its ledger account until it binds one.
        if (binding && earned > 0) {
          payoutId = `po_${bidId}`;
          await queuePayout(
            ledger,
            tx,
            {
              id: payoutId,
              account: encoderAccount(cur.encoder_id!),
              hiveAccount: binding.hiveAccount,
              amount: earned,
              memo: `vidmesh job ${jobId}`,
              jobId,
            },
            now,
          );
        }
        await tx.query(Q.SETTLE_ORDER, [jobId, 'paid', now]);
        await tx.query(Q.SET_BID_STATE, [bidId, 'paid']);
        return true;
      }
      await ledger.post(
        {
          key: `refund:${jobId}:${bidId}`,
          kind: 'refund',
          jobId,
          legs: [
            { account: escrowAccount(jobId), amount: -price },
            { account: userAccount(cur.payer), amount: price },
          ],
        },
        tx,
      );
      await tx.query(Q.SETTLE_ORDER, [jobId, action === 'refund-close' ? 'refunded' : 'open', now]);
      await tx.query(Q.SET_BID_STATE, [bidId, 'refunded']);
      if (action === 'refund-close') await tx.query(Q.CLOSE_BIDS, [jobId]);
      return true;
    });
    if (!applied) return null;
    log?.info({ jobId, action, encoderId: row.encoder_id }, 'market: order settled');
    return { jobId, action, encoderId: row.encoder_id, ...(payoutId ? { payoutId } : {}) };
  };

  /** The offers' choice for an auto-accept order nobody bid on within the bid window (rankOffers). */
  const selectFromOffers = async (
    row: OrderRow & { excluded_encoders: string[] },
  ): Promise<SettlementOutcome | null> => {
    if (row.duration_s === null || !row.heights?.length) return null;
    const { rows } = await db.query<{
      encoder_id: string;
      prices: TierPrices;
      max_concurrent: number;
      active: number;
    }>(Q.LIVE_OFFERS);
    const records = await reputation.all();
    const candidates: OfferCandidate[] = rows.map((r) => ({
      encoderId: r.encoder_id,
      prices: r.prices,
      maxConcurrent: r.max_concurrent,
      active: r.active,
      score: reputationScore(records.get(r.encoder_id) ?? EMPTY_REPUTATION(r.encoder_id)),
    }));
    const ranked = rankOffers(candidates, {
      durationS: Number(row.duration_s),
      heights: row.heights,
      maxPrice: Number(row.max_price),
      excluded: row.excluded_encoders,
    });
    for (const choice of ranked) {
      try {
        const bid = await placeBid(choice.encoderId, row.job_id, choice.quote, { autoAccept: false });
        await accept(row.job_id, bid.id);
        return { jobId: row.job_id, action: 'selected', encoderId: choice.encoderId };
      } catch (err) {
        // Insufficient funds ends the attempt for this pass; a full or vanished offer tries the next.
        if ((err as { code?: string }).code === 'insufficient_funds') return null;
        log?.debug({ err, jobId: row.job_id }, 'market: offer selection skipped an offer');
      }
    }
    return null;
  };

  const placeBid = async (
    encoderId: string,
    jobId: string,
    price: number,
    o: { autoAccept: boolean },
  ): Promise<MarketBid> => {
    const order = await getOrder(jobId);
    if (order.state !== 'open') throw new MarketConflictError(`the order of job ${jobId} is ${order.state}`);
    if (price > order.maxPrice) throw new MarketValidationError(`the bid is above the job's maximum price`);
    // Work is paid only to a bound Hive account, and never by a job that rejected this encoder.
    if (!(await bindingOf(encoderId))) {
      throw new MarketConflictError(
        'bind a Hive account to this encoder first (POST /api/v1/community/offers)',
      );
    }
    const ex = (await db.query<{ excluded: boolean }>(Q.IS_EXCLUDED, [jobId, encoderId])).rows[0];
    if (ex?.excluded) throw new MarketConflictError(`encoder ${encoderId} may not take job ${jobId} again`);
    // Refused now rather than accepted, never claimed, and refunded after the accept timeout.
    if (!(await jobs.canEncode(jobId, encoderId))) {
      throw new EncoderCannotEncodeError(
        `encoder ${encoderId} cannot encode job ${jobId}: its codecs, hardware accelerator, tags or the limits of its kind do not meet the job's requirements`,
        { details: { jobId, encoderId } },
      );
    }
    const { rows } = await db.query<BidRow>(Q.INSERT_BID, [
      `bid_${randomBytes(9).toString('base64url')}`,
      jobId,
      encoderId,
      price,
      clock(),
    ]);
    const bid = toBid(rows[0]!);
    if (o.autoAccept && order.autoAccept) {
      try {
        await accept(jobId, bid.id);
        return { ...bid, state: 'accepted' };
      } catch (err) {
        // A bid stays open when the payer cannot fund it now or another bid won the race.
        const code = (err as { code?: string }).code;
        if (code !== 'insufficient_funds' && code !== 'market_conflict') throw err;
      }
    }
    return bid;
  };

  return {
    ledger,
    getOrder,
    bindingOf,
    offerOf,
    accept,

    /**
     * Opens the order of a priced job (the job was submitted reserved for nobody, `reservedFor: ''`).
     * `maxPrice` milli-HBD; `durationS`/`heights` the quote basis when the source was probed.
     */
    async openOrder(input: {
      jobId: string;
      payer: string;
      maxPrice: number;
      autoAccept: boolean;
      durationS?: number;
      heights?: number[];
    }): Promise<MarketOrder> {
      const { rows } = await db.query<OrderRow>(Q.INSERT_ORDER, [
        input.jobId,
        input.payer,
        input.maxPrice,
        input.autoAccept,
        input.durationS ?? null,
        input.heights ?? null,
        clock(),
      ]);
      return rows[0] ? toOrder(rows[0]) : getOrder(input.jobId);
    },

    /** Offers of encoders that may take work now (online, approved, Hive account bound). */
    async liveOffers(): Promise<MarketOffer[]> {
      const { rows } = await db.query<{ encoder_id: string; prices: TierPrices; max_concurrent: number }>(
        Q.LIVE_OFFERS,
      );
      return rows.map((r) => ({
        encoderId: r.encoder_id,
        prices: r.prices,
        maxConcurrent: r.max_concurrent,
      }));
    },

    /** Open orders community encoders may bid on, oldest first. */
    async openOrders(limit = 100): Promise<MarketOrder[]> {
      const { rows } = await db.query<OrderRow>(Q.OPEN_ORDERS, [Math.min(Math.max(limit, 1), 500)]);
      return rows.map(toOrder);
    },

    async bids(jobId: string): Promise<MarketBid[]> {
      const { rows } = await db.query<BidRow>(Q.BIDS_OF_JOB, [jobId]);
      return rows.map(toBid);
    },

    /** Publishes (or replaces) an encoder's offer: per-tier prices per output minute, max concurrent jobs. */
    async putOffer(
      encoderId: string,
      offer: { prices: TierPrices; maxConcurrent: number },
    ): Promise<MarketOffer> {
      await db.query(Q.PUT_OFFER, [encoderId, JSON.stringify(offer.prices), offer.maxConcurrent, clock()]);
      return { encoderId, prices: offer.prices, maxConcurrent: offer.maxConcurrent };
    },

    /** Binds an encoder's did:key to a Hive account (the statement's signature checked by the caller). */
    async bind(b: Omit<HiveBinding, 'boundAt'>): Promise<HiveBinding> {
      await db.query(Q.PUT_BINDING, [b.encoderId, b.did, b.hiveAccount, b.statement, b.signature, clock()]);
      return (await bindingOf(b.encoderId))!;
    },

    /**
     * A bid of `encoderId` on job `jobId` at `price` milli-HBD (its open bid replaced). Auto-accepted
     * at once when the order allows it. @throws MarketValidationError above the maximum price,
     * MarketConflictError when the order is not open, OrderNotFoundError
     */
    bid: (encoderId: string, jobId: string, price: number) =>
      placeBid(encoderId, jobId, price, { autoAccept: true }),

    /**
     * One settlement pass over unsettled orders (idempotent; run after job transitions and on a timer):
     * releases, refunds, closes, and lets the offers pick an encoder for auto-accept orders that got
     * no bid within the bid window.
     */
    async settle(limit = 200): Promise<SettlementOutcome[]> {
      const now = clock();
      const { rows } = await db.query<
        OrderRow & {
          job_status: string;
          job_encoder: string | null;
          excluded_encoders: string[];
          open_bids: number;
        }
      >(Q.UNSETTLED, [limit]);
      const out: SettlementOutcome[] = [];
      for (const row of rows) {
        const action = settlementOf(
          {
            state: row.state,
            encoderId: row.encoder_id,
            deadline: row.deadline ? new Date(row.deadline) : null,
            jobStatus: row.job_status as never,
            jobEncoder: row.job_encoder,
            excluded: row.excluded_encoders ?? [],
          },
          now,
        );
        try {
          if (action !== 'wait') {
            const done = await apply(row, action);
            if (done) out.push(done);
          } else if (
            row.state === 'open' &&
            row.auto_accept &&
            row.open_bids === 0 &&
            now.getTime() - new Date(row.created_at).getTime() >= bidWindowMs
          ) {
            const picked = await selectFromOffers(row);
            if (picked) out.push(picked);
          } else if (row.state === 'open' && row.auto_accept && row.open_bids > 0) {
            // A bid auto-accept could not take when it came (the payer lacked funds then): the cheapest
            // open bid is tried again, so a later deposit lets the order proceed.
            const cheapest = (await db.query<BidRow>(Q.BIDS_OF_JOB, [row.job_id])).rows.find(
              (b) => b.state === 'open',
            );
            if (cheapest) {
              const accepted = await accept(row.job_id, cheapest.id).catch((err: unknown) => {
                const code = (err as { code?: string }).code;
                if (code === 'insufficient_funds' || code === 'market_conflict') return null;
                throw err;
              });
              if (accepted)
                out.push({ jobId: row.job_id, action: 'selected', encoderId: accepted.encoderId });
            }
          }
        } catch (err) {
          log?.error({ err, jobId: row.job_id, action }, 'market: settlement failed; retried next pass');
        }
      }
      return out;
    },

    /**
     * Settles the order of one job now, if its job's state decides it (the settlement pass's rules,
     * without offer selection): a cancelled or dead job is refunded or closed, a completed one released
     * or refunded. Resolves what was done, or null (no unsettled order, or nothing to do yet).
     */
    async settleJob(jobId: string): Promise<SettlementOutcome | null> {
      const row = (
        await db.query<
          OrderRow & { job_status: string; job_encoder: string | null; excluded_encoders: string[] }
        >(Q.UNSETTLED_OF_JOB, [jobId])
      ).rows[0];
      if (!row) return null;
      const action = settlementOf(
        {
          state: row.state,
          encoderId: row.encoder_id,
          deadline: row.deadline ? new Date(row.deadline) : null,
          jobStatus: row.job_status as never,
          jobEncoder: row.job_encoder,
          excluded: row.excluded_encoders ?? [],
        },
        clock(),
      );
      return action === 'wait' ? null : apply(row, action);
    },

    /**
     * Whether job `jobId` has an unsettled order and an encoder holds its lease (leased, running or
     * verifying): work that may still be paid for, so the job must not be cancelled and removed.
     */
    async heldByEncoder(jobId: string): Promise<boolean> {
      const row = (await db.query<{ job_status: string }>(Q.UNSETTLED_OF_JOB, [jobId])).rows[0];
      return row !== undefined && (LEASED_STATUSES as readonly string[]).includes(row.job_status);
    },

    /** A deposit id for `payer`: the memo of the HBD transfer that credits its account. */
    async createDeposit(payer: string): Promise<{ id: string; account: string }> {
      const id = `dep_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
      await db.query(Q.INSERT_DEPOSIT, [id, userAccount(payer), clock()]);
      return { id, account: userAccount(payer) };
    },
  };
}
export type Market = ReturnType<typeof createMarket>;
