import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import type { NonceStore } from '../../identity/index.js';
import type { Job, JobStore } from '../../jobs/index.js';
import type { JobSpec } from '../../jobs/spec.js';
import { PRICE_TIERS } from '../../jobs/vocabulary.js';
import {
  encoderAccount,
  formatHbd,
  HIVE_ACCOUNT_RE,
  type HiveAccounts,
  HiveSignatureError,
  type Market,
  type MarketBid,
  MarketConflictError,
  type MarketOrder,
  OrderNotFoundError,
  parseBindingStatement,
  parseHbd,
  parseSignInStatement,
  parseWalletBindingStatement,
  quoteOf,
  signInStatement,
  statementViewSchema,
  userAccount,
  type Withdrawal,
  type Withdrawals,
  withdrawalViewSchema,
} from '../../market/index.js';
import { ladderOptionsSchema, planLadder, probe } from '../../media/index.js';
import type { SsrfPolicy } from '../../storage/index.js';
import { httpSourceSchema } from '../../storage/schema.js';
import { ForbiddenError } from '../errors.js';
import type { Principal } from '../plugins/auth.js';
import { CSRF_HEADER, CsrfError, type SessionManager, startSession } from '../plugins/session.js';
import { assertNoPrivateUrlLiterals } from '../plugins/url-guard.js';
import type { UrlProber } from '../quote-source.js';
import { assertActsFor } from './agent.js';
import { TENANT_RE } from './keys.js';
import { uploadPath } from './uploads.js';

export interface MarketRouteOptions {
  store: JobStore;
  market: Market;
  /**
   * Hive accounts (posting keys for Keychain signatures), the operator account, and the nonce store that
   * spends each sign-in statement once; absent: no Hive node configured.
   */
  hive?: { accounts: HiveAccounts; account: string; nonces?: NonceStore };
  /** Dashboard sessions: enables "Sign in with Hive Keychain" (`/session/hive`). */
  sessions?: SessionManager;
  /** This coordinator's public URL: the origin a sign-in statement must name. */
  publicUrl?: () => string;
  /** Withdrawals to users' Hive accounts (absent without the Hive rail: the routes answer 409). */
  withdrawals?: Withdrawals;
  /** A withdrawal was queued: run a payout pass soon. */
  onWithdrawal?: () => void;
  /**
   * Quotes for http(s) sources: the prober (downloads through the SSRF guard and probes), and the
   * submit path's refusal of private URL literals (`refusePrivateUrls`, allowlist `ssrfAllow`).
   */
  urlQuotes?: { probe: UrlProber; refusePrivateUrls: boolean; ssrfAllow?: SsrfPolicy };
}

/** The ledger payer of a principal's jobs and deposits: its tenant (the job store's `default` otherwise). */
export const payerOf = (p: Principal | undefined): string => p?.tenant ?? 'default';

const hbd = z.string().max(32).describe('HBD amount with up to 3 decimals, e.g. "1.250"');
const orderView = z.object({
  jobId: z.string(),
  state: z.string(),
  maxPrice: z.string(),
  autoAccept: z.boolean(),
  encoderId: z.string().nullable(),
  price: z.string().nullable(),
  fee: z.string().nullable(),
  durationS: z.number().nullable(),
  heights: z.array(z.number()).nullable(),
  createdAt: z.string(),
});
const bidView = z.object({
  id: z.string(),
  jobId: z.string(),
  encoderId: z.string(),
  price: z.string(),
  state: z.string(),
});
const viewOrder = (o: MarketOrder) => ({
  jobId: o.jobId,
  state: o.state,
  maxPrice: formatHbd(o.maxPrice),
  autoAccept: o.autoAccept,
  encoderId: o.encoderId,
  price: o.price === null ? null : formatHbd(o.price),
  fee: o.fee === null ? null : formatHbd(o.fee),
  durationS: o.durationS,
  heights: o.heights,
  createdAt: o.createdAt.toISOString(),
});
const viewWithdrawal = (w: Withdrawal) => ({
  id: w.id,
  amount: formatHbd(w.amount),
  hiveAccount: w.hiveAccount,
  state: w.state,
  trxId: w.trxId,
  error: w.lastError,
  createdAt: w.createdAt.toISOString(),
  updatedAt: w.updatedAt.toISOString(),
});
const viewBid = (b: MarketBid) => ({
  id: b.id,
  jobId: b.jobId,
  encoderId: b.encoderId,
  price: formatHbd(b.price),
  state: b.state,
});

