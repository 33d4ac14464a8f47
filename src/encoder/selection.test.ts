import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResultRendition } from '../protocol/result.js';
import { selectRenditions } from './selection.js';

const stored = (name: string, height: number): ResultRendition => ({
  name,
  kind: 'video',
  width: Math.round((height * 16) / 9),
  height,
  bandwidth: height * 5000,
  averageBandwidth: height * 4000,
  codecs: 'avc1.64001f,mp4a.40.2',
  frameRate: 24,
  durationS: 10,
  bytes: 1000,
  segments: 3,
  playlist: `${name}/index.m3u8`,
});
const base = {
  planned: ['720p', '480p'],
  asked: ['1080p', '720p', '480p'],
  kept: [stored('480p', 480), stored('720p', 720)],
  patchable: true,
};

describe('selectRenditions', () => {
  it('a first run encodes the whole plan and skips what the source does not allow', () => {
    const s = selectRenditions({ ...base, requested: [], kept: [] });
    assert.deepEqual(s, { only: undefined, keep: [], skipped: ['1080p'], notes: [] });
  });

  it('a per-rendition retry encodes the requested name and keeps the others for the master', () => {
    const s = selectRenditions({ ...base, requested: ['720p'] });
    assert.deepEqual(s.only, ['720p']);
    assert.deepEqual(
      s.keep.map((k) => [k.name, k.playlist, k.bandwidth]),
      [['480p', '480p/index.m3u8', 2_400_000]],
    );
    assert.deepEqual(s.skipped, ['1080p']);
  });

  it('never upscales: a requested name above the source is skipped, not encoded', () => {
    const s = selectRenditions({ ...base, requested: ['1080p', '480p'] });
    assert.deepEqual(s.only, ['480p']);
    assert.deepEqual(s.skipped, ['1080p']);
    const none = selectRenditions({ ...base, requested: ['1080p'] });
    assert.equal(none.only, undefined, 'nothing requested fits: the whole plan');
    assert.match(none.notes[0] ?? '', /none of 1080p fits/);
  });

  it('a kept rendition without a usable stored result is encoded again', () => {
    const s = selectRenditions({ ...base, requested: ['720p'], kept: [{ name: '480p' }] });
    assert.equal(s.only, undefined, '720p and 480p: the whole plan');
    assert.match(s.notes[0] ?? '', /no stored result for 480p/);
  });

  it('a destination that cannot take part of a ladder (ipfs) gets all of it', () => {
    const s = selectRenditions({ ...base, requested: ['720p'], patchable: false });
    assert.equal(s.only, undefined);
    assert.deepEqual(s.keep, []);
  });
});
