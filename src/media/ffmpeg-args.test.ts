import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { packageRoot } from '../paths.js';
import { fakeProbe } from './fake-probe.js';
import { backendSupports, buildFfmpegArgs, buildPosterArgs, posterSizes } from './ffmpeg-args.js';
import { type LadderOptionsInput, planLadder } from './ladder.js';
import { BACKENDS, type Backend, type ProbeResult } from './types.js';

// Argument snapshots of every backend × source shape, built without any GPU (the immich approach).
// Regenerate after an intended change with UPDATE_SNAPSHOTS=1 and review the diff.
// Format: a `## backend/shape` line, then one argv token per line (tokens never contain newlines).
const snapshotFile = join(packageRoot(), 'src', 'media', '__snapshots__', 'ffmpeg-args.snap');
const update = process.env.UPDATE_SNAPSHOTS === '1';
const stored: Record<string, string[]> = {};
if (existsSync(snapshotFile)) {
  let key = '';
  for (const line of readFileSync(snapshotFile, 'utf8').split('\n')) {
    if (line.startsWith('## ')) {
      key = line.slice(3);
      stored[key] = [];
    } else if (key && line !== '') stored[key]!.push(line);
  }
}
const seen: Record<string, string[]> = {};

const shapes: Record<string, { probe: ProbeResult; options?: LadderOptionsInput }> = {
  sdr: { probe: fakeProbe({}) },
  hdr: {
    probe: fakeProbe({
      pixFmt: 'yuv420p10le',
      bitDepth: 10,
      hdr: 'pq',
      colorTransfer: 'smpte2084',
      codec: 'hevc',
    }),
  },
  rotated: { probe: fakeProbe({ rotation: 90, displayWidth: 1080, displayHeight: 1920 }) },
  noAudio: { probe: fakeProbe({}, { audio: [] }) },
  // The fixed target-bitrate ladder (the default rate control), explicitly.
  cbr: { probe: fakeProbe({}), options: { rateControl: 'cbr' } },
  // Capped CRF (opt-in): constant quality under the fixed ladder's bitrates as VBV ceilings.
  cappedCrf: { probe: fakeProbe({}), options: { rateControl: 'capped-crf' } },
  // 4:4:4 (screen recordings): NVDEC cannot decode it for scale_cuda, so software decode + upload.
  chroma444: { probe: fakeProbe({ pixFmt: 'yuv444p', profile: 'High 4:4:4 Predictive' }) },
  short: { probe: fakeProbe({}, { durationS: 600 }), options: { short: true } },
  fmp4Only3speak: { probe: fakeProbe({}), options: { format: 'fmp4', layout: '3speak', only: ['720p'] } },
  // Issue #17 codecs: HEVC everywhere; AV1 with an H.264 fallback (not VAAPI); VP9 (software only).
  hevc: { probe: fakeProbe({}), options: { codecs: ['hevc'] } },
  av1H264: { probe: fakeProbe({ width: 1280, height: 720 }), options: { codecs: ['av1', 'h264'] } },
  vp9CappedCrf: {
    probe: fakeProbe({ width: 854, height: 480 }),
    options: { codecs: ['vp9'], rateControl: 'capped-crf' },
  },
};

/** Encoder names expected per shape and backend (ladder order, highest first). */
const wantEncoders: Record<string, Partial<Record<Backend, string[]>>> = {
  hevc: {
    libx264: ['libx265', 'libx265', 'libx265'],
    nvenc: ['hevc_nvenc', 'hevc_nvenc', 'hevc_nvenc'],
    vaapi: ['hevc_vaapi', 'hevc_vaapi', 'hevc_vaapi'],
    qsv: ['hevc_qsv', 'hevc_qsv', 'hevc_qsv'],
  },
  av1H264: {
    libx264: ['libsvtav1', 'libx264', 'libsvtav1', 'libx264'],
    nvenc: ['av1_nvenc', 'h264_nvenc', 'av1_nvenc', 'h264_nvenc'],
    qsv: ['av1_qsv', 'h264_qsv', 'av1_qsv', 'h264_qsv'],
  },
  vp9CappedCrf: { libx264: ['libvpx-vp9'] },
};

