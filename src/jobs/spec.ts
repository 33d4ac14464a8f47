import { z } from 'zod';
import { isDidKey } from '../identity/did.js';
import {
  checkOutputOptions,
  chunkingSchema,
  ladderCodecs,
  ladderOptionsSchema,
  ladderSpecs,
  type NamedOutput,
  type OutputOptions,
  outputOptionsSchema,
  outputVideoCodecs,
  type VideoCodec,
} from '../media/index.js';
import { destinationSchema, redactSecrets, sourceSchema } from '../storage/index.js';
import { resolvePresetRef } from './presets.js';
import { isReservedTag, JOB_NETWORKS, PRIORITIES, PROTOCOL_FAMILIES, QUEUES } from './vocabulary.js';
import { WEBHOOK_EVENTS, type WebhookEvent } from './webhooks.js';

/** An output's name: its row in the job, its folder, its default `local` prefix (≤ 32 characters). */
export const outputNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/i, 'invalid output name');
const outputExtra = {
  name: outputNameSchema,
  /** Where this output goes (default: the job's `destination`; `local` ones get the prefix `<name>`). */
  destination: destinationSchema.optional(),
};
/**
 * One output of a job (docs/outputs.md): media `outputOptionsSchema` (kind + codec settings within
 * bounds) plus its `name` and its own `destination`.
 */
export const jobOutputSchema = z.discriminatedUnion('kind', [
  outputOptionsSchema.options[0].extend(outputExtra),
  outputOptionsSchema.options[1].extend(outputExtra),
  outputOptionsSchema.options[2].extend(outputExtra),
  outputOptionsSchema.options[3].extend(outputExtra),
  outputOptionsSchema.options[4].extend(outputExtra),
  outputOptionsSchema.options[5].extend(outputExtra),
  outputOptionsSchema.options[6].extend(outputExtra),
]);
export type JobOutput = z.output<typeof jobOutputSchema>;
export type JobOutputInput = z.input<typeof jobOutputSchema>;
/** Most outputs one job may carry (each is a row, a folder and a publish). */
export const MAX_OUTPUTS = 8;

/**
 * The job spec: what a client asks for in `POST /api/v1/jobs`, validated here once by the coordinator,
 * stored by the job store as opaque JSON, and parsed again by the encoder that leases the job.
 *
 * - `source`: where the input comes from (storage `sourceSchema`: upload, http, s3, ftp, ipfs, …).
 * - `ladder`: media `ladderOptionsSchema` (preset or custom renditions, segment seconds, format, …).
 * - `destination`: where outputs go (storage `destinationSchema`), default `{type: 'local'}`: served
 *   by the coordinator at `/media/<jobId>/…`.
 * - `webhook`: called on job events (the webhooks issue delivers them; `secret` signs them).
 * - `metadata`: free string pairs echoed back in job views and webhooks (≤ 32 keys, 64/1024 chars).
 * - `priority`, `queue`: scheduling (weights in docs/jobs.md); `maxAttempts`: attempts before `dead`.
 * - `tags`: encoder tags a job requires (e.g. `gpu`, `region-eu`); matched at claim.
 * - `network`: `private` (default): only the job's tenant's encoders and the operator's may claim it;
 *   `community`: also other tenants' and community (did:key) encoders, which never receive the spec's
 *   secrets (they read and write through the coordinator, docs/identity.md).
 * - `verify`: `always` verifies the result of an untrusted encoder whatever its reputation; `sample`
 *   (default) follows the verification policy (docs/verification.md).
 * - `market`: the marketplace's maximum price and auto-accept (docs/marketplace.md).
 * - `minScore`: lowest reputation score (0..1, docs/verification.md) of an encoder whose results are
 *   verified that may claim it; trusted encoders always may.
 * - `protocol`: the encoder family the job may go to (default `vidmesh`). `3speak` jobs are leased only
 *   by the coordinator's 3Speak gateway (legacy 3Speak encoders, docs/3speak.md), encode the fixed
 *   3Speak ladder and publish to the coordinator's IPFS store; they need `threespeak` and refuse
 *   `ladder`, `tags` and a non-local `destination` (checked by the 3Speak compat module at submit).
 * - `threespeak`: the 3Speak job fields (gateway job `metadata.video_owner/video_permlink`,
 *   `storageMetadata`, `input.size` in bytes, `short` for 480p shorts).
 */
