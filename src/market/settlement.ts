import type { JobStatus, MarketOrderState } from '../jobs/vocabulary.js';
import type { TierPrices } from './money.js';
import { quoteOf } from './money.js';

/**
 * The marketplace's pure decisions (docs/marketplace.md): what happens to an order's escrow given its
 * job's state, and which offer wins a job nobody bid on. Table-tested in settlement.test.ts.
 */

export interface OrderFacts {
  state: MarketOrderState;
  /** The accepted bid's encoder (state `accepted`). */
  encoderId: string | null;
  deadline: Date | null;
  jobStatus: JobStatus;
  /** The encoder that last held the job's lease. */
  jobEncoder: string | null;
  /** Encoders whose result for the job failed verification. */
  excluded: readonly string[];
}

/**
 * - `release`: the accepted encoder completed the job (after verification): escrow to it, less the fee.
 * - `refund-close`: the job ended without the accepted encoder's result (dead, cancelled, completed by
 *   another): escrow back to the payer; the order is final.
 * - `refund-reopen`: the accepted encoder failed verification or let its deadline pass without holding
 *   the job: escrow back to the payer; the order takes bids again.
 * - `close`: an open order whose job ended: nothing was held; the order is final.
 * - `wait`: nothing to do yet.
 */
export type Settlement = 'release' | 'refund-close' | 'refund-reopen' | 'close' | 'wait';

const FINAL: readonly JobStatus[] = ['completed', 'dead', 'cancelled'];
const WAITING: readonly JobStatus[] = ['queued', 'failed'];

export function settlementOf(o: OrderFacts, now: Date): Settlement {
  if (o.state === 'open') return FINAL.includes(o.jobStatus) ? 'close' : 'wait';
  if (o.state !== 'accepted' || !o.encoderId) return 'wait';
  if (o.jobStatus === 'completed') return o.jobEncoder === o.encoderId ? 'release' : 'refund-close';
  if (o.jobStatus === 'dead' || o.jobStatus === 'cancelled') return 'refund-close';
  if (o.excluded.includes(o.encoderId)) return 'refund-reopen';
  if (o.deadline && now.getTime() > o.deadline.getTime() && WAITING.includes(o.jobStatus))
    return 'refund-reopen';
  return 'wait';
}

export interface OfferCandidate {
  encoderId: string;
  prices: TierPrices;
  maxConcurrent: number;
  /** Orders the encoder holds now. */
  active: number;
  /** Reputation score 0..1 (src/trust: (passes + 1) / (passes + 3 × failures + 2)). */
  score: number;
}

export interface RankedOffer {
  encoderId: string;
  /** The offer's price for this job, milli-HBD. */
  quote: number;
  /** score × maxPrice / quote: reputation per unit of price, relative to what the payer allows. */
  value: number;
}

/**
 * The selection rule for a job without bids: among offers with room (`active < maxConcurrent`), not
 * excluded from the job, whose quote for the job (per-minute tier prices × duration) is within
 * `maxPrice`, the highest `score × maxPrice / quote` wins; ties go to the lower quote, then the encoder
 * id. Returns the offers best first. `durationS` seconds, `heights` the planned renditions' heights.
 */
export function rankOffers(
  offers: readonly OfferCandidate[],
  job: { durationS: number; heights: readonly number[]; maxPrice: number; excluded: readonly string[] },
): RankedOffer[] {
  const ranked: RankedOffer[] = [];
  for (const o of offers) {
    if (o.active >= o.maxConcurrent || job.excluded.includes(o.encoderId)) continue;
    const quote = quoteOf(o.prices, job.durationS, job.heights);
    if (quote === null || quote > job.maxPrice) continue;
    const q = Math.max(quote, 1);
    ranked.push({ encoderId: o.encoderId, quote: q, value: (o.score * job.maxPrice) / q });
  }
  return ranked.sort(
    (a, b) =>
      b.value - a.value ||
      a.quote - b.quote ||
      (a.encoderId < b.encoderId ? -1 : a.encoderId > b.encoderId ? 1 : 0),
  );
}