/**
 * The community marketplace's API (docs/marketplace.md): encoders publish offers (binding their
 * did:key to a Hive account by a Keychain-signed statement), list open orders and bid; payers accept
 * bids, read their orders, create deposit ids and read their statements. Money in the API is HBD
 * strings with 3 decimals; the ledger keeps integer milli-HBD.
 */
export const marketRoutes: FastifyPluginAsyncZod<MarketRouteOptions> = async (app, opts) => {
  const { store, market } = opts;

  const statementOf = async (account: string, before?: number) => {
    const [balance, lines] = await Promise.all([
      market.ledger.balance(account),
      market.ledger.statement(account, { ...(before ? { before } : {}), limit: 100 }),
    ]);
    return {
      account,
      balance: formatHbd(balance),
      entries: lines.map((l) => ({
        id: l.id,
        at: l.at.toISOString(),
        kind: l.kind,
        amount: formatHbd(l.amount),
        balanceAfter: formatHbd(l.balanceAfter),
        jobId: l.jobId,
        memo: l.memo,
      })),
    };
  };

  const sessions = opts.sessions;
  const hive = opts.hive;
  if (sessions && hive?.nonces && opts.publicUrl) {
    const nonces = hive.nonces;
    const origin = () => new URL(opts.publicUrl!()).origin;
    const account = z.string().regex(HIVE_ACCOUNT_RE, 'a Hive account name');
    app.post(
      '/session/hive/challenge',
      {
        config: { scope: 'public' },
        schema: {
          operationId: 'hiveSignInChallenge',
          summary: 'The statement to sign with Hive Keychain (requestSignBuffer, Posting) to sign in',
          tags: ['session'],
          body: z.strictObject({ account }),
          response: { 200: z.object({ message: z.string() }) },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store');
        return {
          message: signInStatement(
            req.body.account,
            origin(),
            new Date(),
            randomBytes(18).toString('base64url'),
          ),
        };
      },
    );
    app.post(
      '/session/hive',
      {
        config: { scope: 'public' },
        schema: {
          operationId: 'hiveSignIn',
          summary: 'Sign in with a Keychain signature of the challenge (sets the session cookie)',
          tags: ['session'],
          body: z.strictObject({ account, message: z.string().max(600), signature: z.string().max(200) }),
          response: {
            200: z.object({
              principal: z.object({
                id: z.string(),
                scopes: z.array(z.string()),
                tenant: z.string().nullable(),
              }),
              expiresAt: z.string(),
            }),
          },
        },
      },
      async (req, reply) => {
        if (typeof req.headers[CSRF_HEADER] !== 'string' || req.headers[CSRF_HEADER] === '') {
          throw new CsrfError(`send the ${CSRF_HEADER} header`);
        }
        const b = req.body;
        const now = new Date();
        const { nonce, issued } = parseSignInStatement(
          b.message,
          { account: b.account, origin: origin() },
          now,
        );
        await hive.accounts.verifyPosting(b.account, b.message, b.signature);
        // Spent once, after the signature checked out: a replayed statement signs nobody in.
        const fresh = await nonces.claim(
          `hive:${b.account}`,
          nonce,
          new Date(issued.getTime() + 10 * 60_000),
          now,
        );
        if (!fresh) throw new HiveSignatureError('this sign-in statement was already used');
        const s = sessions.signInHive(b.account);
        return startSession(req, reply, sessions, s);
      },
    );
  }

  app.post(
    '/community/offers',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'putOffer',
        summary: "Publish an encoder's prices (HBD per output minute per tier) and bind its Hive account",
        tags: ['community'],
        body: z.strictObject({
          encoderId: z.string().min(1).max(128),
          prices: z.partialRecord(z.enum(PRICE_TIERS), hbd),
          maxConcurrent: z.number().int().min(1).max(64).default(1),
          /** Keychain `requestSignBuffer` of `bindingStatement(did, account, issued)` by the account's posting key. */
          hive: z
            .strictObject({
              account: z.string().regex(HIVE_ACCOUNT_RE, 'a Hive account name'),
              statement: z.string().max(500),
              signature: z.string().max(200),
            })
            .optional(),
        }),
        response: {
          200: z.object({
            offer: z.object({
              encoderId: z.string(),
              prices: z.record(z.string(), z.string()),
              maxConcurrent: z.number(),
            }),
            hiveAccount: z.string().nullable(),
          }),
        },
      },
    },
    async (req) => {
      const b = req.body;
      const encoder = await assertActsFor(store, req.principal, b.encoderId);
      if (req.principal?.scheme !== 'did' || !encoder.did) {
        throw new ForbiddenError('offers are published by did:key encoders with their signed requests');
      }
      const prices = Object.fromEntries(
        Object.entries(b.prices).map(([tier, price]) => [tier, parseHbd(price, `prices.${tier}`)]),
      );
      if (Object.keys(prices).length === 0) throw new ValidationError('prices: at least one tier');
      if (b.hive) {
        if (!opts.hive) throw new ValidationError('hive: this coordinator has no Hive node configured');
        parseBindingStatement(b.hive.statement, { did: encoder.did, account: b.hive.account }, new Date());
        await opts.hive.accounts.verifyPosting(b.hive.account, b.hive.statement, b.hive.signature);
        await market.bind({
          encoderId: encoder.id,
          did: encoder.did,
          hiveAccount: b.hive.account,
          statement: b.hive.statement,
          signature: b.hive.signature,
        });
      }
      const offer = await market.putOffer(encoder.id, { prices, maxConcurrent: b.maxConcurrent });
      const binding = await market.bindingOf(encoder.id);
      return {
        offer: {
          encoderId: offer.encoderId,
          prices: Object.fromEntries(Object.entries(offer.prices).map(([t, p]) => [t, formatHbd(p ?? 0)])),
          maxConcurrent: offer.maxConcurrent,
        },
        hiveAccount: binding?.hiveAccount ?? null,
      };
    },
  );

  app.get(
    '/community/orders',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'listOpenOrders',
        summary: 'Open market orders community encoders may bid on (oldest first)',
        tags: ['community'],
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }),
        response: { 200: z.object({ orders: z.array(orderView) }) },
      },
    },
    async (req) => ({ orders: (await market.openOrders(req.query.limit)).map(viewOrder) }),
  );

  app.post(
    '/community/bids',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'placeBid',
        summary: 'Bid on a job (replaces this encoder’s open bid); auto-accepted when the order allows it',
        tags: ['community'],
        body: z.strictObject({
          encoderId: z.string().min(1).max(128),
          jobId: z.string().min(1).max(64),
          price: hbd,
        }),
        response: { 201: z.object({ bid: bidView }) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const encoder = await assertActsFor(store, req.principal, b.encoderId);
      const bid = await market.bid(encoder.id, b.jobId, parseHbd(b.price, 'price'));
      return reply.status(201).send({ bid: viewBid(bid) });
    },
  );

  app.post(
    '/community/accept',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'acceptBid',
        summary: "Accept a bid on one's own job: its price is held in the job's escrow",
        tags: ['community'],
        body: z.strictObject({ jobId: z.string().min(1).max(64), bidId: z.string().min(1).max(64) }),
        response: { 200: z.object({ order: orderView }) },
      },
    },
    async (req) => {
      const order = await market.accept(req.body.jobId, req.body.bidId, { payer: payerOf(req.principal) });
      return { order: viewOrder(order) };
    },
  );

  app.get(
    '/community/jobs/:jobId',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getOrder',
        summary: "A job's market order and its bids (the payer's own)",
        tags: ['community'],
        params: z.object({ jobId: z.string().min(1).max(64) }),
        response: { 200: z.object({ order: orderView, bids: z.array(bidView) }) },
      },
    },
    async (req) => {
      const order = await market.getOrder(req.params.jobId);
      // Another payer's order answers exactly like a missing one.
      if (req.principal?.tenant !== undefined && order.payer !== payerOf(req.principal)) {
        throw new OrderNotFoundError(`no market order for job ${req.params.jobId}`);
      }
      return { order: viewOrder(order), bids: (await market.bids(order.jobId)).map(viewBid) };
    },
  );

  app.post(
    '/community/quote',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'quote',
        summary:
          'Prices of the live offers for a duration and ladder, or for an http(s) source the coordinator probes (before submitting)',
        tags: ['community'],
        body: z.union([
          z.strictObject({
            durationS: z.number().positive().max(86_400),
            heights: z.array(z.number().int().min(64).max(4320)).min(1).max(16),
          }),
          z.strictObject({ source: httpSourceSchema.strict(), ladder: ladderOptionsSchema.optional() }),
        ]),
        response: {
          200: z.object({
            quotes: z.array(z.object({ encoderId: z.string(), price: z.string() })),
            lowest: z.string().nullable(),
            durationS: z.number(),
            heights: z.array(z.number()),
          }),
        },
      },
    },
    async (req) => {
      let basis: { durationS: number; heights: number[] };
      if ('source' in req.body) {
        const u = opts.urlQuotes;
        if (!u) throw new ValidationError('source: this coordinator quotes only a duration and heights');
        if (u.refusePrivateUrls) assertNoPrivateUrlLiterals({ source: req.body.source }, '', u.ssrfAllow);
        const { url, headers } = req.body.source;
        const plan = planLadder(
          await u.probe({ url, ...(headers ? { headers } : {}) }),
          req.body.ladder ?? {},
        );
        basis = {
          durationS: plan.durationS,
          heights: plan.renditions.flatMap((r) => (r.kind === 'video' ? [Math.min(r.width, r.height)] : [])),
        };
        if (basis.heights.length === 0) throw new ValidationError('source: no video renditions to price');
      } else {
        basis = req.body as { durationS: number; heights: number[] };
      }
      const offers = await market.liveOffers();
      const quotes = offers
        .map((o) => ({ encoderId: o.encoderId, q: quoteOf(o.prices, basis.durationS, basis.heights) }))
        .filter((o): o is { encoderId: string; q: number } => o.q !== null)
        .sort((a, b) => a.q - b.q);
      return {
        quotes: quotes.map((q) => ({ encoderId: q.encoderId, price: formatHbd(q.q) })),
        lowest: quotes[0] ? formatHbd(quotes[0].q) : null,
        durationS: basis.durationS,
        heights: basis.heights,
      };
    },
  );

  app.post(
    '/wallet/deposits',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'createDeposit',
        summary: 'A deposit id: send HBD to the operator account with it as the memo',
        tags: ['wallet'],
        response: { 201: z.object({ id: z.string(), to: z.string().nullable(), memo: z.string() }) },
      },
    },
    async (req, reply) => {
      const dep = await market.createDeposit(payerOf(req.principal));
      return reply.status(201).send({ id: dep.id, to: opts.hive?.account ?? null, memo: dep.id });
    },
  );

  app.get(
    '/wallet',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getWallet',
        summary: "The caller's ledger account: balance and statement (newest first)",
        tags: ['wallet'],
        querystring: z.object({ before: z.coerce.number().int().positive().optional() }),
        response: { 200: statementViewSchema },
      },
    },
    async (req) => {
      const payer = payerOf(req.principal);
      const view = await statementOf(userAccount(payer), req.query.before);
      if (!opts.withdrawals || req.query.before) return view;
      return { ...view, withdrawals: (await opts.withdrawals.list(payer, 10)).map(viewWithdrawal) };
    },
  );

  const withdrawalsOrRefuse = (): Withdrawals => {
    if (!opts.withdrawals) {
      throw new MarketConflictError(
        'withdrawals need a Hive node, account and active key on this coordinator',
      );
    }
    return opts.withdrawals;
  };

  app.post(
    '/wallet/withdrawals',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'createWithdrawal',
        summary: "Withdraw HBD from the caller's balance to its own Hive account (Idempotency-Key required)",
        tags: ['wallet'],
        headers: z.object({ 'idempotency-key': z.string().min(1).max(255) }),
        body: z.strictObject({ amount: hbd }),
        response: { 200: withdrawalViewSchema, 201: withdrawalViewSchema },
      },
    },
    async (req, reply) => {
      const withdrawals = withdrawalsOrRefuse();
      const amount = parseHbd(req.body.amount, 'amount');
      if (amount <= 0) throw new ValidationError('amount: above zero');
      const { withdrawal, created } = await withdrawals.request({
        payer: payerOf(req.principal),
        key: req.headers['idempotency-key'],
        amount,
      });
      if (created) opts.onWithdrawal?.();
      return reply.status(created ? 201 : 200).send(viewWithdrawal(withdrawal));
    },
  );

  app.get(
    '/wallet/withdrawals',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listWithdrawals',
        summary: "The caller's withdrawals (newest first), its Hive account and the withdrawal limits",
        tags: ['wallet'],
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
        response: {
          200: z.object({
            hiveAccount: z.string().nullable(),
            min: z.string(),
            dailyCap: z.string(),
            withdrawals: z.array(withdrawalViewSchema),
          }),
        },
      },
    },
    async (req) => {
      const withdrawals = withdrawalsOrRefuse();
      const payer = payerOf(req.principal);
      return {
        hiveAccount: await withdrawals.destinationOf(payer),
        min: formatHbd(withdrawals.limits.min),
        dailyCap: formatHbd(withdrawals.limits.dailyCap),
        withdrawals: (await withdrawals.list(payer, req.query.limit)).map(viewWithdrawal),
      };
    },
  );

  app.put(
    '/wallet/hive-account',
    {
      // Operator only: where a tenant's money may go is not for any key that can submit jobs (a
      // leaked submit key plus the thief's own Keychain signature would otherwise redirect it).
      config: { scope: 'admin' },
      schema: {
        operationId: 'verifyWalletAccount',
        summary:
          "Set a tenant's withdrawal account (admin): the Hive account's Keychain-signed wallet binding statement",
        tags: ['wallet'],
        body: z.strictObject({
          tenant: z.string().regex(TENANT_RE, 'a tenant name').optional(),
          account: z.string().regex(HIVE_ACCOUNT_RE, 'a Hive account name'),
          statement: z.string().max(500),
          signature: z.string().max(200),
        }),
        response: { 200: z.object({ hiveAccount: z.string() }) },
      },
    },
    async (req) => {
      const withdrawals = withdrawalsOrRefuse();
      if (!opts.hive) throw new MarketConflictError('this coordinator has no Hive node configured');
      const payer = req.body.tenant ?? payerOf(req.principal);
      if (payer.startsWith('hive:')) {
        throw new MarketConflictError('a Hive Keychain user withdraws to its own account');
      }
      const b = req.body;
      parseWalletBindingStatement(b.statement, { payer, account: b.account }, new Date());
      await opts.hive.accounts.verifyPosting(b.account, b.statement, b.signature);
      await withdrawals.verifyAccount({
        payer,
        hiveAccount: b.account,
        statement: b.statement,
        signature: b.signature,
      });
      return { hiveAccount: b.account };
    },
  );

  app.get(
    '/community/wallet/:encoderId',
    {
      config: { scope: 'encoder' },
      schema: {
        operationId: 'getEncoderWallet',
        summary: "An encoder's earnings account: balance and statement (newest first)",
        tags: ['wallet'],
        params: z.object({ encoderId: z.string().min(1).max(128) }),
        querystring: z.object({ before: z.coerce.number().int().positive().optional() }),
        response: { 200: statementViewSchema },
      },
    },
    async (req) => {
      const encoder = await assertActsFor(store, req.principal, req.params.encoderId, { allowPending: true });
      return statementOf(encoderAccount(encoder.id), req.query.before);
    },
  );
};