export const jobSpecSchema = z
  .strictObject({
    source: sourceSchema,
    /** Ladder options, or `"preset:<name>"` (BUILTIN_PRESETS: `default`, `3speak`), resolved here. */
    ladder: z.preprocess((value, ctx) => {
      try {
        return resolvePresetRef(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message, input: value });
        return z.NEVER;
      }
    }, ladderOptionsSchema.optional()),
    destination: destinationSchema.default({ type: 'local' }),
    webhook: z
      .strictObject({
        url: z
          .string()
          .max(2048)
          .url()
          .refine((u) => /^https?:\/\//i.test(u), 'webhook URL must be http(s)'),
        events: z
          .array(
            // The one list of webhook events (src/jobs/webhooks.ts): per-job and tenant hooks alike.
            z.enum(WEBHOOK_EVENTS as readonly [WebhookEvent, ...WebhookEvent[]]),
          )
          .optional(),
        secret: z.string().min(16).max(256).optional(),
      })
      .optional(),
    metadata: z
      .record(z.string().min(1).max(64), z.string().max(1024))
      .refine((m) => Object.keys(m).length <= 32, 'at most 32 metadata keys')
      .optional(),
    priority: z.enum(PRIORITIES).default('medium'),
    queue: z.enum(QUEUES).default('default'),
    maxAttempts: z.number().int().min(1).max(20).optional(),
    tags: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9_.:-]{0,63}$/i))
      .max(16)
      .refine((tags) => !tags.some(isReservedTag), 'tags starting with vidmesh: are reserved')
      .optional(),
    network: z.enum(JOB_NETWORKS).default('private'),
    /**
     * Only the encoder registered with this did:key may claim the job: the dashboard's "Encode here"
     * pins a job to the browser tab's own identity (its signed registration proves it), so no other
     * encoder, whatever it declares, can lease it. Not with `market` (a bid decides who may) nor
     * chunked (the job runs whole on that encoder). The pin lasts `VIDMESH_PIN_GRACE_S` (300 s) or until
     * that encoder fails the job or its result fails verification; then `fallback` `route` (default):
     * the job follows the owner's routing (own agent, own browser, open fleet, planned from the pin's
     * end); `fail`: the job is dead-lettered with error code `pin_ended` (docs/encoders.md).
     */
    pinEncoder: z
      .strictObject({
        did: z.string().max(256).refine(isDidKey, 'pinEncoder.did: a did:key (Ed25519)'),
        fallback: z.enum(['route', 'fail']).optional(),
      })
      .optional(),
    /**
     * The user (Hive account or vidmesh user, 1–64 of `A-Z a-z 0-9 . _ -`) the job is for, within the
     * submitting key's tenant: the job's owner, offered first to that user's own desktop agent and browser
     * encoder (docs/encoders.md, "Routing"). Absent: the submitting key is the owner and nothing is routed.
     */
    user: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional(),
    verify: z.enum(['always', 'sample']).optional(),
    minScore: z.number().min(0).max(1).optional(),
    /**
     * Community marketplace (docs/marketplace.md): pay community encoders from the submitter's ledger
     * account, at most `maxPrice` HBD (3 decimals). Needs `network: community`; the job is then held
     * until a bid is accepted (by hand, or at once when `autoAccept`, the default) and always verified.
     */
    market: z
      .strictObject({
        maxPrice: z.string().regex(/^\d{1,10}(\.\d{1,3})?$/, 'an HBD amount with at most 3 decimals'),
        autoAccept: z.boolean().default(true),
      })
      .optional(),
    protocol: z.enum(PROTOCOL_FAMILIES).optional(),
    threespeak: z
      .strictObject({
        owner: z.string().min(1).max(256),
        permlink: z.string().min(1).max(256),
        /** Source size in bytes as the gateway job's `input.size` (0 when unknown). */
        size: z.number().int().nonnegative().optional(),
        short: z.boolean().optional(),
        storageMetadata: z
          .record(z.string().min(1).max(64), z.union([z.string().max(1024), z.number(), z.boolean()]))
          .refine((m) => Object.keys(m).length <= 16, 'at most 16 storageMetadata keys')
          .optional(),
      })
      .optional(),
    /**
     * Chunked encoding (docs/chunking.md): `auto` (default) splits a source longer than the threshold
     * (VIDMESH_CHUNK_THRESHOLD_S, default 300 s) into chunks of whole segments encoded by several
     * encoders; `off` never splits; `{seconds}` splits into chunks of about that length.
     */
    chunking: chunkingSchema.optional(),
    /**
     * Set by the coordinator on a chunk task's spec, refused in client specs: which part of the parent's
     * source this task encodes (`video`: the ladder's video renditions of `startS` + `durationS` seconds,
     * `audio`: the audio track of the whole duration, plus the poster).
     */
    chunk: z
      .strictObject({
        parentId: z.string().min(1).max(64),
        role: z.enum(['video', 'audio']),
        index: z.number().int().min(-1),
        startS: z.number().min(0),
        durationS: z.number().positive(),
        /** Pre-roll, seconds encoded before `startS` and dropped (whole segments; absent: none). */
        prerollS: z.number().min(0).max(3600).optional(),
      })
      .optional(),
    /**
     * Outputs (docs/outputs.md): each its own kind, codec settings and destination, from one submit and
     * one decode. Set: the job's units are its outputs (`ladder` is the default ladder of hls/dash
     * outputs, `destination` the default destination) and it is never chunked. On `network: community`
     * untrusted encoders stage the outputs and the coordinator verifies and publishes each one.
     */
    outputs: z.array(jobOutputSchema).min(1).max(MAX_OUTPUTS).optional(),
    /**
     * Hours the job and its published `local`/embedded-IPFS outputs are kept after it finished
     * (overrides VIDMESH_RETENTION_HOURS; docs/outputs.md, "Retention").
     */
    retainHours: z
      .number()
      .min(0)
      .max(24 * 365 * 10)
      .optional(),
  })
  .superRefine((spec, ctx) => {
    if (!spec.outputs) return;
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message, input: spec });
    const seen = new Set<string>();
    spec.outputs.forEach((o, i) => {
      if (seen.has(o.name.toLowerCase())) issue(['outputs', i, 'name'], `output name ${o.name} repeats`);
      seen.add(o.name.toLowerCase());
      for (const p of checkOutputOptions(outputMedia(o))) issue(['outputs', i], p);
    });
    if (spec.protocol === '3speak') issue(['outputs'], 'outputs are not for 3speak jobs');
    if (spec.chunking !== undefined && spec.chunking !== 'off')
      issue(['chunking'], 'jobs with outputs are not chunked');
  });

