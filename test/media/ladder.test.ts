import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeLadder, planLadder, probe } from '../../src/media/index.js';
import { FAST, LADDER_CASES, ladderTests, mediaFiles } from './ladder-cases.js';
import { streamDurationS, verifyLadder } from './verify.js';

// Small and rotated sources here; the 1080p ones in ladder-1080.test.ts (two files run in parallel).
ladderTests(LADDER_CASES.filter((c) => !c.want[0]!.startsWith('1080p=1920')));

test('the cases cover every video in the media folder', () => {
  assert.deepEqual(mediaFiles().sort(), LADDER_CASES.map((c) => c.file).sort());
});

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-audio-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('audio-only input gives an audio-only rendition', async () => {
  const input = join(dir, 'tone.m4a');
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:duration=5',
    '-c:a',
    'aac',
    input,
  ]);
  const plan = planLadder(await probe(input), FAST);
  const result = await encodeLadder(plan, join(dir, 'audio-out'));
  assert.equal(result.poster, undefined);
  await verifyLadder(result, {
    renditions: ['audio'],
    segmentDuration: 2,
    sourceVideoS: undefined,
    sourceAudioS: await streamDurationS(input, 'a:0'),
  });
  assert.equal(result.renditions[0]!.codecs, 'mp4a.40.2');
  assert.ok(existsSync(join(dir, 'audio-out', 'master.m3u8')));
});
