import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { startCoordinator } from '../../src/coordinator/serve.js';

/** `vidmesh serve` with VIDMESH_VERIFY=off warns at startup that priced (market) jobs are refused. */
test('serve with VIDMESH_VERIFY=off logs a startup warning that priced jobs are refused; with verification on it does not', async () => {
  const root = await mkdtemp(join(tmpdir(), 'vidmesh-verify-off-'));
  try {
    const warnings = async (verify: string) => {
      const lines: Array<{ level: number; msg: string }> = [];
      const sink = new Writable({
        write(chunk, _enc, done) {
          for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
          done();
        },
      });
      const coordinator = await startCoordinator(
        loadConfig({
          flags: { port: 0, host: '127.0.0.1', dataDir: join(root, verify), encoders: 0, verify },
          env: {},
        }),
        { log: pino({ level: 'warn' }, sink) },
      );
      await coordinator.stop();
      return lines.filter((l) => l.level === 40 && l.msg.includes('priced (market) jobs are refused'));
    };
    const off = await warnings('off');
    assert.equal(off.length, 1, 'one startup warning');
    assert.match(off[0]!.msg, /VIDMESH_VERIFY=off/);
    assert.deepEqual(await warnings('on'), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
