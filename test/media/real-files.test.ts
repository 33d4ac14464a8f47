import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeLadder, planLadder, probe } from '../../src/media/index.js';
import { FAST } from './ladder-cases.js';
import { imageSize, streamDurationS, verifyLadder } from './verify.js';

// Classes of real-world files that broke on held-out inputs (issue #17), each made here with ffmpeg
// as a 2–3 s 320x240 clip (cheap to encode), then run through probe → planLadder → encodeLadder.

const SRC = ['-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=25:d=2', '-f', 'lavfi', '-i', 'sine=d=2'];
const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast'];
const AAC = ['-c:a', 'aac'];

interface FileCase {
  name: string;
  file: string;
  /** ffmpeg arguments writing the file (the output path is appended; `pipe` writes to stdout). */
  make: string[];
  /** Then stream-copied with these options (metadata ffmpeg only writes when not encoding). */
  remux?: string[];
  /** Written through a pipe: the muxer cannot seek back to write the duration (as OBS live files). */
  pipe?: boolean;
  want: string[];
  durationFrom?: 'header' | 'packets';
  /** Checked with verifyLadder (durations vs the source); off where the source's own streams differ. */
  verify?: boolean;
  poster?: boolean;
}

const CASES: FileCase[] = [
  {
    name: 'Matroska written live, no duration in the header (OBS)',
    file: 'obs.mkv',
    make: [...SRC, ...X264, ...AAC, '-f', 'matroska'],
    pipe: true,
    want: ['240p=320x240'],
    durationFrom: 'packets',
  },
  {
    name: 'WebM written live, no duration (MediaRecorder), VP9 + Opus',
    file: 'live.webm',
    make: [
      ...SRC,
      '-c:v',
      'libvpx-vp9',
      '-deadline',
      'realtime',
      '-cpu-used',
      '8',
      '-c:a',
      'libopus',
      '-f',
      'webm',
    ],
    pipe: true,
    want: ['240p=320x240'],
    durationFrom: 'packets',
  },
  {
    name: 'MPEG-TS 720x720 60 fps, one keyframe, starts at 1.4 s: the poster seek finds no frame',
    file: 'square60.ts',
    make: [
      ...['-f', 'lavfi', '-i', 'testsrc2=s=720x720:r=60:d=2', '-f', 'lavfi', '-i', 'sine=d=2'],
      ...[...X264, '-g', '1000', ...AAC, '-f', 'mpegts'],
    ],
    want: ['720p=720x720', '480p=480x480'],
  },
  {
    name: 'a 1-frame video',
    file: 'one-frame.mp4',
    make: ['-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=25:d=1', '-frames:v', '1', ...X264],
    want: ['240p=320x240'],
    verify: false,
  },
  {
    name: 'video starting 1 s after the audio',
    file: 'late.mp4',
    make: [
      ...SRC,
      '-filter_complex',
      '[0:v]setpts=PTS+1/TB[v]',
      '-map',
      '[v]',
      '-map',
      '1:a',
      ...X264,
      ...AAC,
    ],
    want: ['240p=320x240'],
    verify: false,
  },
  {
    name: 'negative timestamps (B-frames, no shift)',
    file: 'negative.mp4',
    make: [
      ...SRC,
      ...X264,
      '-bf',
      '2',
      ...AAC,
      '-output_ts_offset',
      '-0.5',
      '-avoid_negative_ts',
      'disabled',
    ],
    want: ['240p=320x240'],
    verify: false,
  },
  {
    name: 'rotation 90° in the display matrix',
    file: 'rotated.mp4',
    make: [...SRC, ...X264, ...AAC],
    remux: ['-metadata:s:v', 'rotate=90'],
    want: ['240p=240x320'],
  },
  {
    name: 'odd sample aspect ratio 10:11 (DV NTSC)',
    file: 'sar.mp4',
    make: [
      ...['-f', 'lavfi', '-i', 'testsrc2=s=360x240:r=25:d=2', '-f', 'lavfi', '-i', 'sine=d=2'],
      ...['-vf', 'setsar=10/11', ...X264, ...AAC],
    ],
    want: ['240p=328x240'],
  },
  {
    name: 'two video streams: the default one (the larger) is encoded, not the first',
    file: 'two-video.mkv',
    make: [
      ...['-f', 'lavfi', '-i', 'testsrc=s=160x120:r=25:d=2', ...SRC],
      ...['-map', '0:v', '-map', '1:v', '-map', '2:a', ...X264, ...AAC],
      ...['-disposition:v:0', '0', '-disposition:v:1', 'default'],
    ],
    want: ['240p=320x240'],
    verify: false,
  },
  {
    name: 'cover art (attached_pic) beside the video',
    file: 'cover-video.mkv',
    make: [
      ...[...SRC, '-f', 'lavfi', '-i', 'testsrc=s=600x600:d=1', '-map', '0:v', '-map', '1:a', '-map', '2:v'],
      ...[...X264, ...AAC, '-c:v:1', 'mjpeg', '-frames:v:1', '1', '-disposition:v:1', 'attached_pic'],
      ...['-f', 'mp4'],
    ],
    want: ['240p=320x240'],
  },
  {
    name: 'audio with cover art only: an audio rendition, no poster',
    file: 'cover-audio.m4a',
    make: [
      ...['-f', 'lavfi', '-i', 'sine=d=2', '-f', 'lavfi', '-i', 'testsrc=s=300x300:d=1'],
      ...['-map', '0', '-map', '1', ...AAC, '-c:v', 'mjpeg', '-frames:v', '1'],
      ...['-disposition:v:0', 'attached_pic', '-f', 'mp4'],
    ],
    want: ['audio'],
    poster: false,
  },
  ...(
    [
      ['4:2:2 H.264', 'c422.mp4', 'yuv422p', 'libx264'],
      ['4:4:4 H.264', 'c444.mp4', 'yuv444p', 'libx264'],
      ['10-bit HEVC', 'hevc10.mp4', 'yuv420p10le', 'libx265'],
      ['12-bit 4:2:2 HEVC', 'hevc12.mkv', 'yuv422p12le', 'libx265'],
    ] as const
  ).map(([name, file, pixFmt, codec]) => ({
    name,
    file,
    make: [
      ...[...SRC, '-pix_fmt', pixFmt, '-c:v', codec, '-preset', 'ultrafast', ...AAC],
      ...(codec === 'libx265' ? ['-x265-params', 'log-level=error'] : []),
    ],
    want: ['240p=320x240'],
  })),
];

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-real-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function makeFile(c: FileCase): string {
  const path = join(dir, c.file);
  const base = ['-v', 'error', '-y', ...c.make];
  if (c.pipe) {
    const fd = openSync(path, 'w');
    try {
      execFileSync('ffmpeg', [...base, 'pipe:1'], { stdio: ['ignore', fd, 'pipe'] });
    } finally {
      closeSync(fd);
    }
  } else if (c.remux) {
    const first = join(dir, `pre-${c.file}`);
    execFileSync('ffmpeg', [...base, first]);
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', first, '-c', 'copy', ...c.remux, path]);
  } else {
    execFileSync('ffmpeg', [...base, path]);
  }
  return path;
}

