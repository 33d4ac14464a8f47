// Public surface of the job store. Everything else in src/jobs is internal.
export { type BackoffPolicy, backoffDelayMs, backoffSchedule, DEFAULT_BACKOFF } from './backoff.js';
export { JOB_EVENTS_CHANNEL } from './changes.js';
export {
  type CreateDatabaseOptions,
  createDatabase,
  type Database,
  type DedicatedConnection,
  type Queryable,
  type QueryOptions,
  type QueryResult,
} from './db.js';
export {
  AgentPairedElsewhereError,
  EncoderNotFoundError,
  InvalidTransitionError,
  JobNotFoundError,
  LeaseLostError,
  MigrationError,
  OrderUnsettledError,
} from './errors.js';
export {
  LEADER_LOCK_KEY,
  type Maintenance,
  type MaintenanceOptions,
  type MaintenanceReport,
  startMaintenance,
} from './maintenance.js';
export { MIGRATION_LOCK_KEY, migrationsDir, runMigrations } from './migrate.js';
export { encoderIdForDid } from './registry.js';
export {
  BROWSER_MAX_DURATION_S,
  DEFAULT_USER_SETTINGS,
  planRoute,
  type RoutePlan,
  type RouteStep,
  type RoutingWindows,
  type UserSettings,
} from './routing.js';
export * as schema from './schema.js';
export { createJobStore, type JobStore, type JobStoreOptions, MAX_LOG_LINE_CHARS } from './store.js';
export * from './types.js';
export { type AgentBinding, USER_NAME_PATTERN } from './users.js';
export {
  type AttemptRecord,
  createWebhookQueue,
  type DeliveryFilter,
  type DeliveryStatus,
  WEBHOOK_EVENTS,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookQueue,
  type WebhookSubscription,
} from './webhooks.js';
