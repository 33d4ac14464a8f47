import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import HLS from 'hls-parser';
import {
  buildFfmpegArgs,
  type LadderPlan,
  type PlannedVideoRendition,
  type ProbeResult,
  runProcess,
  separateAudio,
} from '../media/index.js';
import { hashFile, safeJoin } from '../storage/index.js';

/**
 * Verification of a ladder staged by an encoder that is not trusted (docs/verification.md): before
 * the coordinator publishes what a community encoder uploaded, it checks, in order of cost,
 * 1. every playlist parses (RFC 8216) and every segment it lists was uploaded;
 * 2. every file's SHA-256 matches what the encoder declared at completion;
 * 3. each rendition's packets scan (ffprobe `-count_packets`) with the planned codec, size and frame
 *    rate, an audio stream, and a duration within one segment of the plan's;
 * 4. a spot re-encode: the verifier encodes K random segments per rendition from the source with the
 *    job's own plan (`buildFfmpegArgs`, the same filters and settings, the software encoder of the
 *    rendition's codec: libx264, libx265, libsvtav1 or libvpx-vp9; an fMP4 segment is decoded
 *    behind its init segment) and requires the
 *    uploaded segments to match its own by SSIM (x264 output is not bit-exact across machines, so
 *    quality is compared, never bytes).
 * Checks stop at the first failing stage: a cheap failure never pays for a re-encode.
 */

/** One named check and what it found. */
export interface VerificationCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** The verdict on one staged ladder; stored with the job (`result.verification`) and shown in its log. */
export interface VerificationReport {
  ok: boolean;
  checks: VerificationCheck[];
  /** SSIM (0..1) of each spot-checked segment: `{rendition, segment, ssim}`. */
  spots: Array<{ rendition: string; segment: string; ssim: number }>;
  /** CPU seconds ffmpeg/ffprobe spent verifying (user + system, from `-benchmark`), and wall seconds. */
  cpuS: number;
  wallS: number;
}

export interface VerifyOptions {
  /** Folder holding the staged files (`staging/<jobId>`). */
  dir: string;
  /** Master playlist, relative to `dir`. */
  master: string;
  /** Files the encoder declared at completion: relative path → SHA-256 (hex). */
  declared?: ReadonlyMap<string, string>;
  /** The job's plan for this source (`planLadder(probe(source), spec.ladder)`), `input` = the source file. */
  plan: LadderPlan;
  source: ProbeResult;
  /** Segments re-encoded per rendition (default 2; 0 skips the spot check). */
  spotSegments?: number;
  /** Lowest SSIM a spot-checked segment may have against the verifier's encode (default 0.95). */
  minSsim?: number;
  /** Random source for the segment choice (default Math.random). */
  random?: () => number;
  signal?: AbortSignal;
}

interface StagedRendition {
  name: string;
  /** `audio`: the shared audio rendition of a CMAF/DASH ladder (an EXT-X-MEDIA audio group). */
  kind?: 'audio';
  playlist: string;
  declaredWidth?: number;
  declaredHeight?: number;
  /** fMP4/CMAF init segment (`#EXT-X-MAP`), relative to `dir`: needed to decode any segment. */
  init?: string;
  segments: Array<{ uri: string; startS: number; durationS: number }>;
}

const fail = (checks: VerificationCheck[], name: string, detail: string) =>
  checks.push({ name, ok: false, detail });
const pass = (checks: VerificationCheck[], name: string, detail: string) =>
  checks.push({ name, ok: true, detail });

/** Resolves `uri` (relative, as playlists write it) against the playlist's folder inside `dir`. */
function resolveIn(playlist: string, uri: string): string {
  return posix.normalize(posix.join(posix.dirname(playlist), uri));
}

