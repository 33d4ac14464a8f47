import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { followBar } from '../../src/cli/client/common.js';
import type { JobView } from '../../src/coordinator/schemas.js';
import { CLI_MAIN, runCli } from './helpers.js';

/**
 * `submit --wait` / `jobs get --follow` against a stand-in coordinator (issue 21): the end table, JSON
 * lines with `--json`, the upload's file name as the job's title, and Ctrl-C leaving the job running.
 */

const jobView = (over: Record<string, unknown> = {}) => ({
  id: 'job_1',
  status: 'running',
  stage: 'encoding',
  progress: 40,
  etaS: 12,
  queue: 'default',
  priority: 'medium',
  network: 'private',
  attempts: 1,
  maxAttempts: 3,
  encoderId: 'enc_1',
  metadata: {},
  source: { type: 'upload' },
  destination: { type: 'local' },
  renditions: [{ name: '720p', status: 'running', progress: 40 }],
  result: null,
  error: null,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  finishedAt: null,
  links: { self: '/x', events: '/x/events', logs: '/x/logs' },
  ...over,
});

const done = jobView({
  status: 'completed',
  stage: null,
  progress: 100,
  etaS: null,
  result: {
    masterUrl: 'http://example.test/media/job_1/master.m3u8',
    renditions: [
      {
        name: '720p',
        width: 1280,
        height: 720,
        bytes: 2_500_000,
        averageBandwidth: 2_000_000,
        bandwidth: 2_600_000,
        durationS: 10,
        codecs: 'avc1.64001f,mp4a.40.2',
      },
    ],
    encode: { backend: 'software', wallS: 5, speed: 2, fallbacks: [] },
  },
});

describe('cli follow', () => {
  let url = '';
  let dir = '';
  let endStream = true;
  const specs: Array<{ metadata?: Record<string, string> }> = [];
  const sse = (res: ServerResponse, event: string, data: unknown) =>
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url?.startsWith('/api/v1/uploads')) {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ source: { type: 'upload', id: 'up_1' }, bytes: 4 }));
      } else if (req.method === 'POST' && req.url === '/api/v1/jobs') {
        specs.push(JSON.parse(Buffer.concat(chunks).toString()));
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ job: jobView({ status: 'queued', stage: null, progress: 0 }) }));
      } else if (req.url === '/api/v1/jobs/job_1/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        sse(res, 'snapshot', { job: jobView() });
        if (endStream) {
          sse(res, 'end', { job: done });
          res.end();
        }
      } else {
        res.writeHead(404).end();
      }
    });
  });
  const cli = (args: string[]) =>
    runCli([...args, '--url', url, '--api-key', 'vmk_x_0123456789abcdef'], { cwd: dir });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-follow-'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('submit --wait ends with the rendition table and the master URL; the file name is the title', async () => {
    await writeFile(join(dir, 'My Holiday.mp4'), 'fake');
    const r = await cli(['submit', 'My Holiday.mp4', '--wait']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /rendition\s+resolution\s+size\s+avg bitrate\s+peak bitrate/);
    assert.match(r.stdout, /720p\s+1280x720\s+2\.50 MB\s+2000 kb\/s\s+2600 kb\/s/);
    assert.match(r.stdout, /master: http:\/\/example\.test\/media\/job_1\/master\.m3u8/);
    assert.match(r.stdout, /2\.00x realtime/);
    assert.equal(specs.at(-1)?.metadata?.title, 'My Holiday.mp4');
  });

  test('the --wait progress line shows stage, fps, × realtime and ETA while running, none after', () => {
    const running = followBar(
      jobView({ stage: 'encoding', progress: 42, etaS: 7, speed: 2.5, fps: 62.4 }) as JobView,
    );
    assert.match(running, /42\.0%\s+encoding\s+62 fps\s+2\.50x\s+ETA 7s/);
    const completed = followBar(done as JobView);
    assert.doesNotMatch(completed, /fps|\dx /);
    assert.match(completed, /100\.0%\s+completed\s+ETA --/);
  });

  test('--json --follow streams one JSON object per line, ending with the final job', async () => {
    const r = await cli(['jobs', 'get', 'job_1', '--follow', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; job: { status: string } });
    assert.deepEqual(
      lines.map((l) => l.type),
      ['snapshot', 'end'],
    );
    assert.equal(lines.at(-1)?.job.status, 'completed');
    const s = await cli(['submit', 'https://example.test/a.mp4', '--wait', '--json']);
    assert.deepEqual(
      s.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { type: string }).type),
      ['submitted', 'snapshot', 'end'],
    );
  });

  test('Ctrl-C during --wait says the job keeps running and how to follow or cancel it (exit 130)', async () => {
    endStream = false;
    const child = spawn(
      process.execPath,
      [CLI_MAIN, 'jobs', 'get', 'job_1', '--follow', '--url', url, '--api-key', 'vmk_x_0123456789abcdef'],
      {
        cwd: dir,
      },
    );
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      // The first event arrived: the command is following; interrupt it as a terminal would.
      if (!interrupted && stderr.includes('encoding')) interrupted = child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 130, stderr);
    assert.match(stderr, new RegExp(`job job_1 keeps running on ${url}`));
    assert.match(stderr, /vidmesh jobs get job_1 --follow/);
    assert.match(stderr, /vidmesh jobs cancel job_1/);
  });
});
