import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import { isDidKey, verifyPairingProof } from '../../identity/index.js';
import type { Encoder, JobStore } from '../../jobs/index.js';
import { USER_NAME_PATTERN } from '../../jobs/index.js';
import { AGENT_STATUSES, HW_ACCELS, hwAccelOf } from '../../protocol/index.js';

export interface UserRouteOptions {
  store: JobStore;
}

const userName = z.string().regex(USER_NAME_PATTERN, 'user: 1..64 characters of A-Z a-z 0-9 . _ -');
const userParams = z.object({ user: userName });

const settingsView = z.object({
  user: z.string(),
  preferOwnAgent: z.boolean(),
  allowBrowser: z.boolean(),
  allowCommunity: z.boolean(),
  maxPrice: z.number().nullable(),
});

const settingsPatch = z
  .object({
    preferOwnAgent: z.boolean(),
    allowBrowser: z.boolean(),
    allowCommunity: z.boolean(),
    maxPrice: z.number().min(0).max(1e12).nullable(),
  })
  .partial()
  .strict();

const checkView = z.object({
  user: z.string(),
  status: z.enum(AGENT_STATUSES),
  encoderId: z.string().nullable(),
  version: z.string().nullable(),
  hwAccel: z.enum(HW_ACCELS),
  jobsInProgress: z.number().int(),
  lastSeenAt: z.string().nullable(),
});

/**
 * Hybrid encoders' user side (docs/encoders.md): routing settings per user of the caller's tenant
 * (`GET/PATCH /settings/:user`, the blueprint's settings), pairing a desktop agent's did:key with a
 * user (`POST /agent/pairings`, a tenant key plus the agent's signed proof), and the blueprint's
 * `check-agent` (`POST /agent/check`): the user's agent as the registry sees it.
 */
export const userRoutes: FastifyPluginAsyncZod<UserRouteOptions> = async (app, { store }) => {
  const tenantOf = (req: { principal?: { tenant?: string } }) => req.principal?.tenant ?? 'default';

  app.get(
    '/settings/:user',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getUserSettings',
        summary: "A user's routing settings (defaults when never set)",
        tags: ['users'],
        params: userParams,
        response: { 200: settingsView },
      },
    },
    async (req) => ({
      user: req.params.user,
      ...(await store.getUserSettings(tenantOf(req), req.params.user)),
    }),
  );

  app.patch(
    '/settings/:user',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'updateUserSettings',
        summary: "Change a user's routing settings (own agent, browser, community and its maxPrice)",
        tags: ['users'],
        params: userParams,
        body: settingsPatch,
        response: { 200: settingsView },
      },
    },
    async (req) => ({
      user: req.params.user,
      ...(await store.updateUserSettings(tenantOf(req), req.params.user, req.body)),
    }),
  );

  app.get(
    '/agent/pairings/claims',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'getPairingClaims',
        summary: "What a pairing proof for a user of the caller's tenant must say (the agent signs it)",
        tags: ['users'],
        querystring: z.object({ user: userName }),
        response: {
          200: z.object({ typ: z.literal('vidmesh-agent-pairing'), tenant: z.string(), user: z.string() }),
        },
      },
    },
    async (req) => ({
      typ: 'vidmesh-agent-pairing' as const,
      tenant: tenantOf(req),
      user: req.query.user,
    }),
  );

  app.post(
    '/agent/pairings',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'pairAgent',
        summary: "Pair a desktop agent's did:key with a user of the caller's tenant",
        tags: ['users'],
        body: z.object({
          did: z.string().max(256),
          user: userName,
          /** Compact JWS by `did` of `{typ: 'vidmesh-agent-pairing', tenant, user, iat, exp}`. */
          proof: z.string().max(8192),
        }),
        response: {
          201: z.object({ did: z.string(), user: z.string(), tenant: z.string(), createdAt: z.string() }),
        },
      },
    },
    async (req, reply) => {
      if (!isDidKey(req.body.did)) throw new ValidationError('did must be a did:key (Ed25519)');
      // The proof names the tenant it was signed for: a key of another tenant cannot use it.
      const tenant = tenantOf(req);
      await verifyPairingProof(req.body.proof, { did: req.body.did, tenant, user: req.body.user });
      const b = await store.bindAgent(req.body.did, tenant, req.body.user);
      return reply
        .status(201)
        .send({ did: b.did, user: b.user, tenant: b.tenant, createdAt: b.createdAt.toISOString() });
    },
  );

  app.post(
    '/agent/check',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'checkAgent',
        summary: "The user's desktop agent as the coordinator sees it (blueprint check-agent)",
        tags: ['users'],
        body: z.object({ user: userName }),
        response: { 200: checkView },
      },
    },
    async (req) => {
      const tenant = tenantOf(req);
      const mine = (await store.listEncoders({ kind: 'desktop' })).filter(
        (e) => e.user?.tenant === tenant && e.user.name === req.body.user && e.approval === 'approved',
      );
      // The live one first, idle before busy, then the most recently seen.
      const rank = (e: Encoder) => (e.status === 'online' ? (e.activeJobs > 0 ? 1 : 0) : 2);
      mine.sort((a, b) => rank(a) - rank(b) || b.lastSeenAt.getTime() - a.lastSeenAt.getTime());
      const e = mine[0];
      const status: (typeof AGENT_STATUSES)[number] =
        e?.status !== 'online' ? 'offline' : e.activeJobs > 0 ? 'busy' : 'ready';
      return {
        user: req.body.user,
        status,
        encoderId: e?.id ?? null,
        version: e?.version ?? null,
        hwAccel: hwAccelOf(e?.capabilities.hwaccel),
        jobsInProgress: e?.activeJobs ?? 0,
        lastSeenAt: e?.lastSeenAt.toISOString() ?? null,
      };
    },
  );
};
