import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { EncodeResult } from '../../src/media/index.js';

const run = promisify(execFile);

/** ffprobe JSON of `args` (independent of the code under test). */
export async function ffprobe(args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-of', 'json', ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

interface Packet {
  pts_time?: string;
  duration_time?: string;
  flags?: string;
}

async function packets(path: string, stream: 'v:0' | 'a:0'): Promise<Packet[]> {
  const j = await ffprobe([
    '-select_streams',
    stream,
    '-show_entries',
    'packet=pts_time,duration_time,flags',
    path,
  ]);
  return ((j.packets as Packet[] | undefined) ?? []).filter(
    (p) => p.pts_time !== undefined && p.pts_time !== 'N/A',
  );
}

/** Presentation span of a stream, seconds: last packet end − first packet start. */
export async function streamDurationS(path: string, stream: 'v:0' | 'a:0'): Promise<number> {
  const ps = await packets(path, stream);
  if (ps.length === 0) return 0;
  const starts = ps.map((p) => Number(p.pts_time));
  const ends = ps.map((p) => Number(p.pts_time) + (Number(p.duration_time) || 0));
  return Math.max(...ends) - Math.min(...starts);
}

/** Video frame (packet) times relative to the first one, seconds (rounded to ms), in display order. */
export async function frameTimes(path: string, only: 'all' | 'keyframes' = 'all'): Promise<number[]> {
  const ps = await packets(path, 'v:0');
  const t0 = Math.min(...ps.map((p) => Number(p.pts_time)));
  return ps
    .filter((p) => only === 'all' || p.flags?.includes('K'))
    .map((p) => Math.round((Number(p.pts_time) - t0) * 1000) / 1000)
    .sort((a, b) => a - b);
}

/** Keyframe times relative to the first video packet, seconds (rounded to ms). */
export function keyframeTimes(path: string): Promise<number[]> {
  return frameTimes(path, 'keyframes');
}

/** EXTINF durations and segment file sizes of a media playlist (parsed by hand, not by hls-parser). */
export function segmentsOf(playlistPath: string): Array<{ durationS: number; bytes: number }> {
  const lines = readFileSync(playlistPath, 'utf8').split('\n');
  const out: Array<{ durationS: number; bytes: number }> = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^#EXTINF:([\d.]+)/.exec(lines[i]!);
    if (m)
      out.push({
        durationS: Number(m[1]),
        bytes: statSync(join(dirname(playlistPath), lines[i + 1]!.trim())).size,
      });
  }
  return out;
}

/** Attributes of each EXT-X-STREAM-INF of a master playlist, with its URI. */
export function masterVariants(masterPath: string): Array<Record<string, string>> {
  const lines = readFileSync(masterPath, 'utf8').split('\n');
  const out: Array<Record<string, string>> = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('#EXT-X-STREAM-INF:')) return;
    const attrs: Record<string, string> = { URI: lines[i + 1]!.trim() };
    for (const m of line.slice(18).matchAll(/([A-Z-]+)=("[^"]*"|[^,]*)/g))
      attrs[m[1]!] = m[2]!.replace(/"/g, '');
    out.push(attrs);
  });
  return out;
}

const PROFILE_IDC: Record<string, number> = { 'Constrained Baseline': 66, Baseline: 66, Main: 77, High: 100 };

export interface ExpectLadder {
  /** `name=WxH` per rendition, highest first. */
  renditions: string[];
  segmentDuration: number;
  /** Source video and audio durations, seconds (audio undefined: silent track expected to match video). */
  sourceVideoS: number | undefined;
  sourceAudioS: number | undefined;
}

/**
 * Checks a produced ladder with ffprobe: renditions and sizes, RESOLUTION, CODECS against the real
 * streams, BANDWIDTH ≥ measured peak segment bitrate, keyframes aligned across renditions and at every
 * segment start, segment durations ≈ target, audio/video durations within 100 ms of the source.
 */
