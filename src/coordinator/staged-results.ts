import { rm } from 'node:fs/promises';
import type { z } from 'zod';
import { ValidationError } from '../errors.js';
import type { Queryable } from '../jobs/db.js';
import type { Encoder, Job, JobStore } from '../jobs/index.js';
import { type JobSpec, namedOutputs } from '../jobs/spec.js';
import { planLadder, probe } from '../media/index.js';
import { type completeRequestSchema, completionRows, type OutputResult } from '../protocol/index.js';
import { fileNameOf } from '../protocol/media-url.js';
import { type SourceRef, type StorageContext, safeJoin } from '../storage/index.js';
import {
  createReputationStore,
  shouldSuspend,
  shouldVerify,
  type VerificationPolicy,
  type VerificationReport,
  verifyStagedLadder,
  verifyStagedOutputs,
} from '../trust/index.js';
import type { SourceRelay } from './relay.js';
import { uploadPath } from './routes/uploads.js';
import { publishStaged, publishStagedOutputs, StagedOutputInvalidError } from './staging.js';

/** A staged result failed verification; the job went back to the queue for another encoder. HTTP 422. */
class VerificationFailedError extends ValidationError {
  override readonly code: string = 'verification_failed';
  override readonly status: number = 422;
}

export interface StagedResultDeps {
  store: Pick<
    JobStore,
    'beginVerification' | 'appendLogs' | 'setEncoderApproval' | 'release' | 'renew' | 'complete'
  >;
  /** `<dataDir>/staging`: the encoders' staged files, `<jobId>/<path>`. */
  stagingRoot: string;
  /** `<dataDir>/uploads`: upload sources (verification reads the source). */
  uploadsDir: string;
  relay: SourceRelay;
  storage: () => StorageContext;
  openSpec?: (spec: unknown) => unknown;
  /** Absent: staged results are published unverified. */
  verification?: { db: Queryable; policy: VerificationPolicy; spotSegments?: number; minSsim?: number };
}

/** The stored form of a passing report (`result.verification`). */
const verdictOf = (r: VerificationReport) => ({ ok: true, checks: r.checks, spots: r.spots, cpuS: r.cpuS });

/**
 * A staged completion of a job with outputs must report each of the spec's outputs once, by name, and
 * at least one of them completed (an attempt whose every output failed is reported with `fail`).
 * @throws StagedOutputInvalidError (422) otherwise.
 */
function checkReportedOutputs(spec: JobSpec, reported: OutputResult[] | undefined): void {
  const want = (spec.outputs ?? []).map((o) => o.name).sort();
  const got = (reported ?? []).map((o) => o.name).sort();
  if (want.join('\n') !== got.join('\n'))
    throw new StagedOutputInvalidError(
      `the completion reports outputs [${got.join(', ')}], the job has [${want.join(', ')}]`,
    );
  if (!reported?.some((o) => o.status === 'completed'))
    throw new StagedOutputInvalidError('the completion reports no completed output');
}

/**
 * Completion of staged results (outputs of encoders that may not hold the job's credentials): verify
 * per policy (src/trust, docs/verification.md), publish to the real destination with the opened spec
 * (src/coordinator/staging.ts), complete. The agent route's `complete` calls it.
 */