/** A validated job spec (defaults applied). */
export type JobSpec = z.output<typeof jobSpecSchema>;
/** A job spec as a client writes it (defaults optional). */
export type JobSpecInput = z.input<typeof jobSpecSchema>;

/**
 * Rendition names the spec asks for, before the source is known: the preset's or custom ladder's names,
 * `only` when set, `['480p']` for shorts, each once per codec of `ladder.codecs`. The encoder may produce fewer (renditions above the source's
 * height are never upscaled); it reports the ones it made at completion.
 */
export function requestedRenditions(spec: JobSpec): string[] {
  if (spec.outputs) return spec.outputs.map((o) => o.name);
  const ladder = spec.ladder ?? ladderOptionsSchema.parse({});
  if (ladder.only) return [...ladder.only];
  return ladderSpecs(ladder).map((r) => r.name);
}

/**
 * Output video codecs the spec's ladder uses (`h264`, `hevc`, `av1`, `vp9`): stored as the job's
 * `required_codecs`, so only an encoder whose test encodes passed for each of them claims it.
 */
export function requiredCodecs(spec: JobSpec): VideoCodec[] {
  if (!spec.outputs) return ladderCodecs(spec.ladder ?? ladderOptionsSchema.parse({}));
  const codecs = new Set<VideoCodec>(outputVideoCodecs(spec.outputs.map(outputMedia)));
  for (const o of spec.outputs) {
    if (o.kind === 'hls' || o.kind === 'dash')
      for (const c of ladderCodecs(o.ladder ?? spec.ladder ?? ladderOptionsSchema.parse({}))) codecs.add(c);
  }
  return [...codecs];
}

/** The media options of a job output (its name and destination are the job's business). */
export function outputMedia(o: JobOutput): OutputOptions {
  const { name: _name, destination: _destination, ...media } = o;
  return media as OutputOptions;
}

/** The spec's outputs as the media planner takes them. */
export function namedOutputs(spec: JobSpec): NamedOutput[] {
  return (spec.outputs ?? []).map((o) => ({ name: o.name, options: outputMedia(o) }));
}

/**
 * Where an output is published: its own destination, else the job's; a `local` one under the prefix
 * `<output name>` (inside the job's own prefix), so outputs of one job never replace each other.
 */
export function outputDestination(spec: JobSpec, o: JobOutput): JobSpec['destination'] {
  const dest = o.destination ?? spec.destination;
  if (dest.type !== 'local') return dest;
  return { ...dest, prefix: dest.prefix ? `${dest.prefix.replace(/\/+$/, '')}/${o.name}` : o.name };
}

/**
 * The spec with every secret replaced by `[redacted]` (storage credentials, headers, URL passwords,
 * the webhook secret): the only form of a spec that may appear in API responses, events and logs.
 */
export function redactSpec(spec: JobSpec): JobSpec {
  return {
    ...spec,
    source: redactSecrets(spec.source),
    destination: redactSecrets(spec.destination),
    ...(spec.outputs
      ? {
          outputs: spec.outputs.map((o) =>
            o.destination ? { ...o, destination: redactSecrets(o.destination) } : o,
          ),
        }
      : {}),
    ...(spec.webhook
      ? { webhook: { ...spec.webhook, ...(spec.webhook.secret ? { secret: '[redacted]' } : {}) } }
      : {}),
  };
}
