import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  CRF_RANGE,
  encodeLadder,
  type LadderPlan,
  type ProbeResult,
  planLadder,
  probe,
  renditionSsim,
} from '../../src/media/index.js';
import { makeClip } from '../helpers/media.js';
import { FAST } from './ladder-cases.js';

// Capped-CRF rate control on 4 s of the real 720p film clip: the analysis pass picks a CRF per
// rendition that meets the target SSIM on the whole encode, under the fixed ladder's caps.
let dir: string;
let source: ProbeResult;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-rc-'));
  source = await probe(await makeClip(join(dir, 'bbb4.mp4'), { seconds: 4 }));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const crfOf = (plan: LadderPlan): Array<number | undefined> =>
  plan.renditions.map((r) => (r.kind === 'video' ? r.crf : undefined));

test('capped CRF: the analysis picks a CRF per rendition that meets the target SSIM', async () => {
  const plan = planLadder(source, { ...FAST, rateControl: 'capped-crf', targetSsim: 0.985 });
  const result = await encodeLadder(plan, join(dir, 'crf'));
  const analysis = result.analysis;
  assert.ok(analysis, 'the analysis pass ran');
  assert.deepEqual(Object.keys(analysis.crf), ['720p', '480p']);
  assert.deepEqual(crfOf(result.plan), [analysis.crf['720p'], analysis.crf['480p']]);
  for (const [name, crf] of Object.entries(analysis.crf)) {
    assert.ok(crf >= CRF_RANGE.min && crf <= CRF_RANGE.max, `${name} CRF ${crf}`);
    assert.ok(
      analysis.points[name]!.every((p) => p.ssim > 0.9 && p.ssim < 1),
      `${name}: SSIM measured`,
    );
  }
  for (const r of result.renditions) {
    const ssim = await renditionSsim(
      plan,
      join(result.outDir, r.playlist),
      r as { width: number; height: number },
    );
    // The target is met on the whole title within the sampling error of 0.5 s of samples.
    assert.ok(ssim >= 0.985 - 0.004, `${r.name} SSIM ${ssim} vs target 0.985`);
  }
});

test('a fixed CRF skips the analysis; cbr keeps the target bitrate', async () => {
  const fixed = await encodeLadder(
    planLadder(source, { ...FAST, rateControl: 'capped-crf', crf: 30, only: ['480p'] }),
    join(dir, 'fixed'),
  );
  assert.equal(fixed.analysis, undefined);
  assert.deepEqual(crfOf(fixed.plan), [30, 30]);
  const cbr = await encodeLadder(
    planLadder(source, { ...FAST, rateControl: 'cbr', only: ['480p'] }),
    join(dir, 'cbr'),
  );
  assert.equal(cbr.analysis, undefined);
  assert.deepEqual(crfOf(cbr.plan), [undefined, undefined]);
  // CRF 30 on film at 480p needs far fewer bits than the fixed 1 Mb/s target.
  assert.ok(fixed.renditions[0]!.bytes < cbr.renditions[0]!.bytes);
});
