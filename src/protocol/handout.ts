import { isDeepStrictEqual } from 'node:util';
import type { Claim, ClaimScope, Encoder } from '../jobs/index.js';
import { type JobSpec, redactSpec } from '../jobs/spec.js';
import { SETTLED_RENDITION_STATUSES } from '../jobs/vocabulary.js';
import { redactSecrets } from '../storage/index.js';
import { isLiveSpec } from './live.js';
import { keptRenditions } from './result.js';
import type { ClaimHandout, SourceLimits, TransferPlan, TrustLevel } from './wire.js';

/**
 * Trust of an encoder, decided once from who registered it (never from what it declares):
 * - `community`: registered by a did:key signature (a stranger's machine, or an allowlisted one);
 * - `tenant`: registered with a tenant's API key (that tenant's own machines);
 * - `operator`: registered by an operator key or on the job store itself (`vidmesh serve`'s in-process
 *   encoders, infrastructure nodes with database access).
 */
export function trustOf(encoder: Pick<Encoder, 'did' | 'tenant'>): TrustLevel {
  if (encoder.did !== null) return 'community';
  if (encoder.tenant !== null) return 'tenant';
  return 'operator';
}

/**
 * Which jobs a claim by this encoder may lease (the job store's claim filter): operator encoders any job;
 * tenant encoders their tenant's jobs and jobs whose owner allowed the open network
 * (`network: 'community'`); community encoders only the latter; an encoder paired to a user (desktop
 * agent, browser encoder) only that user's jobs, whatever its trust.
 */
export function claimScopeOf(
  encoder: Pick<Encoder, 'did' | 'tenant'> & { user?: Encoder['user'] },
): ClaimScope {
  if (encoder.user) return { kind: 'user', tenant: encoder.user.tenant, user: encoder.user.name };
  const trust = trustOf(encoder);
  if (trust === 'operator') return { kind: 'all' };
  if (trust === 'tenant') return { kind: 'tenant', tenant: encoder.tenant as string };
  return { kind: 'community' };
}

/** True when this encoder may receive the job's opened secrets: the operator's, or the job's own tenant's. */
export function mayHoldSecrets(encoder: Pick<Encoder, 'did' | 'tenant'>, jobTenant: string): boolean {
  const trust = trustOf(encoder);
  return trust === 'operator' || (trust === 'tenant' && encoder.tenant === jobTenant);
}

export interface HandOutOptions {
  /** Opens the spec's sealed secrets (src/coordinator/spec-secrets.ts); identity when absent. */
  openSpec?: (spec: unknown) => unknown;
  /** The coordinator's per-job source limits. */
  limits?: SourceLimits;
}

function aboutOf(job: Claim['job']) {
  const permlink = job.metadata?.permlink;
  return {
    owner: job.owner ?? null,
    permlink: typeof permlink === 'string' ? permlink : null,
    qualities: job.renditions.map((r) => r.name),
    durationS: job.requirements?.durationS ?? null,
  };
}

/** Source types an untrusted encoder can never read itself: they live on the coordinator's disk. */
const COORDINATOR_SOURCES = new Set(['file', 'upload']);

/**
 * The one hand-out of a claimed job, for every transport (HTTP agent route, job-store transport):
 * - trusted encoders ({@link mayHoldSecrets}) get the spec with its secrets opened and move bytes
 *   themselves;
 * - everyone else gets the spec with every secret removed (storage credentials, headers, URL
 *   passwords, signed query strings, the webhook secret), reads the source through the coordinator's
 *   lease-bound relay unless it is public (no secret in it), and stages every output on the coordinator,
 *   which publishes to the real destination after completion;
 * - `renditions` names the renditions still to encode (empty: the whole ladder) and `keep` the stored
 *   results of the ones already done (per-rendition retries, trusted encoders only), `limits` the
 *   source limits. Pure apart from `openSpec`.
 * @throws whatever `openSpec` throws (`secret_unsealable` when the server key differs).
 */
export function handOut(claim: Claim, encoder: Encoder, options: HandOutOptions = {}): ClaimHandout {
  const trust = trustOf(encoder);
  const trusted = mayHoldSecrets(encoder, claim.job.tenant);
  const pending = claim.job.renditions
    .filter((r) => !(SETTLED_RENDITION_STATUSES as readonly string[]).includes(r.status))
    .map((r) => r.name);
  // A per-rendition retry is handed out as such only to trusted encoders: an untrusted one stages
  // the whole ladder, which the coordinator verifies and publishes as one set.
  const partial = trusted && pending.length > 0 && pending.length < claim.job.renditions.length;
  let spec: unknown;
  let transfer: TransferPlan;
  if (trusted) {
    spec = options.openSpec ? options.openSpec(claim.job.spec) : claim.job.spec;
    transfer = { source: 'direct', output: 'direct' };
  } else {
    const stored = claim.job.spec as JobSpec;
    // The webhook is the coordinator's business; a redacted secret would not even parse.
    const { webhook: _webhook, ...redacted } = redactSpec(stored);
    spec = redacted;
    const source = stored.source as { type: string };
    const publicSource =
      !COORDINATOR_SOURCES.has(source.type) && isDeepStrictEqual(redactSecrets(source), source);
    transfer = { source: publicSource ? 'direct' : 'coordinator', output: 'coordinator' };
  }
  // A live encoder sends segments to the coordinator, which publishes the recording: it never needs
  // the recording's destination (nor its credentials), trusted or not.
  if (isLiveSpec(spec) && spec.destination !== undefined) {
    const { destination: _destination, ...rest } = spec;
    spec = rest;
  }
  return {
    job: {
      id: claim.job.id,
      spec,
      renditions: partial ? pending : [],
      attempt: claim.attempt,
      // What a per-rendition retry keeps: its master playlist lists these beside the new ones.
      ...(partial ? { keep: keptRenditions(claim.job.renditions) } : {}),
      // The user's own encoder may know what its user's job is; nobody else needs to.
      ...(encoder.user ? { about: aboutOf(claim.job) } : {}),
    },
    leaseToken: claim.leaseToken,
    leaseExpiresAt: claim.leaseExpiresAt.toISOString(),
    ...(claim.job.traceparent ? { traceparent: claim.job.traceparent } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    transfer,
    trust,
  };
}
