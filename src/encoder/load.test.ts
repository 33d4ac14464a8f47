import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encoderLoadSchema, heartbeatRequestSchema } from '../protocol/wire.js';
import { createGpuSampler, parseGpuUtilisation, sampleHostReport } from './load.js';

test('parseGpuUtilisation reads one percentage per GPU line and skips the rest', () => {
  const cases: Array<[string, number[]]> = [
    ['37\n', [37]],
    ['12\n98\n', [12, 98]],
    ['5 %\n', [5]],
    ['[N/A]\n', []],
    ['NVIDIA-SMI has failed\n', []],
    ['', []],
  ];
  for (const [csv, want] of cases) assert.deepEqual(parseGpuUtilisation(csv), want, JSON.stringify(csv));
});

test('a GPU sampler without nvidia-smi answers undefined and stops trying', async () => {
  const gpu = createGpuSampler('/nonexistent/nvidia-smi');
  assert.equal(await gpu(), undefined);
  assert.equal(await gpu(), undefined);
});

test('the host report fits the heartbeat wire schema: fractions 0..1 and a host name', async () => {
  const report = await sampleHostReport(async () => 0.5);
  assert.equal(report.load.gpu, 0.5);
  encoderLoadSchema.parse(report.load);
  heartbeatRequestSchema.parse({ encoderId: 'enc-1', ...report });
  for (const x of [report.load.cpu, report.load.memory]) assert.ok(x >= 0 && x <= 1, String(x));
  assert.throws(() => heartbeatRequestSchema.parse({ encoderId: 'enc-1', host: '<script>' }));
  assert.throws(() => encoderLoadSchema.parse({ ...report.load, cpu: 1.5 }));
});