/** Parses the master and media playlists; pushes a failing check and returns undefined when broken. */
async function readLadder(
  o: VerifyOptions,
  checks: VerificationCheck[],
): Promise<StagedRendition[] | undefined> {
  const read = (rel: string) => readFile(safeJoin(o.dir, rel), 'utf8');
  let master: ReturnType<typeof HLS.parse>;
  try {
    master = HLS.parse(await read(o.master));
  } catch (err) {
    fail(checks, 'playlists', `master playlist ${o.master} does not parse: ${(err as Error).message}`);
    return undefined;
  }
  if (!master.isMasterPlaylist) {
    fail(checks, 'playlists', `${o.master} is not a master playlist`);
    return undefined;
  }
  const out: StagedRendition[] = [];
  const variants = (master as InstanceType<typeof HLS.types.MasterPlaylist>).variants;
  // Audio groups (CMAF ladders written for DASH) are checked like variants, once each.
  const audioUris = [...new Set(variants.flatMap((v) => v.audio.flatMap((a) => (a.uri ? [a.uri] : []))))];
  const entries = [
    ...variants.map((v) => ({ uri: v.uri, variant: v, audio: false })),
    ...audioUris.map((uri) => ({ uri, variant: undefined, audio: true })),
  ];
  for (const { uri, variant, audio } of entries) {
    const playlist = resolveIn(o.master, uri);
    let media: ReturnType<typeof HLS.parse>;
    try {
      media = HLS.parse(await read(playlist));
    } catch (err) {
      fail(
        checks,
        'playlists',
        `media playlist ${playlist} is missing or does not parse: ${(err as Error).message}`,
      );
      return undefined;
    }
    if (media.isMasterPlaylist) {
      fail(checks, 'playlists', `${playlist} is not a media playlist`);
      return undefined;
    }
    let t = 0;
    const mediaSegments = (media as InstanceType<typeof HLS.types.MediaPlaylist>).segments;
    const mapUri = mediaSegments[0]?.map?.uri;
    const init = mapUri ? resolveIn(playlist, mapUri) : undefined;
    const segments = mediaSegments.map((s) => {
      const seg = { uri: resolveIn(playlist, s.uri), startS: t, durationS: s.duration };
      t += s.duration;
      return seg;
    });
    for (const s of init ? [{ uri: init }, ...segments] : segments) {
      if (
        !(await stat(safeJoin(o.dir, s.uri)).then(
          (x) => x.isFile(),
          () => false,
        ))
      ) {
        fail(checks, 'playlists', `${playlist} lists ${s.uri}, which was not uploaded`);
        return undefined;
      }
    }
    out.push({
      name: playlist.split('/')[0] ?? playlist,
      ...(audio ? { kind: 'audio' as const } : {}),
      playlist,
      ...(variant?.resolution
        ? { declaredWidth: variant.resolution.width, declaredHeight: variant.resolution.height }
        : {}),
      ...(init ? { init } : {}),
      segments,
    });
  }
  if (out.length === 0) {
    fail(checks, 'playlists', 'the master playlist lists no variant');
    return undefined;
  }
  pass(
    checks,
    'playlists',
    `${out.length} renditions, ${out.reduce((n, r) => n + r.segments.length, 0)} segments, all uploaded`,
  );
  return out;
}

/** `bench: utime=1.2s stime=0.1s rtime=…` of ffmpeg's `-benchmark`, as CPU seconds. */
export function benchCpu(stderr: string): number {
  const m = /utime=([\d.]+)s stime=([\d.]+)s/.exec(stderr);
  return m ? Number(m[1]) + Number(m[2]) : 0;
}

interface ProbedRendition {
  width: number;
  height: number;
  codec: string;
  fps: number;
  videoPackets: number;
  audio: boolean;
}

async function probeRendition(
  path: string,
  signal?: AbortSignal,
  audioOnly = false,
): Promise<ProbedRendition | string> {
  const out = await runProcess(
    'ffprobe',
    ['-v', 'error', '-count_packets', '-show_streams', '-of', 'json', '-i', path],
    { captureStdout: true, ...(signal ? { signal } : {}), stallTimeoutMs: 120_000 },
  );
  if (out.code !== 0) return `ffprobe failed: ${out.stderr.trim().split('\n').slice(-2).join(' ')}`;
  const streams =
    (JSON.parse(out.stdout.toString('utf8') || '{}') as { streams?: Array<Record<string, unknown>> })
      .streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video');
  if (audioOnly && !v)
    return {
      width: 0,
      height: 0,
      codec: 'none',
      fps: 0,
      videoPackets: 0,
      audio: streams.some((s) => s.codec_type === 'audio'),
    };
  if (!v) return 'no video stream';
  const [num, den] = String(v.avg_frame_rate ?? v.r_frame_rate ?? '0/1')
    .split('/')
    .map(Number);
  return {
    width: Number(v.width),
    height: Number(v.height),
    codec: String(v.codec_name),
    fps: den ? (num ?? 0) / den : 0,
    videoPackets: Number(v.nb_read_packets ?? 0),
    audio: streams.some((s) => s.codec_type === 'audio'),
  };
}

/**
 * Re-encodes `[startS, startS + durationS)` of the source as rendition `name` with the job's own plan
 * (same filters, rate control and GOP), libx264; returns the folder holding `<name>/index.m3u8`.
 */