const flag = (args: string[], name: string): string[] =>
  args.flatMap((a, i) => (a === name && i + 1 < args.length ? [args[i + 1]!] : []));

describe('buildFfmpegArgs', () => {
  after(() => {
    if (update) {
      mkdirSync(join(snapshotFile, '..'), { recursive: true });
      const text = Object.entries(seen).map(([k, args]) => `## ${k}\n${args.join('\n')}\n`);
      writeFileSync(snapshotFile, text.join('\n'));
    }
  });

  for (const backend of BACKENDS) {
    for (const [shape, { probe, options }] of Object.entries(shapes)) {
      const plan = planLadder(probe, { speed: 'veryfast', ...options });
      const codecs = plan.renditions.flatMap((r) =>
        r.kind === 'video' && plan.encode.includes(r.name) ? [r.codec] : [],
      );
      if (!backendSupports(backend, codecs)) {
        test(`${backend} × ${shape}: refused, the backend lacks one of ${codecs.join(', ')}`, () => {
          assert.throws(() => buildFfmpegArgs(plan, backend, { outDir: '/out' }), /has no (av1|vp9) encoder/);
        });
        continue;
      }
      test(`${backend} × ${shape}`, () => {
        const args = buildFfmpegArgs(plan, backend, { outDir: '/out' });
        const key = `${backend}/${shape}`;
        seen[key] = args;
        if (!update) assert.deepEqual(args, stored[key], `snapshot ${key} (UPDATE_SNAPSHOTS=1 to accept)`);

        // One process, one decode: one source input, one split feeding one encoder per rendition.
        const inputs = flag(args, '-i');
        assert.equal(inputs[0], 'file:/in/source.mp4', 'user input only through the file protocol');
        assert.deepEqual(args.slice(args.indexOf('-i') - 2, args.indexOf('-i')), [
          '-protocol_whitelist',
          'file',
        ]);
        assert.equal(inputs.length, shape === 'noAudio' ? 2 : 1);
        const graph = flag(args, '-filter_complex');
        assert.equal(graph.length, 1);
        const n = plan.encode.length;
        assert.match(graph[0]!, new RegExp(`split=${n}`));
        assert.equal(flag(args, '-f').filter((f) => f === 'hls').length, n);
        // Aligned keyframes: fixed GOP and a keyframe forced at every segment boundary.
        assert.deepEqual(flag(args, '-g'), Array(n).fill(String(plan.video!.gopFrames)));
        assert.deepEqual(
          flag(args, '-force_key_frames'),
          Array(n).fill(`expr:gte(t,n_forced*${plan.segmentDuration})`),
        );
        assert.ok(graph[0]!.startsWith('[0:0]fps='), 'constant frame rate before the split');
        if (shape === 'short')
          assert.deepEqual(args.slice(args.indexOf('-t'), args.indexOf('-i') + 1).slice(0, 2), ['-t', '60']);
        if (shape === 'noAudio') {
          assert.match(inputs[1]!, /^anullsrc=/);
          assert.deepEqual([...new Set(flag(args, '-map').filter((m) => !m.startsWith('[')))], ['1:a:0']);
        } else {
          assert.deepEqual([...new Set(flag(args, '-map').filter((m) => !m.startsWith('[')))], ['0:1']);
        }
        if (shape === 'hdr')
          assert.match(graph[0]!, /zscale=t=linear.*tonemap=tonemap=hable.*format=yuv420p/);
        const want = wantEncoders[shape]?.[backend];
        if (want) {
          assert.deepEqual(flag(args, '-c:v'), want);
          // HEVC, AV1 and VP9 only travel in fMP4/CMAF segments.
          assert.deepEqual(flag(args, '-hls_segment_type'), Array(n).fill('fmp4'));
          assert.equal(flag(args, '-tag:v').length, shape === 'hevc' ? n : 0, 'HEVC as hvc1');
        }
        if (shape === 'fmp4Only3speak') {
          assert.deepEqual(flag(args, '-hls_segment_type'), ['fmp4']);
          assert.deepEqual(flag(args, '-hls_segment_filename'), ['/out/720p/720p_%d.m4s']);
        }

        // Rate control: the VBV caps of the fixed ladder in both modes (BANDWIDTH ceilings unchanged);
        // constant quality where the backend has a verified mode, target bitrate otherwise.
        assert.deepEqual(flag(args, '-maxrate').length, n);
        const capped = shape === 'cappedCrf' || shape === 'vp9CappedCrf';
        const quality = capped && (backend === 'libx264' || backend === 'nvenc');
        assert.equal(flag(args, backend === 'nvenc' ? '-cq' : '-crf').length, quality ? n : 0);
        assert.deepEqual(new Set(flag(args, '-b:v')).has('0'), quality && backend === 'nvenc');

        switch (backend) {
          case 'libx264':
            assert.deepEqual(
              flag(args, '-sc_threshold'),
              Array(codecs.filter((c) => c === 'h264').length).fill('0'),
            );
            assert.ok(!args.includes('-hwaccel'));
            break;
          case 'nvenc': {
            const deviceDecode = !['hdr', 'rotated', 'chroma444'].includes(shape);
            assert.equal(args.includes('-hwaccel'), deviceDecode);
            if (deviceDecode) assert.deepEqual(flag(args, '-hwaccel_output_format'), ['cuda']);
            else assert.match(graph[0]!, /format=nv12,hwupload,split/);
            assert.match(graph[0]!, /scale_cuda=/);
            assert.deepEqual(flag(args, '-no-scenecut'), Array(n).fill('1'));
            assert.deepEqual(flag(args, '-forced-idr'), Array(n).fill('1'));
            break;
          }
          case 'vaapi':
            assert.ok(!args.includes('-hwaccel'), 'never -hwaccel vaapi together with hwupload');
            assert.deepEqual(flag(args, '-vaapi_device'), ['/dev/dri/renderD128']);
            assert.match(graph[0]!, /hwupload,split=\d+.*scale_vaapi=w=/);
            break;
          case 'qsv':
            assert.match(graph[0]!, /hwupload=extra_hw_frames=64,split=\d+.*scale_qsv=w=/);
            assert.deepEqual(flag(args, '-forced_idr'), Array(n).fill('1'));
            break;
        }
      });
    }
  }

  test('audio-only plan: one AAC rendition, no video filters', () => {
    const plan = planLadder(fakeProbe(undefined));
    const args = buildFfmpegArgs(plan, 'libx264', { outDir: '/out' });
    assert.ok(!args.includes('-filter_complex'));
    assert.ok(args.includes('-vn'));
    assert.deepEqual(flag(args, '-c:a'), ['aac']);
    assert.equal(args[args.length - 1], '/out/audio/index.m3u8');
  });

  test('poster: portrait size, 180 px thumbnail, one run for both', () => {
    const plan = planLadder(fakeProbe({ rotation: 90, displayWidth: 1080, displayHeight: 1920 }));
    assert.deepEqual(posterSizes(plan), { poster: [1080, 1920], thumbnail: [180, 320] });
    const args = buildPosterArgs(plan, '/o/p.jpg', '/o/t.jpg');
    assert.deepEqual(flag(args, '-ss'), ['2.500']);
    assert.match(flag(args, '-filter_complex')[0]!, /thumbnail=60,split=2/);
    const first = buildPosterArgs(plan, '/o/p.jpg', '/o/t.jpg', 'first');
    assert.deepEqual(flag(first, '-ss'), [], 'the fallback reads from the start');
    assert.doesNotMatch(flag(first, '-filter_complex')[0]!, /thumbnail=/);
  });
});
