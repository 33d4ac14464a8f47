import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, sendUnauthorized } from './helpers.js';

/** `vidmesh login` saves a checked coordinator + key per profile (0600) that client commands use (issue 21). */
const KEY = 'vmk_good_0123456789abcdef';

test('login checks the key, saves the profile 0600, and client commands use it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-login-'));
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.headers.authorization !== `Bearer ${KEY}`) return sendUnauthorized(res, 'unknown key');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jobs: [], nextCursor: null }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  // No client.json in the folder, no VIDMESH_URL: only the profile can name the coordinator.
  const cli = (args: string[]) => runCli(args, { cwd: dir, env: { XDG_CONFIG_HOME: dir } });
  const path = join(dir, 'vidmesh', 'profiles.json');
  try {
    const bad = await cli(['login', url, '--api-key', 'vmk_bad_0123456789abcdef']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, new RegExp(`unknown key \\(coordinator ${url} from the login command\\)`));
    await assert.rejects(stat(path), 'a refused key is not saved');

    const ok = await cli(['login', url, '--api-key', KEY]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /as profile default/);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), {
      profiles: { default: { url, apiKey: KEY } },
    });

    seen.length = 0;
    const list = await cli(['jobs', 'list']);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /no jobs/);
    assert.deepEqual(seen, ['GET /api/v1/jobs?limit=20']);

    const missing = await cli(['jobs', 'list', '--profile', 'staging']);
    assert.equal(missing.status, 2);
    assert.match(
      missing.stderr,
      /no profile staging in .*profiles\.json: run vidmesh login URL --profile staging/,
    );
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
