import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { safeJoin, safeKey, UnsafePathError } from '../../src/storage/index.js';

const root = '/srv/media';

const good: Array<[string, string]> = [
  ['master.m3u8', join(root, 'master.m3u8')],
  ['720p/seg_001.ts', join(root, '720p/seg_001.ts')],
  ['a b/c%20d.ts', join(root, 'a b/c%20d.ts')],
  ['..foo/bar..', join(root, '..foo/bar..')],
];

const bad = [
  '',
  '..',
  '../etc/passwd',
  'a/../../b',
  'a/./b',
  './a',
  '/etc/passwd',
  'a//b',
  'a/',
  'a\\..\\b',
  '..\\x',
  'C:\\windows',
  'c:/x',
  'a\u0000b',
  'a\nb',
  '%2e%2e/x',
  '%2E%2E%2Fx',
  'a%2fb',
  'a%5cb',
  '%252e%252e/x',
  'a%00b',
  '%zz',
];

test('safeJoin keeps clean relative paths inside the root', () => {
  for (const [rel, want] of good) assert.equal(safeJoin(root, rel), want, rel);
});

test('safeJoin refuses traversal, absolute, NUL, backslash and encoded forms', () => {
  for (const rel of bad) {
    assert.throws(() => safeJoin(root, rel), UnsafePathError, JSON.stringify(rel));
  }
});

test('safeKey joins a normalised prefix and refuses the same bad inputs', () => {
  assert.equal(safeKey('', 'master.m3u8'), 'master.m3u8');
  assert.equal(safeKey('/videos/job1/', '720p/a.ts'), 'videos/job1/720p/a.ts');
  assert.equal(safeKey('videos', 'a.ts'), 'videos/a.ts');
  for (const rel of bad) assert.throws(() => safeKey('videos', rel), UnsafePathError, JSON.stringify(rel));
  assert.throws(() => safeKey('../up', 'a.ts'), UnsafePathError);
  assert.throws(() => safeKey('a/%2e%2e', 'a.ts'), UnsafePathError);
  try {
    safeKey('x', '../y');
  } catch (err) {
    assert.equal((err as UnsafePathError).code, 'unsafe_path');
    assert.equal((err as UnsafePathError).status, 400);
  }
});
