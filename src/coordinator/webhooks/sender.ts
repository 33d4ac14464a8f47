import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isSealed, type SecretBox, signWebhook, WEBHOOK_SIGNATURE_HEADER } from '../../identity/index.js';
import type { JobStore, WebhookDelivery, WebhookQueue } from '../../jobs/index.js';
import type { Logger } from '../../log.js';
import { assertPublicDestination, createGuardedAgents, type SsrfPolicy } from '../../storage/index.js';
import { webhookBody } from './payload.js';

/**
 * Delays before each retry, milliseconds: attempt n (1-based) failing waits `schedule[n-1]`; once
 * the schedule is spent the delivery is `failed`. Default: 30 s doubling to 8 h, about 24 h in all.
 */
export const DEFAULT_WEBHOOK_SCHEDULE_MS: readonly number[] = [
  30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000,
  28_800_000,
];

/** Longest response body kept in the delivery log, characters. */
export const RESPONSE_SNIPPET_CHARS = 512;

export type DeliveryOutcome = 'delivered' | 'retry' | 'failed';

export interface WebhookSenderOptions {
  queue: WebhookQueue;
  /** Reads a job's spec for its webhook secret (sealed specs need `secretBox`). */
  store: Pick<JobStore, 'get'>;
  secretBox?: SecretBox;
  /** Sends only while this returns true (the maintenance leader); default always. */
  isLeader?: () => boolean;
  /** Base URL of this coordinator (URLs of `local` outputs in payloads). */
  publicUrl: () => string;
  /** `<media origin>/media` when media is served from its own origin (`VIDMESH_MEDIA_ORIGIN`). */
  mediaBase?: () => string;
  /** Webhook URLs must resolve to public addresses except those allowed here (tests: 127.0.0.1). */
  ssrf?: SsrfPolicy;
  scheduleMs?: readonly number[];
  /** Queue poll period, milliseconds (default 1000). */
  intervalMs?: number;
  /** Deliveries sent at once (default 16). */
  batch?: number;
  /** Per-request timeout, milliseconds (default 10 000). */
  timeoutMs?: number;
  userAgent?: string;
  log?: Logger;
  /** Called after every attempt (metrics): outcome and latency in seconds. */
  onAttempt?: (outcome: DeliveryOutcome, latencyS: number, delivery: WebhookDelivery) => void;
}

export interface WebhookSender {
  /** One pass over the due deliveries (the loop calls it; tests may too). Returns attempts made. */
  runOnce(): Promise<number>;
  /** Stops the loop and waits for the pass in flight. */
  stop(): Promise<void>;
}

interface HttpOutcome {
  statusCode: number | null;
  error: string | null;
  response: string | null;
}

/**
 * Starts the background sender: every `intervalMs` on the leader, due deliveries (per job and URL in
 * order) are POSTed with `Content-Type: application/json`, `Vidmesh-Signature` (HMAC-SHA256 with the
 * job's `webhook.secret` or the subscription's secret; identity's scheme), `Vidmesh-Event` and
 * `Vidmesh-Delivery` (stable id: receivers dedupe on it). Any 2xx is success; redirects are not
 * followed (a 3xx is a failure). Never throws from the loop; errors are logged.
 */