export async function verifyLadder(result: EncodeResult, want: ExpectLadder): Promise<void> {
  const master = join(result.outDir, result.master);
  const variants = masterVariants(master);
  const got = result.renditions.map((r) =>
    r.kind === 'video' ? `${r.name}=${r.width}x${r.height}` : r.name,
  );
  assert.deepEqual(got, want.renditions);
  assert.deepEqual(
    variants.map((v) => v.URI),
    result.renditions.map((r) => r.playlist),
  );

  let reference: number[] | undefined;
  for (const [i, r] of result.renditions.entries()) {
    const v = variants[i]!;
    const playlist = join(result.outDir, r.playlist);
    const probe = await ffprobe([
      '-show_entries',
      'stream=codec_type,codec_name,profile,level,width,height',
      playlist,
    ]);
    const streams = probe.streams as Array<Record<string, string | number>>;
    const video = streams.find((s) => s.codec_type === 'video');
    const audio = streams.find((s) => s.codec_type === 'audio');
    assert.ok(audio, `${r.name}: every variant carries audio`);
    assert.equal(audio.codec_name, 'aac');
    assert.equal(audio.profile, 'LC');
    const codecs = v.CODECS!.split(',');
    assert.ok(codecs.includes('mp4a.40.2'), `${r.name} CODECS lists AAC-LC`);

    // BANDWIDTH ≥ the peak segment bitrate measured here (RFC 8216 §4.3.4.2).
    const segs = segmentsOf(playlist);
    const peak = Math.max(...segs.map((s) => (s.bytes * 8) / s.durationS));
    assert.ok(Number(v.BANDWIDTH) >= Math.floor(peak), `${r.name} BANDWIDTH ${v.BANDWIDTH} ≥ peak ${peak}`);
    assert.ok(Number(v['AVERAGE-BANDWIDTH']) <= Number(v.BANDWIDTH));

    if (r.kind === 'audio') {
      assert.equal(video, undefined);
      assert.equal(v.RESOLUTION, undefined);
      continue;
    }
    assert.ok(video, `${r.name} has video`);
    assert.equal(v.RESOLUTION, `${video.width}x${video.height}`);
    const avc = codecs.find((c) => c.startsWith('avc1.'))!;
    const idc = PROFILE_IDC[String(video.profile)];
    assert.ok(idc, `known profile ${video.profile}`);
    assert.equal(
      avc.slice(5, 7),
      idc.toString(16).padStart(2, '0'),
      `${r.name} CODECS profile vs ${video.profile}`,
    );
    assert.equal(
      avc.slice(9, 11),
      Number(video.level).toString(16).padStart(2, '0'),
      `${r.name} CODECS level`,
    );
    assert.ok(Number(v['FRAME-RATE']) > 0);

    // Segment durations: every segment but the last is the target (within one frame).
    const fps = Number(v['FRAME-RATE']);
    for (const s of segs.slice(0, -1)) {
      assert.ok(
        Math.abs(s.durationS - want.segmentDuration) <= 1 / fps + 0.01,
        `${r.name} segment ${s.durationS} s`,
      );
    }
    assert.ok(segs.at(-1)!.durationS <= want.segmentDuration + 1 / fps + 0.01);

    // Keyframes: same times in every rendition, and one at each segment start.
    const keys = await keyframeTimes(playlist);
    if (reference)
      assert.deepEqual(keys, reference, `${r.name} keyframes aligned with ${result.renditions[0]!.name}`);
    reference ??= keys;
    let start = 0;
    for (const s of segs) {
      assert.ok(
        keys.some((k) => Math.abs(k - start) <= 1 / fps / 2 + 0.002),
        `${r.name}: keyframe at segment start ${start.toFixed(3)} (keys ${keys.join(',')})`,
      );
      start += s.durationS;
    }

    const vDur = await streamDurationS(playlist, 'v:0');
    const aDur = await streamDurationS(playlist, 'a:0');
    if (want.sourceVideoS !== undefined) {
      assert.ok(
        Math.abs(vDur - want.sourceVideoS) <= 0.1,
        `${r.name} video ${vDur} vs source ${want.sourceVideoS}`,
      );
    }
    const audioTarget = want.sourceAudioS ?? want.sourceVideoS ?? vDur;
    assert.ok(Math.abs(aDur - audioTarget) <= 0.1, `${r.name} audio ${aDur} vs ${audioTarget}`);
  }
}

/** Mean luma (0–255) of an image, to tell a real poster from a black frame. */
export async function meanLuma(imagePath: string): Promise<number> {
  const escaped = imagePath.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/:/g, '\\:');
  const j = await ffprobe([
    '-f',
    'lavfi',
    '-i',
    `movie='${escaped}',signalstats`,
    '-show_entries',
    'frame_tags=lavfi.signalstats.YAVG:stream=width,height',
  ]);
  const frames = j.frames as Array<{ tags?: Record<string, string> }>;
  return Number(frames[0]?.tags?.['lavfi.signalstats.YAVG']);
}

/** Width and height of an image or the first video stream of a file. */
export async function imageSize(path: string): Promise<[number, number]> {
  const j = await ffprobe(['-show_entries', 'stream=width,height', path]);
  const s = (j.streams as Array<{ width: number; height: number }>)[0]!;
  return [s.width, s.height];
}

/** Video packets of `path` (a file or media playlist), counted by ffprobe. */
export async function videoFrames(path: string): Promise<number> {
  const j = await ffprobe([
    '-select_streams',
    'v:0',
    '-count_packets',
    '-show_entries',
    'stream=nb_read_packets',
    path,
  ]);
  return Number((j.streams as Array<{ nb_read_packets: string }>)[0]!.nb_read_packets);
}

/**
 * A/V alignment of `path`: audio start − video start and audio end − video end, seconds (stream
 * start times from ffprobe, ends from the packets).
 */
export async function avOffsets(path: string): Promise<{ startS: number; endS: number }> {
  const start = async (stream: 'v:0' | 'a:0') => {
    const j = await ffprobe(['-select_streams', stream, '-show_entries', 'stream=start_time', path]);
    return Number((j.streams as Array<{ start_time: string }>)[0]!.start_time);
  };
  const [v, a] = [await start('v:0'), await start('a:0')];
  const [vd, ad] = [await streamDurationS(path, 'v:0'), await streamDurationS(path, 'a:0')];
  return { startS: a - v, endS: a + ad - (v + vd) };
}