async function referenceEncode(
  o: VerifyOptions,
  name: string,
  startS: number,
  durationS: number,
  work: string,
): Promise<{ playlist: string; cpuS: number }> {
  const plan: LadderPlan = {
    ...o.plan,
    trimS: durationS,
    encode: [name],
    poster: false,
    thumbnail: false,
    mp4: false,
  };
  // ffmpeg's HLS muxer does not create the rendition folder (and exits 0 without output).
  await mkdir(join(work, name), { recursive: true });
  const args = buildFfmpegArgs(plan, 'libx264', { outDir: work });
  // Seek on the input, frame-accurately (decoding from the keyframe before it), then read durationS.
  const input = args.indexOf('-i');
  args.splice(input, 0, '-ss', startS.toFixed(3));
  args.splice(args.indexOf('-loglevel') + 1, 1, 'info');
  args.unshift('-benchmark');
  const out = await runProcess('ffmpeg', args, {
    ...(o.signal ? { signal: o.signal } : {}),
    stallTimeoutMs: 120_000,
  });
  if (out.code !== 0)
    throw new Error(`reference encode failed: ${out.stderr.trim().split('\n').slice(-2).join(' ')}`);
  return { playlist: join(work, name, 'index.m3u8'), cpuS: benchCpu(out.stderr) };
}

/**
 * SSIM (All, 0..1) of `candidate` against `reference`, both decoded from their first frame (after
 * `candidateInput`, input options of the candidate such as `-ss 2 -t 1`), scaled to w×h pixels; 0 when
 * either does not decode.
 */
export async function ssimOf(
  candidate: string,
  reference: string,
  w: number,
  h: number,
  signal?: AbortSignal,
  candidateInput: string[] = [],
): Promise<{ ssim: number; cpuS: number }> {
  const graph =
    `[0:v]scale=${w}:${h}:flags=bicubic,setpts=PTS-STARTPTS,format=yuv420p[a];` +
    `[1:v]scale=${w}:${h}:flags=bicubic,setpts=PTS-STARTPTS,format=yuv420p[b];[a][b]ssim=shortest=1`;
  const out = await runProcess(
    'ffmpeg',
    [
      '-hide_banner',
      '-nostdin',
      '-benchmark',
      '-nostats',
      ...candidateInput,
      '-i',
      candidate,
      '-i',
      reference,
      '-filter_complex',
      graph,
      '-f',
      'null',
      '-',
    ],
    { ...(signal ? { signal } : {}), stallTimeoutMs: 120_000 },
  );
  const m = /SSIM Y:[\d.]+ .*All:([\d.]+)/.exec(out.stderr);
  if (out.code !== 0 || !m) return { ssim: 0, cpuS: benchCpu(out.stderr) };
  return { ssim: Number(m[1]), cpuS: benchCpu(out.stderr) };
}

/** Indexes of `k` distinct segments out of `n`, chosen with `random`. */
export function pickSegments(n: number, k: number, random: () => number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, Math.min(k, n)).sort((a, b) => a - b);
}

/**
 * Verifies a staged ladder against the job's plan and source (see the module comment). Never
 * throws for a bad upload: the report says what failed. Throws only when the verifier itself cannot
 * run (ffmpeg missing, aborted).
 */