export function startWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const schedule = options.scheduleMs ?? DEFAULT_WEBHOOK_SCHEDULE_MS;
  if (schedule.length === 0 || schedule.some((d) => !(d >= 0))) throw new RangeError('bad webhook schedule');
  const intervalMs = options.intervalMs ?? 1000;
  const batch = options.batch ?? 16;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const ssrf = options.ssrf ?? {};
  const agents = createGuardedAgents(ssrf);
  const log = options.log;

  const secretFor = async (d: WebhookDelivery): Promise<string | null> => {
    let secret: string | null = null;
    if (d.subscriptionId === 'job') {
      if (!d.jobId) return null;
      const job = await options.store.get(d.jobId);
      const spec = job.spec as { webhook?: { secret?: unknown } } | null;
      secret = typeof spec?.webhook?.secret === 'string' ? spec.webhook.secret : null;
      if (secret && isSealed(secret)) secret = options.secretBox?.open(secret, 'webhook.secret') ?? null;
    } else if (d.subscriptionId) {
      const sub = await options.queue.getSubscription(d.subscriptionId).catch(() => null);
      secret = sub?.secret ?? null;
      if (secret && isSealed(secret)) secret = options.secretBox?.open(secret, 'subscription.secret') ?? null;
    }
    return secret;
  };

  const post = async (url: string, body: string, headers: Record<string, string>): Promise<HttpOutcome> => {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      return { statusCode: null, error: 'webhook URL must be http(s)', response: null };
    }
    // IP-literal hosts bypass the agents' lookup: check them (and names) before connecting.
    await assertPublicDestination(u, ssrf);
    return new Promise((resolve) => {
      const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        u,
        {
          method: 'POST',
          agent: u.protocol === 'https:' ? agents.https : agents.http,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          timeout: timeoutMs,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (text.length < RESPONSE_SNIPPET_CHARS) text += chunk;
          });
          res.on('end', () =>
            resolve({
              statusCode: res.statusCode ?? null,
              error: null,
              response: text.slice(0, RESPONSE_SNIPPET_CHARS),
            }),
          );
          res.on('error', (err) =>
            resolve({ statusCode: res.statusCode ?? null, error: err.message, response: null }),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', (err) => resolve({ statusCode: null, error: err.message, response: null }));
      req.end(body);
    });
  };

  const deliver = async (d: WebhookDelivery): Promise<void> => {
    const started = performance.now();
    let outcome: HttpOutcome;
    try {
      const body = webhookBody(d, options.publicUrl(), options.mediaBase?.());
      const secret = await secretFor(d);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': options.userAgent ?? 'vidmesh-webhooks',
        'vidmesh-event': d.event,
        'vidmesh-delivery': `whd_${d.id}`,
      };
      if (secret) headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] = signWebhook(secret, body);
      outcome = await post(d.url, body, headers);
    } catch (err) {
      outcome = { statusCode: null, error: (err as Error).message, response: null };
    }
    const latencyMs = performance.now() - started;
    const ok = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    const attempt = d.attempts + 1;
    const result: DeliveryOutcome = ok ? 'delivered' : attempt > schedule.length ? 'failed' : 'retry';
    const at = new Date();
    await options.queue.recordAttempt(d.id, {
      at,
      statusCode: outcome.statusCode,
      latencyMs,
      error: ok ? null : (outcome.error ?? `HTTP ${outcome.statusCode}`),
      response: outcome.response,
      outcome: result,
      ...(result === 'retry' ? { nextAttemptAt: new Date(at.getTime() + schedule[attempt - 1]!) } : {}),
    });
    options.onAttempt?.(result, latencyMs / 1000, d);
    const fields = {
      deliveryId: d.id,
      jobId: d.jobId,
      event: d.event,
      attempt,
      statusCode: outcome.statusCode,
    };
    if (result === 'failed')
      log?.warn({ ...fields, err: outcome.error }, 'webhooks: delivery failed for good');
    else if (result === 'retry')
      log?.info({ ...fields, err: outcome.error }, 'webhooks: delivery will be retried');
    else log?.debug(fields, 'webhooks: delivered');
  };

  const runOnce = async (): Promise<number> => {
    if (options.isLeader && !options.isLeader()) return 0;
    const due = await options.queue.due(new Date(), batch);
    // `due` returns at most one delivery per job and URL, so these may all go at once.
    await Promise.all(
      due.map((d) =>
        deliver(d).catch((err) => log?.error({ err, deliveryId: d.id }, 'webhooks: send failed')),
      ),
    );
    return due.length;
  };

  let stopped = false;
  let inFlight: Promise<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopped) return;
    inFlight = runOnce()
      .then((n) => n)
      .catch((err) => {
        log?.error({ err }, 'webhooks: sender pass failed');
        return 0;
      })
      .then((n) => {
        // A full batch means more may be due: go again at once.
        if (!stopped) timer = setTimeout(loop, n >= batch ? 0 : intervalMs);
      });
  };
  timer = setTimeout(loop, 0);
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
