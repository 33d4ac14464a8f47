/**
 * The coordinator: REST API (Fastify, zod schemas, OpenAPI at /openapi.json), auth, SSE, uploads,
 * media serving, and `startCoordinator` (what `vidmesh serve` runs). Also the typed REST client used by
 * the CLI. See docs/api.md. Everything not exported here is internal.
 */
export { type AppDeps, buildApp, registeredRoutes, signInLink } from './app.js';
export { type ClientOptions, createClient, type VidmeshClient } from './client.js';
export {
  ApiError,
  CoordinatorUnreachableError,
  ForbiddenError,
  IdempotencyKeyReusedError,
  PayloadTooLargeError,
  UnauthorizedError,
} from './errors.js';
export {
  type Authenticator,
  bearerToken,
  hasScope,
  type Principal,
  type Scope,
  staticKeyAuthenticator,
} from './plugins/auth.js';
export { type Problem, problem } from './plugins/problem.js';
export type { EncoderView, JobEventView, JobStreamEvent, JobView } from './schemas.js';
export { packageVersion, type RunningCoordinator, startCoordinator } from './serve.js';
