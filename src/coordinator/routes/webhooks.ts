import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { generateWebhookSecret, type SecretBox } from '../../identity/index.js';
import { WEBHOOK_EVENTS, type WebhookDelivery, type WebhookQueue } from '../../jobs/index.js';
import { assertPublicDestination, type SsrfPolicy } from '../../storage/index.js';

export interface WebhookRouteOptions {
  queue: WebhookQueue;
  /** Seals subscription secrets at rest (path `subscription.secret`). */
  secretBox?: SecretBox;
  /** Subscription URLs must be public unless allowed here (the sender checks again at each send). */
  ssrf?: SsrfPolicy;
}

const eventSchema = z.enum(WEBHOOK_EVENTS as [string, ...string[]]);
const urlSchema = z
  .string()
  .max(2048)
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'webhook URL must be http(s)');

const subscriptionView = z.object({
  id: z.string(),
  tenant: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  signed: z.boolean(),
  description: z.string().nullable(),
  createdAt: z.string(),
});

const deliveryView = z.object({
  id: z.number(),
  jobId: z.string().nullable(),
  tenant: z.string(),
  url: z.string(),
  event: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number(),
  nextAttemptAt: z.string(),
  lastStatusCode: z.number().nullable(),
  lastError: z.string().nullable(),
  lastLatencyMs: z.number().nullable(),
  lastResponse: z.string().nullable(),
  subscriptionId: z.string().nullable(),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
});

const attemptView = z.object({
  at: z.string(),
  statusCode: z.number().nullable(),
  latencyMs: z.number(),
  error: z.string().nullable(),
  response: z.string().nullable(),
});

function toView(d: WebhookDelivery): z.infer<typeof deliveryView> {
  return {
    id: d.id,
    jobId: d.jobId,
    tenant: d.tenant,
    url: d.url,
    event: d.event,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.nextAttemptAt.toISOString(),
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    lastLatencyMs: d.lastLatencyMs,
    lastResponse: d.lastResponse,
    subscriptionId: d.subscriptionId,
    createdAt: d.createdAt.toISOString(),
    deliveredAt: d.deliveredAt ? d.deliveredAt.toISOString() : null,
  };
}

const idParams = z.object({ id: z.coerce.number().int().min(1) });

/**
 * Webhook subscriptions (per tenant) and the delivery log: `GET|POST /webhooks/subscriptions`,
 * `DELETE /webhooks/subscriptions/:id`, `GET /webhooks/deliveries`, `GET /webhooks/deliveries/:id`
 * (with its attempts), `POST /webhooks/deliveries/:id/resend`. A tenant key sees only its tenant;
 * other tenants' items are 404. A subscription's secret is returned once, at creation.
 */
export const webhookRoutes: FastifyPluginAsyncZod<WebhookRouteOptions> = async (app, opts) => {
  const { queue } = opts;
  const visible = (tenant: string, principalTenant: string | undefined) =>
    principalTenant === undefined || principalTenant === tenant;

  app.get(
    '/webhooks/subscriptions',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listWebhookSubscriptions',
        summary: 'Tenant-wide webhook subscriptions',
        tags: ['webhooks'],
        response: { 200: z.object({ subscriptions: z.array(subscriptionView) }) },
      },
    },
    async (req) => ({
      subscriptions: (await queue.listSubscriptions(req.principal?.tenant)).map((s) => ({
        ...s,
        signed: s.secret !== null,
        createdAt: s.createdAt.toISOString(),
      })),
    }),
  );

  app.post(
    '/webhooks/subscriptions',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'createWebhookSubscription',
        summary: "Subscribe a URL to the events of every job of the caller's tenant",
        tags: ['webhooks'],
        body: z.strictObject({
          url: urlSchema,
          events: z.array(eventSchema).max(WEBHOOK_EVENTS.length).optional(),
          secret: z.string().min(16).max(256).optional(),
          description: z.string().max(200).optional(),
        }),
        response: { 201: z.object({ subscription: subscriptionView, secret: z.string() }) },
      },
    },
    async (req, reply) => {
      await assertPublicDestination(req.body.url, opts.ssrf ?? {});
      const secret = req.body.secret ?? generateWebhookSecret();
      const box = opts.secretBox;
      const sub = await queue.createSubscription({
        tenant: req.principal?.tenant ?? 'default',
        url: req.body.url,
        events: (req.body.events ?? []) as never,
        secret: box ? box.seal(secret, 'subscription.secret') : secret,
        description: req.body.description ?? null,
      });
      return reply.status(201).send({
        subscription: { ...sub, signed: true, createdAt: sub.createdAt.toISOString() },
        secret,
      });
    },
  );

  app.delete(
    '/webhooks/subscriptions/:id',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'deleteWebhookSubscription',
        summary: 'Remove a subscription (deliveries already queued are still sent)',
        tags: ['webhooks'],
        params: z.object({ id: z.string().min(1).max(64) }),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      await queue.deleteSubscription(req.params.id, { tenant: req.principal?.tenant });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/webhooks/deliveries',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listWebhookDeliveries',
        summary: 'The delivery log, newest first',
        tags: ['webhooks'],
        querystring: z.object({
          jobId: z.string().min(1).max(64).optional(),
          status: z.enum(['pending', 'delivered', 'failed']).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
        }),
        response: { 200: z.object({ deliveries: z.array(deliveryView) }) },
      },
    },
    async (req) => ({
      deliveries: (await queue.list({ ...req.query, tenant: req.principal?.tenant })).map(toView),
    }),
  );

  app.get(
    '/webhooks/deliveries/:id',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getWebhookDelivery',
        summary: 'One delivery with its payload snapshot and every attempt',
        tags: ['webhooks'],
        params: idParams,
        response: {
          200: z.object({
            delivery: deliveryView.extend({ payload: z.record(z.string(), z.unknown()) }),
            attempts: z.array(attemptView),
          }),
        },
      },
    },
    async (req) => {
      const d = await queue.get(req.params.id);
      if (!visible(d.tenant, req.principal?.tenant))
        throw new NotFoundError(`webhook delivery ${d.id} not found`);
      const attempts = await queue.attempts(d.id);
      return {
        delivery: { ...toView(d), payload: d.payload },
        attempts: attempts.map((a) => ({
          at: a.at.toISOString(),
          statusCode: a.statusCode,
          latencyMs: a.latencyMs,
          error: a.error,
          response: a.response,
        })),
      };
    },
  );

  app.post(
    '/webhooks/deliveries/:id/resend',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'resendWebhookDelivery',
        summary: 'Queue a delivery again (due now, fresh retry schedule, same body and delivery id)',
        tags: ['webhooks'],
        params: idParams,
        response: { 202: z.object({ delivery: deliveryView }) },
      },
    },
    async (req, reply) => {
      const d = await queue.resend(req.params.id, { tenant: req.principal?.tenant });
      return reply.status(202).send({ delivery: toView(d) });
    },
  );
};
