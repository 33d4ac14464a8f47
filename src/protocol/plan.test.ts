import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeProbe } from '../media/fake-probe.js';
import { planLadder } from '../media/index.js';
import { encodePlanOf } from './plan.js';
import { encodePlanSchema } from './wire.js';

test('encodePlanOf: the renditions this run encodes, with the sizes, rates and GOP the verifier checks', () => {
  const cases = [
    {
      name: '720p source, 480p only, fMP4',
      probe: fakeProbe(
        { width: 1280, height: 720, fps: 24, frameRate: { num: 24, den: 1 } },
        { durationS: 30 },
      ),
      ladder: { only: ['480p'], format: 'fmp4' as const },
      want: { names: ['480p'], size: [854, 480], fps: 24, gop: 96, format: 'fmp4', audio: true },
    },
    {
      name: '1080p source, default ladder: every rendition, TS',
      probe: fakeProbe(
        { width: 1920, height: 1080, fps: 25, frameRate: { num: 25, den: 1 } },
        { durationS: 60 },
      ),
      ladder: {},
      want: {
        names: ['1080p', '720p', '480p'],
        size: [1920, 1080],
        fps: 25,
        gop: 100,
        format: 'ts',
        audio: true,
      },
    },
    {
      name: 'no audio stream: no audio in the plan',
      probe: fakeProbe({ width: 1280, height: 720, fps: 30 }, { durationS: 10, audio: [] }),
      ladder: { only: ['480p'] },
      want: { names: ['480p'], size: [854, 480], fps: 30, gop: 120, format: 'ts', audio: false },
    },
  ];
  for (const c of cases) {
    const plan = encodePlanOf(planLadder(c.probe, c.ladder));
    assert.ok(plan, c.name);
    assert.ok(encodePlanSchema.safeParse(plan).success, `${c.name}: valid on the wire`);
    assert.deepEqual(
      plan.renditions.map((r) => r.name),
      c.want.names,
      c.name,
    );
    assert.deepEqual([plan.renditions[0]?.width, plan.renditions[0]?.height], c.want.size, c.name);
    assert.equal(plan.fps, c.want.fps, c.name);
    assert.equal(plan.gopFrames, c.want.gop, c.name);
    assert.equal(plan.segmentDurationS, 4, c.name);
    assert.equal(plan.format, c.want.format, c.name);
    assert.equal(plan.audio !== undefined, c.want.audio, c.name);
  }
  assert.equal(
    encodePlanOf(planLadder(fakeProbe(undefined, { kind: 'audio', durationS: 10 }), {})),
    undefined,
  );
});
