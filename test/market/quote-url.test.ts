import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { RunningCoordinator } from '../../src/coordinator/serve.js';
import { createMarket } from '../../src/market/index.js';
import { packageRoot } from '../../src/paths.js';
import { createTenantKey, startTestCoordinator } from '../helpers/coordinator.js';
import { makeClip } from '../helpers/media.js';
import { boundEncoder } from './helpers.js';

const run = promisify(execFile);
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/**
 * Quotes for an http(s) source (`POST /api/v1/community/quote` with `source`, `vidmesh submit URL
 * --quote`): the coordinator fetches the source through storage's SSRF guard (here 127.0.0.1 is
 * allowlisted, as an operator's closed network would be), probes it and prices it like a probed upload;
 * a private address not allowlisted, a missing file and a non-media file are 4xx problems.
 */
describe('quotes for a URL source', () => {
  let root: string;
  let coordinator: RunningCoordinator;
  let files: Server;
  let base = '';
  let key = '';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vidmesh-quote-url-'));
    const clip = await makeClip(join(root, 'clip.mp4'), { seconds: 3 });
    const size = (await stat(clip)).size;
    files = createServer((req, res) => {
      if (req.url === '/clip.mp4') {
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': size });
        createReadStream(clip).pipe(res);
      } else if (req.url === '/notes.txt') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('not a video at all\n'.repeat(50));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    coordinator = await startTestCoordinator(join(root, 'coordinator'), { ssrfAllow: '127.0.0.1' });
    key = await createTenantKey(coordinator, 'acme');
    const market = createMarket({ db: coordinator.db, jobs: coordinator.store });
    await boundEncoder(coordinator.store, market, 'enc-url-offer', { prices: { sd: 600 } });
  });
  after(async () => {
    await coordinator?.stop({ graceMs: 0 });
    await new Promise((r) => files?.close(r));
    await rm(root, { recursive: true, force: true });
  });

  const quote = async (body: unknown) => {
    const r = await fetch(`${coordinator.url}/api/v1/community/quote`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const ladder = [
    { name: '360p', height: 360, videoBitrate: 600_000 },
    { name: '240p', height: 240, videoBitrate: 300_000 },
  ];

  test('a URL source is fetched, probed and priced like the same duration and ladder', async () => {
    const r = await quote({ source: { type: 'http', url: `${base}/clip.mp4` }, ladder: { ladder } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.heights, [360, 240]);
    const durationS = r.body.durationS as number;
    assert.ok(durationS > 2.5 && durationS < 3.5, `probed duration ${durationS}`);
    const same = await quote({ durationS, heights: [360, 240] });
    assert.deepEqual(r.body.quotes, same.body.quotes);
    // 2 SD renditions × 0.600 HBD per minute × ~3 s, rounded up to a milli-HBD.
    const expected = Math.ceil((1200 * durationS) / 60);
    assert.deepEqual(r.body.quotes, [
      { encoderId: 'enc-url-offer', price: `0.${String(expected).padStart(3, '0')}` },
    ]);
    assert.equal((await coordinator.store.list()).jobs.length, 0, 'nothing submitted');

    const env = { ...process.env, VIDMESH_URL: coordinator.url, VIDMESH_API_KEY: key, VIDMESH_PROFILE: '' };
    const { stdout } = await run(
      'node',
      [CLI, 'submit', `${base}/clip.mp4`, '--quote', '--ladder', JSON.stringify(ladder), '--json'],
      { env, cwd: root },
    );
    const cli = JSON.parse(stdout) as { quotes: unknown; durationS: number };
    assert.deepEqual(cli.quotes, r.body.quotes, 'vidmesh submit URL --quote asks the coordinator');
  });

  test('a private address, a missing file, a non-media file and a non-http source are refused with 4xx problems', async () => {
    const cases: Array<[string, unknown, number]> = [
      [
        'private address not allowlisted',
        { source: { type: 'http', url: 'http://10.255.255.1/v.mp4' } },
        400,
      ],
      ['metadata address', { source: { type: 'http', url: 'http://169.254.169.254/latest' } }, 400],
      ['missing file', { source: { type: 'http', url: `${base}/nope.mp4` } }, 422],
      ['not media', { source: { type: 'http', url: `${base}/notes.txt` } }, 422],
      ['not http', { source: { type: 'file', path: '/etc/passwd' } }, 400],
      [
        'both forms at once',
        { durationS: 3, heights: [240], source: { type: 'http', url: `${base}/clip.mp4` } },
        400,
      ],
    ];
    for (const [name, body, status] of cases) {
      const r = await quote(body);
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(typeof r.body.code, 'string', name);
    }
  });
});
