import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../errors.js';
import { fakeProbe } from '../media/fake-probe.js';
import { planLadder } from '../media/index.js';
import { BUILTIN_PRESETS, resolvePresetRef } from './presets.js';
import { jobSpecSchema } from './spec.js';

test('resolvePresetRef: built-in presets resolve to a copy of their options; other values pass through', () => {
  assert.deepEqual(resolvePresetRef('preset:3speak'), BUILTIN_PRESETS['3speak']);
  assert.notEqual(resolvePresetRef('preset:3speak'), BUILTIN_PRESETS['3speak']);
  assert.deepEqual(resolvePresetRef('preset:default'), {});
  const custom = { codecs: ['av1'] };
  assert.equal(resolvePresetRef(custom), custom);
  assert.equal(resolvePresetRef(undefined), undefined);
  for (const bad of ['preset:nope', 'preset:', 'preset:../x', 'preset:__proto__', 'preset:constructor'])
    assert.throws(() => resolvePresetRef(bad), ValidationError, bad);
});

test('a job spec with ladder "preset:3speak" is stored with the options: 3Speak layout, medium, capped CRF 19', () => {
  const spec = jobSpecSchema.parse({
    source: { type: 'http', url: 'https://example.org/a.mp4' },
    ladder: 'preset:3speak',
  });
  assert.equal(spec.ladder?.layout, '3speak');
  const plan = planLadder(fakeProbe({}), spec.ladder);
  assert.equal(plan.speed, 'medium');
  assert.deepEqual(plan.rateControl, { mode: 'capped-crf', targetSsim: 0.99, analyze: false });
  assert.deepEqual(
    plan.renditions.map((r) => (r.kind === 'video' ? r.crf : 0)),
    [19, 19, 19],
  );
  const bad = jobSpecSchema.safeParse({
    source: { type: 'http', url: 'https://example.org/a.mp4' },
    ladder: 'preset:x',
  });
  assert.equal(bad.success, false);
  assert.match(
    bad.error!.issues[0]!.message,
    /unknown preset "preset:x": known presets are preset:default, preset:3speak/,
  );
  assert.deepEqual(bad.error!.issues[0]!.path, ['ladder']);
});