describe('every real file encodes', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const input = makeFile(c);
      const source = await probe(input);
      if (c.durationFrom) assert.equal(source.durationFrom, c.durationFrom);
      assert.ok(source.durationS > 0);
      const plan = planLadder(source, FAST);
      const out = join(dir, `out-${c.file}`);
      const events: number[] = [];
      const result = await encodeLadder(plan, out, {
        onProgress: (p) => events.push(p.percent),
        progressIntervalMs: 0,
      });
      assert.equal(events.at(-1), 100, 'progress reaches 100 %');
      for (const r of result.renditions) {
        const text = readFileSync(join(out, r.playlist), 'utf8');
        assert.match(text, /^#EXT-X-TARGETDURATION:[1-9]\d*$/m, `${r.name}: a positive target duration`);
      }
      if (c.verify === false) {
        assert.deepEqual(
          result.renditions.map((r) => `${r.name}=${r.width}x${r.height}`),
          c.want,
        );
      } else {
        const hasVideo = source.kind === 'video';
        await verifyLadder(result, {
          renditions: c.want,
          segmentDuration: 2,
          sourceVideoS: hasVideo ? await streamDurationS(input, 'v:0') : undefined,
          sourceAudioS: source.audio.length > 0 ? await streamDurationS(input, 'a:0') : undefined,
        });
      }
      if (c.poster === false) {
        assert.equal(result.poster, undefined);
      } else {
        const top = result.renditions[0]!;
        assert.equal(result.poster, 'poster.jpg', 'a poster, from the first frame if need be');
        assert.deepEqual(await imageSize(join(out, 'poster.jpg')), [top.width, top.height]);
        assert.ok(existsSync(join(out, 'thumbnail.jpg')));
      }
      assert.deepEqual(
        readdirSync(out).filter((f) => f.startsWith('.')),
        [],
      );
    });
  }
});