/**
 * The job routes' hook for `market` specs: opens the order with the quote basis (the source's duration
 * and the planned renditions' short sides) when the source is an upload the coordinator can probe;
 * other sources get an order without one (bids still work; offers cannot be ranked for it).
 */
export function marketOrderOpener(market: Market, uploadsDir: string) {
  return async (job: Job, spec: JobSpec, principal: Principal | undefined): Promise<void> => {
    const maxPrice = parseHbd(spec.market?.maxPrice ?? '', 'market.maxPrice');
    if (maxPrice <= 0) throw new ValidationError('market.maxPrice: above zero');
    let basis: { durationS: number; heights: number[] } | undefined;
    if (spec.source.type === 'upload') {
      try {
        const plan = planLadder(await probe(await uploadPath(uploadsDir, spec.source.id)), spec.ladder ?? {});
        const heights = plan.renditions.flatMap((r) =>
          r.kind === 'video' ? [Math.min(r.width, r.height)] : [],
        );
        basis = { durationS: plan.durationS, heights };
      } catch {
        basis = undefined;
      }
    }
    await market.openOrder({
      jobId: job.id,
      payer: payerOf(principal),
      maxPrice,
      autoAccept: spec.market?.autoAccept ?? true,
      ...(basis ?? {}),
    });
  };
}
