import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { API_KEY_SCOPES, type ApiKeyInfo, type ApiKeyStore } from '../../identity/index.js';
import type { JobStore } from '../../jobs/index.js';
import type { ReputationStore } from '../../trust/index.js';
import { encoderViewSchema } from '../schemas.js';
import { encoderView } from '../views.js';

export interface KeyRouteOptions {
  keys: ApiKeyStore;
  store: Pick<JobStore, 'setEncoderApproval' | 'getEncoder'>;
  /** Reputation of verified encoders: `reinstate` clears its consecutive failures too. */
  reputation?: Pick<ReputationStore, 'reinstate'>;
}

const keyViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.enum(API_KEY_SCOPES)),
  tenant: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});

function keyView(k: ApiKeyInfo): z.infer<typeof keyViewSchema> {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    tenant: k.tenant,
    createdAt: k.createdAt.toISOString(),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  };
}

/** A tenant name as API keys carry it: 1 to 64 of `A-Za-z0-9._-`, starting with a letter or digit. */
export const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Operator routes (scope `admin`): API keys (`/keys`: create shows the plaintext once, listings never
 * carry hashes, revoke by id or prefix) and encoder approval (`/encoders/:id/approve|ban|pending`).
 */
export const keyRoutes: FastifyPluginAsyncZod<KeyRouteOptions> = async (app, opts) => {
  app.post(
    '/keys',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'createApiKey',
        summary: 'Create an API key; the plaintext `key` is in this answer only',
        tags: ['keys'],
        body: z.strictObject({
          scopes: z.array(z.enum(API_KEY_SCOPES)).min(1).max(4),
          tenant: z.string().regex(TENANT_RE).optional(),
          name: z
            .string()
            .regex(/^[\w .@-]{1,64}$/)
            .optional(),
          expiresAt: z.iso
            .datetime({ offset: true })
            .refine((s) => {
              const t = Date.parse(s);
              return t > Date.now() && t - Date.now() <= 10 * 365 * 86_400_000;
            }, 'must be in the future and within 10 years')
            .optional(),
        }),
        response: { 201: z.object({ key: keyViewSchema, plaintext: z.string() }) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const { key, plaintext } = await opts.keys.create({
        scopes: b.scopes,
        ...(b.tenant === undefined ? {} : { tenant: b.tenant }),
        ...(b.name === undefined ? {} : { name: b.name }),
        ...(b.expiresAt === undefined ? {} : { expiresAt: new Date(b.expiresAt) }),
      });
      reply.header('cache-control', 'no-store');
      return reply.status(201).send({ key: keyView(key), plaintext });
    },
  );

  app.get(
    '/keys',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'listApiKeys',
        summary: 'API keys (never their hashes or secrets)',
        tags: ['keys'],
        querystring: z.object({
          tenant: z.string().regex(TENANT_RE).optional(),
          all: z.enum(['true', 'false']).optional(),
        }),
        response: { 200: z.object({ keys: z.array(keyViewSchema) }) },
      },
    },
    async (req) => {
      const list = await opts.keys.list({
        ...(req.query.tenant === undefined ? {} : { tenant: req.query.tenant }),
        includeRevoked: req.query.all === 'true',
      });
      return { keys: list.map(keyView) };
    },
  );

  app.delete(
    '/keys/:id',
    {
      config: { scope: 'admin' },
      schema: {
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key by id or prefix',
        tags: ['keys'],
        params: z.object({ id: z.string().regex(/^[0-9a-f-]{12,36}$/) }),
        response: { 200: z.object({ revoked: z.string() }) },
      },
    },
    async (req) => {
      if (!(await opts.keys.revoke(req.params.id))) {
        throw new NotFoundError('no active API key with that id or prefix');
      }
      return { revoked: req.params.id };
    },
  );

  for (const [action, approval] of [
    ['approve', 'approved'],
    ['ban', 'banned'],
    ['pending', 'pending'],
    ['reinstate', 'approved'],
  ] as const) {
    app.post(
      `/encoders/:id/${action}`,
      {
        config: { scope: 'admin' },
        schema: {
          operationId: `${action}Encoder`,
          summary: `Set an encoder's approval to ${approval}`,
          tags: ['encoders'],
          params: z.object({ id: z.string().min(1).max(256) }),
          response: { 200: z.object({ encoder: encoderViewSchema }) },
        },
      },
      async (req) => {
        // By id or DID: resolve the row first, the update is by id.
        const encoder = await opts.store.getEncoder(req.params.id);
        // Reinstating a suspended encoder also forgets the failures that suspended it (history stays).
        if (action === 'reinstate') await opts.reputation?.reinstate(encoder.id);
        return { encoder: encoderView(await opts.store.setEncoderApproval(encoder.id, approval)) };
      },
    );
  }
};
