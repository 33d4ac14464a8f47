import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../errors.js';
import { ladderFromFlags } from './client/submit.js';
import { ladderCodecFlags } from './encode.js';

test('--codecs, --dash and --storyboard become ladder options', () => {
  assert.deepEqual(ladderCodecFlags({ codecs: 'av1, h264', dash: true, storyboard: '5:160' }), {
    codecs: ['av1', 'h264'],
    dash: true,
    storyboard: { interval: 5, width: 160 },
  });
  assert.deepEqual(ladderCodecFlags({ storyboard: '2.5' }), { storyboard: { interval: 2.5 } });
  assert.deepEqual(ladderCodecFlags({}), {});
  assert.throws(() => ladderCodecFlags({ storyboard: '5x160' }), ValidationError);
});

test('submit --ladder preset:<name> is sent as the preset reference, alone', () => {
  assert.equal(ladderFromFlags({ ladder: 'preset:3speak' }), 'preset:3speak');
  assert.deepEqual(ladderFromFlags({ ladder: 'default', codecs: 'av1,h264' }), {
    codecs: ['av1', 'h264'],
    ladder: 'default',
  });
  assert.throws(
    () => ladderFromFlags({ ladder: 'preset:3speak', segment: '2' }),
    /takes no other ladder flags/,
  );
  assert.throws(
    () => ladderFromFlags({ ladder: 'preset:3speak', dash: true }),
    /takes no other ladder flags/,
  );
});
