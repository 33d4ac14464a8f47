import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { encodeLadder, type LadderPlan, type ProbeResult, planLadder, probe } from '../../src/media/index.js';
import { pickSegments, verifyStagedLadder } from '../../src/trust/verify.js';
import { hashFiles } from '../helpers/hashes.js';
import { makeClip, makeSyntheticClip } from '../helpers/media.js';

/**
 * Verification of staged ladders (issue 14) on real encodes: an honest encode passes; each kind of
 * cheat is a real ffmpeg output with one dishonest change, and each is caught by the check meant for
 * it. The verifier's CPU is reported against the encode's.
 */

const run = promisify(execFile);
const LADDER = {
  ladder: [{ name: '240p', height: 240, videoBitrate: 400_000 }],
  speed: 'ultrafast' as const,
  segmentDuration: 1,
};

describe('verification of staged ladders', () => {
  let root: string;
  let clip: string;
  let info: ProbeResult;
  let plan: LadderPlan;
  let honest: string;
  let encodeCpuS = 0;

  /** Encodes `input` with the job's plan options into a fresh folder (as an encoder would). */
  const encodeAs = async (input: string, ladder = LADDER) => {
    const out = await mkdtemp(join(root, 'out-'));
    const p = planLadder(await probe(input), ladder);
    await encodeLadder(p, out);
    return out;
  };
  const verify = async (dir: string, extra: Partial<Parameters<typeof verifyStagedLadder>[0]> = {}) =>
    verifyStagedLadder({
      dir,
      master: 'master.m3u8',
      declared: await hashFiles(dir),
      plan,
      source: info,
      random: () => 0.5,
      ...extra,
    });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-verify-test-'));
    clip = await makeClip(join(root, 'clip.mp4'), { seconds: 4 });
    info = await probe(clip);
    plan = planLadder(info, LADDER);
    honest = await encodeAs(clip);
    // CPU of the honest encode, measured the same way as the verifier's (ffmpeg -benchmark).
    const { stderr } = await run('ffmpeg', [
      '-benchmark',
      '-v',
      'info',
      '-nostats',
      '-i',
      clip,
      '-vf',
      'scale=-2:240',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-b:v',
      '400k',
      '-c:a',
      'aac',
      '-f',
      'null',
      '-',
    ]);
    const m = /utime=([\d.]+)s stime=([\d.]+)s/.exec(stderr);
    encodeCpuS = m ? Number(m[1]) + Number(m[2]) : 0;
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('pickSegments chooses k distinct indexes in range', () => {
    assert.deepEqual(
      pickSegments(5, 2, () => 0),
      [1, 2],
      'deterministic for a fixed random source',
    );
    const p = pickSegments(10, 3, Math.random);
    assert.equal(new Set(p).size, 3);
    assert.ok(p.every((i) => i >= 0 && i < 10));
    assert.deepEqual(pickSegments(1, 2, Math.random), [0]);
  });

  test('an honest encode passes every check, spot SSIM well above the bar', async () => {
    const report = await verify(honest);
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    assert.deepEqual(
      report.checks.map((c) => c.name),
      ['playlists', 'hashes', 'plan', 'spot re-encode'],
    );
    assert.ok(
      report.spots.length === 2 && report.spots.every((s) => s.ssim > 0.95),
      JSON.stringify(report.spots),
    );
    console.log(
      `verification (SSIM ${report.spots.map((s) => s.ssim.toFixed(3)).join(', ')}): ${report.cpuS.toFixed(2)} CPU s for 2 of ${plan.durationS} one-second segments; ` +
        `encode ${encodeCpuS.toFixed(2)} CPU s (${((report.cpuS / Math.max(encodeCpuS, 0.001)) * 100).toFixed(0)} %)`,
    );
  });

  test('(a/e) a different video of the same length is caught by the spot re-encode', async () => {
    const other = await makeSyntheticClip(join(root, 'other.mp4'), { kind: 'testsrc', seconds: 4 });
    const cheat = await encodeAs(other);
    const report = await verify(cheat);
    assert.equal(report.ok, false);
    const failed = report.checks.find((c) => !c.ok);
    assert.equal(failed?.name, 'spot re-encode', JSON.stringify(report.checks));
  });

  test('(b) a lower resolution declared as the planned one is caught by the plan check', async () => {
    const low = await encodeAs(clip, {
      ...LADDER,
      ladder: [{ name: '240p', height: 144, videoBitrate: 200_000 }],
    });
    // The cheater rewrites the master to claim the planned size.
    const master = (await readFile(join(low, 'master.m3u8'), 'utf8')).replace(
      /RESOLUTION=\d+x\d+/,
      'RESOLUTION=426x240',
    );
    await writeFile(join(low, 'master.m3u8'), master);
    const report = await verify(low);
    assert.equal(report.ok, false);
    assert.match(report.checks.find((c) => !c.ok)?.detail ?? '', /size \d+x144, planned \d+x240/);
  });

  test('(c) black frames are caught by the spot re-encode', async () => {
    const cheat = await mkdtemp(join(root, 'black-'));
    await cp(honest, cheat, { recursive: true });
    const segs = (await readdir(join(cheat, '240p'))).filter((f) => f.endsWith('.ts'));
    const w = plan.renditions[0]?.kind === 'video' ? plan.renditions[0].width : 426;
    for (const f of segs) {
      await makeSyntheticClip(join(cheat, '240p', f), {
        kind: 'black',
        seconds: 1,
        size: `${w}x240`,
        fps: plan.video?.fps ?? 24,
        format: 'mpegts',
      });
    }
    const report = await verify(cheat);
    assert.equal(report.ok, false);
    assert.equal(report.checks.find((c) => !c.ok)?.name, 'spot re-encode', JSON.stringify(report.checks));
  });

  test('(d) truncated last segments are caught by the duration check', async () => {
    const cheat = await mkdtemp(join(root, 'short-'));
    await cp(honest, cheat, { recursive: true });
    const path = join(cheat, '240p', 'index.m3u8');
    const lines = (await readFile(path, 'utf8')).split('\n');
    // Drop the last two segments (EXTINF + URI pairs) before #EXT-X-ENDLIST.
    const kept: string[] = [];
    let drop = 0;
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i]!;
      if (drop < 4 && (l.startsWith('#EXTINF') || (l && !l.startsWith('#')))) {
        drop++;
        continue;
      }
      kept.unshift(l);
    }
    await writeFile(path, kept.join('\n'));
    const report = await verify(cheat);
    assert.equal(report.ok, false);
    assert.match(report.checks.find((c) => !c.ok)?.detail ?? '', /duration/);
  });

  test('files that differ from the completion report are caught by the hashes', async () => {
    const declared = await hashFiles(honest);
    const first = [...declared.keys()].find((k) => k.endsWith('.ts'))!;
    declared.set(first, '0'.repeat(64));
    const report = await verifyStagedLadder({
      dir: honest,
      master: 'master.m3u8',
      declared,
      plan,
      source: info,
    });
    assert.equal(report.checks.find((c) => !c.ok)?.name, 'hashes');
  });

  test('a playlist listing a segment that was not uploaded fails the playlist check', async () => {
    const cheat = await mkdtemp(join(root, 'missing-'));
    await cp(honest, cheat, { recursive: true });
    const seg = (await readdir(join(cheat, '240p'))).find((f) => f.endsWith('.ts'))!;
    await rm(join(cheat, '240p', seg));
    const report = await verify(cheat);
    assert.equal(report.checks.find((c) => !c.ok)?.name, 'playlists');
  });
});
