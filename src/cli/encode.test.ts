import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../errors.js';
import { mediaDir } from '../paths.js';
import { parseLadderFlag } from './encode.js';
import { ExitCode } from './run.js';

// Run the real CLI entry point as a child: compiled main.js in dist, main.ts under tsx.
const here = fileURLToPath(import.meta.url);
const main = join(dirname(here), here.endsWith('.ts') ? 'main.ts' : 'main.js');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-cli-encode-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The loader flags of this process (tsx registers itself with --require/--import), without test flags. */
function loaderArgs(): string[] {
  const out: string[] = [];
  process.execArgv.forEach((a, i, all) => {
    if ((a === '--require' || a === '--import') && all[i + 1]) out.push(a, all[i + 1]!);
  });
  return out;
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...loaderArgs(), main, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'silent', NODE_TEST_CONTEXT: undefined },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('vidmesh encode --json: machine output on stdout, exit 0', () => {
  const out = join(dir, 'out');
  const r = cli([
    'encode',
    join(mediaDir(), 'Big_Buck_Bunny_180_10s.webm'),
    '-o',
    out,
    '--speed',
    'ultrafast',
    '--segment',
    '2',
    '--data-dir',
    join(dir, 'data'),
    '--json',
  ]);
  assert.equal(r.status, ExitCode.ok, r.stderr);
  const json = JSON.parse(r.stdout) as {
    result: { renditions: Array<{ name: string; width: number }>; backend: string };
    hwaccel: { chosen: string };
  };
  assert.deepEqual(
    json.result.renditions.map((x) => `${x.name}:${x.width}`),
    ['180p:320'],
  );
  assert.equal(json.hwaccel.chosen, json.result.backend);
  assert.ok(existsSync(join(out, 'master.m3u8')));
  assert.ok(existsSync(join(dir, 'data', 'hwaccel.json')), 'detection cached in the data dir');
});

test('summary table without --json', () => {
  const r = cli([
    'encode',
    join(mediaDir(), 'sar_2x1.mp4'),
    '-o',
    join(dir, 'table'),
    '--speed',
    'ultrafast',
    '--hwaccel',
    'none',
    '--no-poster',
    '--data-dir',
    join(dir, 'data'),
  ]);
  assert.equal(r.status, ExitCode.ok, r.stderr);
  assert.match(r.stdout, /^rendition\s+resolution\s+size\s+avg bitrate/m);
  assert.match(r.stdout, /^360p\s+1280x360\s+[\d.]+ MB/m);
  assert.match(r.stdout, /backend: libx264/);
});

test('bad input exits 2 with the typed error code; usage errors exit 2', async () => {
  const text = join(dir, 'notes.mp4');
  await writeFile(text, 'not a video\n');
  const bad = cli(['encode', text, '-o', join(dir, 'x')]);
  assert.equal(bad.status, ExitCode.badInput, bad.stderr);
  assert.match(bad.stderr, /\[not_media\]/);
  const missing = cli(['encode', join(dir, 'missing.mp4'), '-o', join(dir, 'x')]);
  assert.equal(missing.status, ExitCode.badInput);
  assert.match(missing.stderr, /\[input_not_found\]/);
  const badLadder = cli([
    'encode',
    join(mediaDir(), 'sar_2x1.mp4'),
    '-o',
    join(dir, 'x'),
    '--ladder',
    'x:1:1',
  ]);
  assert.equal(badLadder.status, ExitCode.badInput);
  assert.match(badLadder.stderr, /validation_failed/);
  const badFormat = cli(['encode', text, '-o', join(dir, 'x'), '--format', 'avi']);
  assert.equal(badFormat.status, ExitCode.badInput);
});

test('parseLadderFlag: presets and name:height:bitrate lists', () => {
  assert.equal(parseLadderFlag('default'), 'default');
  assert.deepEqual(parseLadderFlag('720p:720:2500k,360p:360:0.8M'), [
    { name: '720p', height: 720, videoBitrate: 2_500_000, codec: 'h264' },
    { name: '360p', height: 360, videoBitrate: 800_000, codec: 'h264' },
  ]);
  assert.throws(() => parseLadderFlag('720p:720'), ValidationError);
});
