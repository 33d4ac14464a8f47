import { ValidationError } from '../errors.js';
import { PRICE_TIERS, type PriceTier } from '../jobs/vocabulary.js';

/**
 * Money in the marketplace is an integer number of milli-HBD (HBD has 3 decimals on Hive: the asset
 * string `"1.234 HBD"`, Hive API docs, `condenser_api` asset format). Never floats: every amount is
 * an integer `mhbd`, converted to and from decimal strings here only. Pure.
 */

/** Largest amount accepted anywhere (1 000 000 000 HBD): far below 2^53, so integer maths stays exact. */
export const MAX_MHBD = 1_000_000_000_000;

/** `"1.5"`, `"1.500"` or `"1.500 HBD"` → 1500. @throws ValidationError on anything else (more than 3 decimals, negative, too big). */
export function parseHbd(text: string, field = 'amount'): number {
  const m = /^(\d{1,10})(?:\.(\d{1,3}))?(?: HBD)?$/.exec(text.trim());
  if (!m) throw new ValidationError(`${field}: an HBD amount with at most 3 decimals, e.g. "1.250"`);
  const mhbd = Number(m[1]) * 1000 + Number((m[2] ?? '').padEnd(3, '0'));
  if (mhbd > MAX_MHBD) throw new ValidationError(`${field}: at most ${MAX_MHBD / 1000} HBD`);
  return mhbd;
}

/** 1500 → `"1.500"` (negative amounts keep their sign). */
export function formatHbd(mhbd: number): string {
  if (!Number.isSafeInteger(mhbd)) throw new RangeError(`not an integer milli-HBD amount: ${mhbd}`);
  const sign = mhbd < 0 ? '-' : '';
  const abs = Math.abs(mhbd);
  return `${sign}${Math.floor(abs / 1000)}.${String(abs % 1000).padStart(3, '0')}`;
}

/** The Hive asset string of a positive amount: 1500 → `"1.500 HBD"`. */
export const hiveAsset = (mhbd: number): string => `${formatHbd(mhbd)} HBD`;

/**
 * The Hive asset string `"1.500 HBD"` → 1500, or null when it is another asset (HIVE, VESTS) or not
 * an asset string at all.
 */
export function parseHiveAsset(asset: string): number | null {
  const m = /^(\d+)\.(\d{3}) HBD$/.exec(asset);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : null;
}

/** The platform's share of `price`: `feeBps` basis points (1/100 of a percent), rounded down. */
export function feeOf(price: number, feeBps: number): number {
  return Math.floor((price * feeBps) / 10_000);
}

/** The price tier of a rendition by its output height. */
export function tierOf(height: number): PriceTier {
  if (height <= 480) return 'sd';
  if (height <= 720) return 'hd';
  if (height <= 1080) return 'fhd';
  return 'uhd';
}

/** Prices of an offer: milli-HBD per output minute per tier (a tier left out is not offered). */
export type TierPrices = Partial<Record<PriceTier, number>>;

/**
 * A job's price under `prices`: for each rendition of the plan, the tier's per-minute price × the
 * source duration in minutes, summed and rounded up to a whole milli-HBD. Null when a rendition's tier
 * is not offered. `durationS` seconds.
 */
export function quoteOf(prices: TierPrices, durationS: number, heights: readonly number[]): number | null {
  let perMinute = 0;
  for (const h of heights) {
    const p = prices[tierOf(h)];
    if (p === undefined) return null;
    perMinute += p;
  }
  return Math.ceil((perMinute * durationS) / 60);
}

export { PRICE_TIERS };