export async function verifyStagedLadder(o: VerifyOptions): Promise<VerificationReport> {
  const started = Date.now();
  const checks: VerificationCheck[] = [];
  const spots: VerificationReport['spots'] = [];
  let cpuS = 0;
  const done = (): VerificationReport => ({
    ok: checks.every((c) => c.ok),
    checks,
    spots,
    cpuS: Math.round(cpuS * 1000) / 1000,
    wallS: (Date.now() - started) / 1000,
  });

  const ladder = await readLadder(o, checks);
  if (!ladder) return done();

  if (o.declared) {
    const listed = ladder
      .flatMap((r) => [r.playlist, ...(r.init ? [r.init] : []), ...r.segments.map((s) => s.uri)])
      .concat(o.master);
    const bad: string[] = [];
    for (const rel of listed) {
      const want = o.declared.get(rel);
      if (want === undefined) bad.push(`${rel} (not declared)`);
      else if ((await hashFile(safeJoin(o.dir, rel))).sha256 !== want) bad.push(`${rel} (hash differs)`);
    }
    if (bad.length) {
      fail(
        checks,
        'hashes',
        `uploaded files differ from the completion report: ${bad.slice(0, 5).join(', ')}`,
      );
      return done();
    }
    pass(checks, 'hashes', `${listed.length} files match the declared SHA-256`);
  }

  const planned = new Map(
    o.plan.renditions.filter((r): r is PlannedVideoRendition => r.kind === 'video').map((r) => [r.name, r]),
  );
  const fps = o.plan.video?.fps ?? 0;
  const seg = o.plan.segmentDuration;
  const audioApart = separateAudio(o.plan);
  for (const r of ladder) {
    if (r.kind === 'audio') {
      const probed = await probeRendition(safeJoin(o.dir, r.playlist), o.signal, true);
      if (typeof probed === 'string' || !probed.audio || !audioApart) {
        fail(
          checks,
          'plan',
          `${r.name}: ${typeof probed === 'string' ? probed : 'not the planned audio rendition'}`,
        );
        return done();
      }
      continue;
    }
    const want = planned.get(r.name);
    if (!want) {
      fail(checks, 'plan', `rendition ${r.name} is not in the plan (${[...planned.keys()].join(', ')})`);
      return done();
    }
    const probed = await probeRendition(safeJoin(o.dir, r.playlist), o.signal);
    if (typeof probed === 'string') {
      fail(checks, 'decode', `${r.name}: ${probed}`);
      return done();
    }
    const problems: string[] = [];
    if (probed.width !== want.width || probed.height !== want.height)
      problems.push(`size ${probed.width}x${probed.height}, planned ${want.width}x${want.height}`);
    if (probed.codec !== want.codec) problems.push(`codec ${probed.codec}, planned ${want.codec}`);
    if (fps > 0 && Math.abs(probed.fps - fps) > fps * 0.01)
      problems.push(`frame rate ${probed.fps.toFixed(3)}, planned ${fps.toFixed(3)}`);
    const duration = r.segments.reduce((s, x) => s + x.durationS, 0);
    if (Math.abs(duration - o.plan.durationS) > seg + 0.05)
      problems.push(
        `duration ${duration.toFixed(2)} s, planned ${o.plan.durationS.toFixed(2)} s (±${seg} s)`,
      );
    const expectedFrames = duration * fps;
    if (fps > 0 && probed.videoPackets < expectedFrames * 0.9)
      problems.push(`${probed.videoPackets} video packets for ${expectedFrames.toFixed(0)} frames`);
    if (!probed.audio && !audioApart) problems.push('no audio stream');
    if (problems.length) {
      fail(checks, 'plan', `${r.name}: ${problems.join('; ')}`);
      return done();
    }
  }
  pass(
    checks,
    'plan',
    `every rendition decodes with the planned codec, size, frame rate, duration and audio`,
  );

  const k = o.spotSegments ?? 2;
  const minSsim = o.minSsim ?? 0.95;
  if (k > 0) {
    const work = await mkdtemp(join(tmpdir(), 'vidmesh-verify-'));
    try {
      const low: string[] = [];
      for (const r of ladder) {
        if (r.kind === 'audio') continue;
        const want = planned.get(r.name)!;
        for (const i of pickSegments(r.segments.length, k, o.random ?? Math.random)) {
          const s = r.segments[i]!;
          const ref = await referenceEncode(o, r.name, s.startS, s.durationS, join(work, `${r.name}-${i}`));
          // An fMP4 segment decodes only after its init segment: compare init + segment as one file.
          const candidate = r.init ? join(work, `${r.name}-${i}-candidate.mp4`) : safeJoin(o.dir, s.uri);
          if (r.init)
            await writeFile(
              candidate,
              Buffer.concat([
                await readFile(safeJoin(o.dir, r.init)),
                await readFile(safeJoin(o.dir, s.uri)),
              ]),
            );
          const m = await ssimOf(candidate, ref.playlist, want.width, want.height, o.signal);
          cpuS += ref.cpuS + m.cpuS;
          spots.push({ rendition: r.name, segment: s.uri, ssim: m.ssim });
          if (m.ssim < minSsim) low.push(`${s.uri} SSIM ${m.ssim.toFixed(4)}`);
        }
      }
      if (low.length)
        fail(
          checks,
          'spot re-encode',
          `below SSIM ${minSsim} against the verifier's encode: ${low.join(', ')}`,
        );
      else
        pass(
          checks,
          'spot re-encode',
          `${spots.length} segments at SSIM ≥ ${minSsim} (lowest ${Math.min(...spots.map((x) => x.ssim)).toFixed(4)})`,
        );
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  return done();
}
