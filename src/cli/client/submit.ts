import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { type Command, Option } from 'commander';
import { loadConfig, resolveClientTarget } from '../../config.js';
import { ValidationError } from '../../errors.js';
import { PRIORITIES, QUEUES } from '../../jobs/vocabulary.js';
import { LADDER_PRESETS, planLadder, probe } from '../../media/index.js';
import { ladderCodecFlags } from '../encode.js';
import { adminApiCall } from '../keys.js';
import { type ClientFlags, clientFrom, followJob, jobSummary, output, withClientOptions } from './common.js';

interface SubmitFlags extends ClientFlags {
  ladder?: string;
  network?: 'private' | 'community';
  renditions?: string;
  segment?: string;
  format?: 'ts' | 'fmp4';
  codecs?: string;
  dash?: boolean;
  storyboard?: string;
  short?: boolean;
  speed?: string;
  priority?: string;
  queue?: string;
  metadata?: string[];
  idempotencyKey?: string;
  wait?: boolean;
  protocol?: 'vidmesh' | '3speak';
  owner?: string;
  permlink?: string;
  maxPrice?: string;
  autoAccept?: boolean;
  quote?: boolean;
}

/** Source reference for an input: http(s) / ipfs URLs as-is, anything else is a local file to upload. */
export function sourceForInput(
  input: string,
): { type: 'http'; url: string } | { type: 'ipfs'; url: string } | undefined {
  if (/^https?:\/\//i.test(input)) return { type: 'http', url: input };
  if (/^ipfs:\/\//i.test(input)) return { type: 'ipfs', url: input };
  return undefined;
}

/**
 * Ladder options from flags: a preset name or a JSON array of custom renditions, plus the extras; or
 * a `preset:<name>` reference (job-level preset, e.g. `preset:3speak`) on its own.
 * @throws ValidationError for a preset reference combined with other ladder flags
 */
export function ladderFromFlags(flags: SubmitFlags): Record<string, unknown> | string | undefined {
  const ladder: Record<string, unknown> = { ...ladderCodecFlags(flags) };
  if (flags.ladder?.trim().startsWith('preset:')) {
    const others = [flags.renditions, flags.segment, flags.format, flags.short, flags.speed];
    if (others.some((x) => x !== undefined) || Object.keys(ladder).length > 0)
      throw new ValidationError(`--ladder ${flags.ladder}: a preset reference takes no other ladder flags`);
    return flags.ladder.trim();
  }
  if (flags.ladder) {
    if (flags.ladder.trim().startsWith('[')) {
      try {
        ladder.ladder = JSON.parse(flags.ladder);
      } catch {
        throw new ValidationError('--ladder: not a preset name nor a JSON array of renditions');
      }
    } else ladder.ladder = flags.ladder;
  }
  if (flags.renditions)
    ladder.only = flags.renditions
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (flags.segment) ladder.segmentDuration = Number(flags.segment);
  if (flags.format) ladder.format = flags.format;
  if (flags.short) ladder.short = true;
  if (flags.speed) ladder.speed = flags.speed;
  return Object.keys(ladder).length > 0 ? ladder : undefined;
}

function metadataFromFlags(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs?.length) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new ValidationError(`--metadata ${p}: expected key=value`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

/** Metadata with `title` and `filename` set to an uploaded file's name (≤ 1024 chars, the spec's limit) unless given. */
export function withTitle(
  metadata: Record<string, string> | undefined,
  fileName: string | undefined,
): Record<string, string> | undefined {
  if (fileName === undefined) return metadata;
  const name = fileName.slice(0, 1024);
  return { title: name, filename: name, ...metadata };
}

/** `vidmesh submit <file|url>`: uploads a local file (streamed), submits the job, optionally follows it. */
export function register(program: Command): void {
  withClientOptions(
    program
      .command('submit')
      .description('submit a video (local file, http(s) or ipfs:// URL) for HLS ladder encoding')
      .argument('<input>', 'local file or URL')
      .option(
        '--ladder <preset|json>',
        `ladder preset name (${Object.keys(LADDER_PRESETS).join(', ')}), a JSON array of renditions, or preset:default|preset:3speak`,
      )
      .option('--renditions <names>', 'encode only these renditions, comma-separated')
      .option('--segment <seconds>', 'segment duration in seconds')
      .addOption(new Option('--format <format>', 'segment format').choices(['ts', 'fmp4']))
      .option('--codecs <list>', 'encode the ladder in each codec, e.g. av1,h264 (h264 hevc av1 vp9)')
      .option('--dash', 'also write a DASH MPD over the same CMAF segments')
      .option('--storyboard <interval[:width]>', 'sprite sheets + WebVTT thumbnails, e.g. 5:160')
      .option('--short', 'short mode: first 60 s, 480p only')
      .option('--speed <preset>', 'x264 speed preset, e.g. veryfast')
      .addOption(new Option('--priority <priority>', 'job priority').choices(PRIORITIES))
      .addOption(new Option('--queue <queue>', 'job queue').choices(QUEUES))
      .addOption(
        new Option(
          '--network <network>',
          "private: your and the operator's encoders only; community: any encoder, credentials stay on the coordinator",
        ).choices(['private', 'community']),
      )
      .option('--metadata <key=value>', 'metadata pair (repeatable)', (v, prev: string[] = []) => [
        ...prev,
        v,
      ])
      .option('--idempotency-key <key>', 'makes a retried submit return the same job (default: random)')
      .addOption(
        new Option(
          '--protocol <family>',
          'encoders it may go to (3speak: legacy 3Speak nodes, docs/3speak.md)',
        )
          .choices(['vidmesh', '3speak'])
          .default('vidmesh'),
      )
      .option('--owner <account>', '3speak: video owner (gateway job metadata.video_owner)')
      .option('--permlink <permlink>', '3speak: video permlink (gateway job metadata.video_permlink)')
      .option(
        '--max-price <hbd>',
        'pay community encoders at most this many HBD from your wallet (implies --network community; docs/marketplace.md)',
      )
      .option('--no-auto-accept', 'with --max-price: accept a bid yourself (vidmesh API /community/accept)')
      .option(
        '--quote',
        "print the live offers' prices for this file (probed here) or http(s) URL (probed by the coordinator): duration × ladder; submits nothing",
      )
      .option(
        '--wait',
        'follow progress until the job ends; print the renditions and the master playlist URL (--json: JSON lines)',
      ),
  ).action(async (input: string, flags: SubmitFlags) => {
    const client = clientFrom(flags);
    if (flags.quote) {
      const q = await quoteFor(flags, input);
      output(flags, q, () =>
        q.quotes.length
          ? [
              `${q.durationS.toFixed(1)} s, renditions ${q.heights.join('/')}p`,
              ...q.quotes.map((x) => `${x.price.padStart(10)} HBD  ${x.encoderId}`),
            ].join('\n')
          : 'no live offer covers this ladder',
      );
      return;
    }
    const legacy = flags.protocol === '3speak';
    let source: Record<string, unknown> | undefined = sourceForInput(input);
    if (legacy && !source) {
      throw new ValidationError(
        `${input}: 3speak jobs need an http(s) or ipfs:// URL (legacy nodes fetch it)`,
      );
    }
    if (legacy && (!flags.owner || !flags.permlink)) {
      throw new ValidationError('--protocol 3speak needs --owner and --permlink');
    }
    // The upload id means nothing to a person: the file name becomes the job's title (searchable in
    // `jobs list --search` and the dashboard) unless `--metadata title=…` names one.
    let uploadedName: string | undefined;
    if (!source) {
      const st = await stat(input).catch(() => undefined);
      if (!st?.isFile()) throw new ValidationError(`${input}: no such file (and not an http(s)/ipfs URL)`);
      const tty = process.stderr.isTTY && !flags.json;
      const up = await client.upload(input, {
        onProgress: tty
          ? (sent, total) =>
              process.stderr.write(`\ruploading ${((sent / total) * 100).toFixed(0).padStart(3)}%`)
          : undefined,
      });
      if (tty) process.stderr.write('\n');
      source = up.source;
      uploadedName = basename(input);
    }
    const spec = legacy
      ? {
          source,
          protocol: '3speak',
          // The 3Speak ladder is fixed; `--short` is the one choice a 3Speak job has.
          threespeak: {
            owner: flags.owner,
            permlink: flags.permlink,
            ...(flags.short ? { short: true } : {}),
          },
          priority: flags.priority,
          queue: flags.queue,
          metadata: withTitle(metadataFromFlags(flags.metadata), uploadedName),
        }
      : {
          source,
          ladder: ladderFromFlags(flags),
          ...(flags.network || flags.maxPrice
            ? { network: flags.maxPrice ? 'community' : flags.network }
            : {}),
          ...(flags.maxPrice
            ? { market: { maxPrice: flags.maxPrice, autoAccept: flags.autoAccept !== false } }
            : {}),
          priority: flags.priority,
          queue: flags.queue,
          metadata: withTitle(metadataFromFlags(flags.metadata), uploadedName),
        };
    let job = await client.submitJob(spec, { idempotencyKey: flags.idempotencyKey ?? randomUUID() });
    if (!flags.wait) {
      output(flags, { job }, () => `submitted ${job.id} (${job.status})\nfollow: vidmesh jobs get ${job.id}`);
      return;
    }
    if (flags.json) {
      // JSON lines, as `jobs get --follow --json`: the submitted job, then every event up to `end`.
      process.stdout.write(`${JSON.stringify({ type: 'submitted', job })}\n`);
      job = await followJob(client, job.id, { output: 'jsonl' });
    } else {
      process.stderr.write(`submitted ${job.id}\n`);
      job = await followJob(client, job.id);
      process.stdout.write(`${jobSummary(job)}\n`);
    }
    if (job.status !== 'completed') process.exitCode = 1;
  });
}

/**
 * The quote of `vidmesh submit --quote`: every live offer's price (`POST /api/v1/community/quote`) for
 * a local file (probed here, the ladder planned from the flags) or an http(s) URL (the coordinator
 * fetches it through its SSRF guard and probes it).
 * @throws ValidationError for an ipfs:// input or a preset reference
 */
async function quoteFor(
  flags: SubmitFlags,
  input: string,
): Promise<{
  durationS: number;
  heights: number[];
  quotes: Array<{ encoderId: string; price: string }>;
  lowest: string | null;
}> {
  const source = sourceForInput(input);
  if (source && source.type !== 'http') {
    throw new ValidationError('--quote: give a local file or an http(s) URL');
  }
  const ladder = ladderFromFlags(flags);
  if (typeof ladder === 'string')
    throw new ValidationError('--quote: name the ladder, not a preset reference');
  let body: Record<string, unknown>;
  if (source) {
    body = { source, ...(ladder ? { ladder } : {}) };
  } else {
    const plan = planLadder(await probe(input), ladder ?? {});
    const heights = plan.renditions.flatMap((r) => (r.kind === 'video' ? [Math.min(r.width, r.height)] : []));
    body = { durationS: plan.durationS, heights };
  }
  const config = loadConfig({ flags: { url: flags.url, apiKey: flags.apiKey, dataDir: flags.dataDir } });
  return adminApiCall(resolveClientTarget(config), 'POST', '/api/v1/community/quote', body);
}
