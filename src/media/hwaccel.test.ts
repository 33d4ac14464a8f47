import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HwaccelUnavailableError } from './errors.js';
import { detectHwaccel, failureReason, reportFor } from './hwaccel.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vidmesh-hwaccel-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// This machine has no GPU: detection must really try each device and say why it failed.
const hasGpu = existsSync('/dev/nvidia0') || existsSync('/dev/dri/renderD128');

test('detection tries NVENC → VAAPI → QSV → libx264 and caches the result', {
  skip: hasGpu && 'GPU present',
}, async () => {
  const report = await detectHwaccel({ cacheDir: dir });
  assert.equal(report.chosen, 'libx264');
  assert.deepEqual(report.order, ['libx264']);
  assert.deepEqual(
    report.candidates.map((c) => c.backend),
    ['nvenc', 'vaapi', 'qsv', 'libx264'],
  );
  for (const c of report.candidates.slice(0, 3)) {
    assert.equal(c.ok, false);
    assert.ok(c.reason && c.reason.length > 10, `${c.backend} has a reason: ${c.reason}`);
  }
  assert.match(report.candidates[0]!.reason!, /cuda/i);
  assert.match(report.candidates[1]!.reason!, /renderD128|VA/);
  assert.equal(report.candidates[3]!.ok, true);
  assert.equal(report.cached, false);
  assert.match(report.ffmpegVersion, /^ffmpeg version/);

  const cache = JSON.parse(await readFile(join(dir, 'hwaccel.json'), 'utf8')) as { deviceKey: string };
  assert.equal(cache.deviceKey, report.deviceKey);
  const again = await detectHwaccel({ cacheDir: dir });
  assert.equal(again.cached, true);
  assert.deepEqual(again.candidates, report.candidates);

  const none = await detectHwaccel({ cacheDir: dir, mode: 'none' });
  assert.equal(none.chosen, 'libx264');
  assert.match(none.candidates[0]!.reason!, /not tried/);
  await assert.rejects(
    detectHwaccel({ cacheDir: dir, mode: 'nvenc' }),
    (e) => e instanceof HwaccelUnavailableError && /cuda/i.test(e.message),
  );
});

test('reportFor keeps working hardware first and libx264 last', () => {
  const meta = { ffmpegVersion: 'v', deviceKey: 'k', cached: false, detectedAt: '' };
  const tested = [
    { backend: 'nvenc' as const, ok: false, reason: 'no', ms: 1 },
    { backend: 'vaapi' as const, ok: true, ms: 1 },
    { backend: 'qsv' as const, ok: true, ms: 1 },
    { backend: 'libx264' as const, ok: true, ms: 1 },
  ];
  assert.deepEqual(reportFor('auto', tested, meta).order, ['vaapi', 'qsv', 'libx264']);
  assert.deepEqual(reportFor('qsv', tested, meta).order, ['qsv', 'libx264']);
  assert.deepEqual(reportFor('none', tested, meta).order, ['libx264']);
  assert.throws(() => reportFor('nvenc', tested, meta), HwaccelUnavailableError);
});

test('failureReason keeps the device layer cause', () => {
  const stderr = [
    '[AVHWDeviceContext @ 0x55f4f078d900] Cannot load libcuda.so.1',
    '[AVHWDeviceContext @ 0x55f4f078d900] Could not dynamically load CUDA',
    'Device creation failed: -1.',
  ].join('\n');
  assert.equal(
    failureReason(stderr),
    'Cannot load libcuda.so.1; Could not dynamically load CUDA; Device creation failed: -1.',
  );
});