export function createStagedResults(deps: StagedResultDeps) {
  const { store } = deps;
  const reputation = deps.verification ? createReputationStore(deps.verification.db) : undefined;
  /** The job's source as a file on the coordinator: the upload itself, or the relay's copy. */
  const sourceFile = async (job: Job, spec: JobSpec): Promise<string> =>
    spec.source.type === 'upload'
      ? uploadPath(deps.uploadsDir, spec.source.id)
      : deps.relay.localPath(job.id, spec.source as SourceRef);

  /**
   * Verifies a staged result when the policy says so (src/trust). A failure is logged on the job, the
   * encoder is kept from this job for good, its reputation drops (suspended past the policy's limit),
   * and the job goes back to the queue without counting an attempt: a cheater cannot burn a job's
   * attempts. Throws VerificationFailedError (422) to the encoder then.
   */
  const verifyStaged = async (
    b: z.infer<typeof completeRequestSchema>,
    job: Job,
    spec: JobSpec,
    encoder: Encoder,
  ): Promise<VerificationReport | undefined> => {
    const v = deps.verification;
    if (!v || !reputation) return undefined;
    const record = await reputation.get(encoder.id);
    if (!shouldVerify(record, v.policy, { ...(spec.verify ? { verify: spec.verify } : {}) }))
      return undefined;
    // `running` → `verifying`: visible in the job's status and history while the coordinator checks.
    await store.beginVerification(job.id, b.leaseToken, encoder.id);
    const source = await sourceFile(job, spec);
    const info = await probe(source);
    const dir = safeJoin(deps.stagingRoot, job.id);
    const declared = b.result.files ? new Map(b.result.files.map((f) => [f.path, f.sha256])) : undefined;
    const spot = {
      ...(v.spotSegments === undefined ? {} : { spotSegments: v.spotSegments }),
      ...(v.minSsim === undefined ? {} : { minSsim: v.minSsim }),
    };
    const completed = new Set(
      (b.result.outputs ?? []).filter((o) => o.status === 'completed').map((o) => o.name),
    );
    const report = spec.outputs
      ? await verifyStagedOutputs({
          dir,
          outputs: namedOutputs(spec).filter((o) => completed.has(o.name)),
          defaultLadder: spec.ladder ?? {},
          source: info,
          ...(declared ? { declared } : {}),
          ...spot,
        })
      : await verifyStagedLadder({
          dir,
          master: fileNameOf(b.result.masterUrl) ?? 'master.m3u8',
          ...(declared ? { declared } : {}),
          plan: planLadder(info, spec.ladder ?? {}),
          source: info,
          ...spot,
        });
    const lines = report.checks.map((c) => `[verify] ${c.ok ? 'pass' : 'FAIL'} ${c.name}: ${c.detail}`);
    lines.push(`[verify] ${report.cpuS.toFixed(2)} CPU s, ${report.wallS.toFixed(1)} s`);
    await store.appendLogs(job.id, b.leaseToken, encoder.id, lines).catch(() => undefined);
    if (report.ok) {
      await reputation.record(encoder.id, { ok: true });
      return report;
    }
    const reason = report.checks.find((c) => !c.ok)?.detail ?? 'verification failed';
    // The job first: back in the queue for another encoder, never this one; then the record.
    await rm(safeJoin(deps.stagingRoot, job.id), { recursive: true, force: true });
    await store.release(job.id, b.leaseToken, encoder.id, `verification failed: ${reason}`.slice(0, 500), {
      excludeEncoder: true,
    });
    const after = await reputation.record(encoder.id, { ok: false, reason });
    if (shouldSuspend(after, v.policy)) await store.setEncoderApproval(encoder.id, 'suspended');
    throw new VerificationFailedError(`the result failed verification: ${reason}`, {
      details: { checks: report.checks },
    });
  };

  /**
   * Verifies (per policy) and publishes a staged job's outputs (secrets opened here), then completes
   * it. The lease is renewed while verification and publication run, so neither can lose it.
   */
  const completeStaged = async (
    b: z.infer<typeof completeRequestSchema>,
    job: Job,
    encoder: Encoder,
    renditions: Array<{ name: string; status: 'completed' | 'failed'; result: unknown; error?: string }>,
  ): Promise<Job> => {
    const spec = (deps.openSpec ? deps.openSpec(job.spec) : job.spec) as JobSpec;
    const keepAlive = setInterval(
      () => void store.renew(job.id, b.leaseToken, b.encoderId).catch(() => undefined),
      5_000,
    );
    try {
      if (spec.outputs) checkReportedOutputs(spec, b.result.outputs);
      const verification = await verifyStaged(b, job, spec, encoder);
      if (spec.outputs) {
        const outputs = await publishStagedOutputs({
          jobId: job.id,
          spec,
          stagingRoot: deps.stagingRoot,
          storage: deps.storage(),
          reported: b.result.outputs ?? [],
        });
        const { files: _files, ...reported } = b.result;
        const bytes = outputs.reduce((n, o) => n + (o.bytes ?? 0), 0);
        const main = outputs.find((o) => o.status === 'completed' && (o.kind === 'hls' || o.kind === 'dash'));
        const result = {
          ...reported,
          masterUrl: main?.url ?? outputs.find((o) => o.url)?.url ?? '',
          publish: { type: 'outputs', bytes },
          outputs,
          ...(verification ? { verification: verdictOf(verification) } : {}),
        };
        const done = await store.complete(job.id, b.leaseToken, b.encoderId, {
          result,
          renditions: completionRows(result),
          encodeSeconds: b.result.encode.wallS,
        });
        await deps.relay.drop(job.id);
        return done;
      }
      const published = await publishStaged({
        jobId: job.id,
        spec,
        stagingRoot: deps.stagingRoot,
        storage: deps.storage(),
        reported: {
          masterUrl: b.result.masterUrl,
          ...(b.result.posterUrl ? { posterUrl: b.result.posterUrl } : {}),
        },
      });
      // The file list served verification; the stored result keeps its verdict instead.
      const {
        posterUrl: _reportedPoster,
        dashUrl: _reportedDash,
        storyboardUrl: _reportedStoryboard,
        files: _files,
        ...reported
      } = b.result;
      const result = {
        ...reported,
        ...published,
        ...(verification ? { verification: verdictOf(verification) } : {}),
      };
      const done = await store.complete(job.id, b.leaseToken, b.encoderId, {
        result,
        renditions,
        encodeSeconds: b.result.encode.wallS,
      });
      await deps.relay.drop(job.id);
      return done;
    } finally {
      clearInterval(keepAlive);
    }
  };

  return { complete: completeStaged };
}
