// Public surface of the webhook sender. The queue and its SQL live in src/jobs/webhooks.ts.
export { type WebhookRendition, webhookBody } from './payload.js';
export {
  DEFAULT_WEBHOOK_SCHEDULE_MS,
  type DeliveryOutcome,
  RESPONSE_SNIPPET_CHARS,
  startWebhookSender,
  type WebhookSender,
  type WebhookSenderOptions,
} from './sender.js';
