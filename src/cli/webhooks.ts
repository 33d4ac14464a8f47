import type { Command } from 'commander';
import { loadConfig, resolveClientTarget } from '../config.js';
import { ValidationError } from '../errors.js';
import { type ClientFlags, output, withClientOptions } from './client/common.js';
import { adminApiCall } from './keys.js';

interface Subscription {
  id: string;
  tenant: string;
  url: string;
  events: string[];
  signed: boolean;
  description: string | null;
  createdAt: string;
}

interface Delivery {
  id: number;
  jobId: string | null;
  url: string;
  event: string;
  status: string;
  attempts: number;
  nextAttemptAt: string;
  lastStatusCode: number | null;
  lastError: string | null;
  lastLatencyMs: number | null;
  lastResponse: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

interface Attempt {
  at: string;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  response: string | null;
}

const targetOf = (flags: ClientFlags) =>
  resolveClientTarget(
    loadConfig({ flags: { url: flags.url, apiKey: flags.apiKey, dataDir: flags.dataDir } }),
  );

function deliveryLine(d: Delivery): string {
  const outcome = d.lastStatusCode ?? d.lastError ?? '-';
  const latency = d.lastLatencyMs === null ? '' : ` ${d.lastLatencyMs} ms`;
  return (
    `${String(d.id).padStart(6)}  ${d.status.padEnd(9)} ${d.event.padEnd(19)} ${d.jobId ?? '-'}  ` +
    `tries ${d.attempts}  last ${outcome}${latency}  ${d.url}`
  );
}

/**
 * `vidmesh webhooks list|subscribe|unsubscribe|deliveries|show|resend`: tenant subscriptions and the
 * delivery log of the coordinator's REST API (`/api/v1/webhooks/...`, docs/operations.md).
 */
export function register(program: Command): void {
  const webhooks = program.command('webhooks').description('webhook subscriptions and the delivery log');

  withClientOptions(webhooks.command('list').description("list the tenant's webhook subscriptions")).action(
    async (flags: ClientFlags) => {
      const r = await adminApiCall<{ subscriptions: Subscription[] }>(
        targetOf(flags),
        'GET',
        '/api/v1/webhooks/subscriptions',
      );
      output(
        flags,
        r,
        () =>
          r.subscriptions
            .map(
              (s) =>
                `${s.id}  ${s.url}  ${s.events.join(',') || 'all events'}  ${s.signed ? 'signed' : 'unsigned'}`,
            )
            .join('\n') || 'no subscriptions',
      );
    },
  );

  withClientOptions(
    webhooks
      .command('subscribe <url>')
      .description("send the events of every job of the caller's tenant to <url>")
      .option('--events <list>', 'comma-separated events (default: all)')
      .option('--secret <secret>', 'signing secret (default: generated and printed once)')
      .option('--description <text>', 'a note shown in listings'),
  ).action(
    async (url: string, flags: ClientFlags & { events?: string; secret?: string; description?: string }) => {
      const events = flags.events
        ?.split(',')
        .map((e) => e.trim())
        .filter(Boolean);
      const r = await adminApiCall<{ subscription: Subscription; secret: string }>(
        targetOf(flags),
        'POST',
        '/api/v1/webhooks/subscriptions',
        {
          url,
          ...(events?.length ? { events } : {}),
          ...(flags.secret ? { secret: flags.secret } : {}),
          ...(flags.description ? { description: flags.description } : {}),
        },
      );
      output(flags, r, () => `${r.subscription.id}  ${r.subscription.url}\nsecret (shown once): ${r.secret}`);
    },
  );

  withClientOptions(webhooks.command('unsubscribe <id>').description('remove a subscription')).action(
    async (id: string, flags: ClientFlags) => {
      await adminApiCall(
        targetOf(flags),
        'DELETE',
        `/api/v1/webhooks/subscriptions/${encodeURIComponent(id)}`,
      );
      output(flags, { deleted: id }, () => `deleted ${id}`);
    },
  );

  withClientOptions(
    webhooks
      .command('deliveries')
      .description('the delivery log, newest first')
      .option('--job <id>', "only this job's deliveries")
      .option('--status <status>', 'pending | delivered | failed')
      .option('--limit <n>', 'at most this many (1..500)', '50'),
  ).action(async (flags: ClientFlags & { job?: string; status?: string; limit?: string }) => {
    const q = new URLSearchParams();
    if (flags.job) q.set('jobId', flags.job);
    if (flags.status) {
      if (!['pending', 'delivered', 'failed'].includes(flags.status)) {
        throw new ValidationError('--status must be pending, delivered or failed');
      }
      q.set('status', flags.status);
    }
    q.set('limit', flags.limit ?? '50');
    const r = await adminApiCall<{ deliveries: Delivery[] }>(
      targetOf(flags),
      'GET',
      `/api/v1/webhooks/deliveries?${q}`,
    );
    output(flags, r, () => r.deliveries.map(deliveryLine).join('\n') || 'no deliveries');
  });

  withClientOptions(
    webhooks.command('show <id>').description('one delivery with its payload and every attempt'),
  ).action(async (id: string, flags: ClientFlags) => {
    const r = await adminApiCall<{ delivery: Delivery & { payload: unknown }; attempts: Attempt[] }>(
      targetOf(flags),
      'GET',
      `/api/v1/webhooks/deliveries/${encodeURIComponent(id)}`,
    );
    output(flags, r, () =>
      [
        deliveryLine(r.delivery),
        ...r.attempts.map(
          (a) =>
            `  ${a.at}  ${a.statusCode ?? a.error ?? '-'}  ${a.latencyMs} ms` +
            (a.response ? `  ${JSON.stringify(a.response.slice(0, 120))}` : ''),
        ),
      ].join('\n'),
    );
  });

  withClientOptions(
    webhooks.command('resend <id>').description('queue a delivery again (same body and delivery id)'),
  ).action(async (id: string, flags: ClientFlags) => {
    const r = await adminApiCall<{ delivery: Delivery }>(
      targetOf(flags),
      'POST',
      `/api/v1/webhooks/deliveries/${encodeURIComponent(id)}/resend`,
    );
    output(flags, r, () => deliveryLine(r.delivery));
  });
}
