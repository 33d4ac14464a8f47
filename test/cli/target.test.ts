import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, sendUnauthorized } from './helpers.js';

/**
 * Every CLI client error names the coordinator URL it used and where that URL came from (issue 21): a
 * command run from another folder must not silently talk to another server.
 */
const cli = (args: string[], env: Record<string, string>, cwd: string) => runCli(args, { cwd, env });

test('client errors name the coordinator URL and its origin (env, client.json, default)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-target-'));
  // A server that answers every request 401, as a coordinator does to a missing key.
  const server = createServer((_req, res) => sendUnauthorized(res, 'missing Authorization'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const viaEnv = await cli(['jobs', 'list'], { VIDMESH_URL: url }, dir);
    assert.notEqual(viaEnv.status, 0);
    assert.match(
      viaEnv.stderr,
      new RegExp(`missing Authorization \\(coordinator ${url} from VIDMESH_URL\\)`),
    );

    await writeFile(join(dir, 'client.json'), JSON.stringify({ url, apiKey: 'vmk_x_0123456789abcdef' }));
    const viaFile = await cli(['jobs', 'list', '--data-dir', dir], {}, dir);
    assert.match(viaFile.stderr, new RegExp(`coordinator ${url} from ${join(dir, 'client.json')}`));

    const unreachable = await cli(['jobs', 'list', '--data-dir', join(dir, 'none')], {}, dir);
    assert.match(unreachable.stderr, /coordinator http:\/\/127\.0\.0\.1:8080 from the default/);
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
