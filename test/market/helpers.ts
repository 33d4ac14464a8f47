import type { EncoderCapabilities, EncoderKind, Job, JobStore } from '../../src/jobs/index.js';
import type { SubmitInput } from '../../src/jobs/types.js';
import { EXTERNAL_ACCOUNT, type Ledger, userAccount } from '../../src/market/ledger.js';
import type { Market } from '../../src/market/market.js';

/**
 * The marketplace tests' shared setup: a payer's deposit, a community encoder bound to a Hive account
 * (optionally with an offer), and a priced community job with its order, as the submit route makes
 * them. Each call uses the ids it is given, so tests running in parallel on one database do not meet.
 */

let deposits = 0;

/** Credits `amount` milli-HBD to `payer`'s ledger account as a Hive deposit (a fresh movement key). */
export async function deposit(ledger: Ledger, payer: string, amount: number): Promise<void> {
  await ledger.post({
    key: `hive:test-deposit:${payer}:${process.pid}:${++deposits}`,
    kind: 'deposit',
    legs: [
      { account: EXTERNAL_ACCOUNT, amount: -amount },
      { account: userAccount(payer), amount },
    ],
  });
}

/** Capabilities of a plain H.264 community encoder (override what a test needs). */
export const plainCapabilities: EncoderCapabilities = {
  codecs: ['h264'],
  hwaccel: [],
  maxHeight: 4320,
  concurrency: 1,
  tags: [],
};

/**
 * Registers encoder `id` (kind `community` unless given) and binds it to the Hive account `a-<id>`
 * (or `hiveAccount`); with `prices` it also publishes an offer and heartbeats (an offer counts only for
 * an online encoder). Resolves the encoder id.
 */
export async function boundEncoder(
  store: Pick<JobStore, 'registerEncoder' | 'heartbeatEncoder'>,
  market: Pick<Market, 'bind' | 'putOffer'>,
  id: string,
  o: {
    kind?: EncoderKind;
    capabilities?: Partial<EncoderCapabilities>;
    hiveAccount?: string;
    /** milli-HBD per output minute per tier, e.g. `{ sd: 600 }`: publishes an offer. */
    prices?: Record<string, number>;
    maxConcurrent?: number;
  } = {},
): Promise<string> {
  await store.registerEncoder({
    id,
    name: id,
    kind: o.kind ?? 'community',
    capabilities: { ...plainCapabilities, ...o.capabilities },
  });
  await market.bind({
    encoderId: id,
    did: `did:key:${id}`,
    hiveAccount: o.hiveAccount ?? `a-${id}`,
    statement: 's',
    signature: 'x',
  });
  if (o.prices) {
    await store.heartbeatEncoder(id);
    await market.putOffer(id, { prices: o.prices, maxConcurrent: o.maxConcurrent ?? 1 });
  }
  return id;
}

/**
 * Submits a community job of `payer` held for the market (`reservedFor: ''`) and opens its order with
 * `maxPrice` milli-HBD (auto-accept unless `autoAccept: false`; `durationS`/`heights` the quote basis).
 * `job` adds to or overrides the submit input (renditions default `['240p']`).
 */
export async function pricedJob(
  store: Pick<JobStore, 'submit'>,
  market: Pick<Market, 'openOrder'>,
  o: {
    payer: string;
    maxPrice: number;
    autoAccept?: boolean;
    durationS?: number;
    heights?: number[];
    job?: Partial<SubmitInput>;
  },
): Promise<Job> {
  const job = await store.submit({
    spec: {},
    renditions: ['240p'],
    tenant: o.payer,
    network: 'community',
    reservedFor: '',
    ...o.job,
  });
  await market.openOrder({
    jobId: job.id,
    payer: o.payer,
    maxPrice: o.maxPrice,
    autoAccept: o.autoAccept ?? true,
    ...(o.durationS !== undefined ? { durationS: o.durationS } : {}),
    ...(o.heights ? { heights: o.heights } : {}),
  });
  return job;
}
