import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';
import { packageRoot } from '../../src/paths.js';

const run = promisify(execFile);
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/** `vidmesh agent pair` and `vidmesh agent token` as processes against a real coordinator. */
describe('vidmesh agent CLI', () => {
  let tmp: string;
  let server: RunningCoordinator;
  let key: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'vidmesh-agent-cli-'));
    server = await startCoordinator(
      loadConfig({ flags: { port: 0, dataDir: join(tmp, 'coordinator'), encoders: 0, logLevel: 'silent' } }),
    );
    const created = await fetch(`${server.url}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes: ['submit', 'read'], tenant: 'acme', name: 'acme' }),
    });
    key = ((await created.json()) as { plaintext: string }).plaintext;
  });

  after(async () => {
    await server?.stop({ graceMs: 500 });
    await rm(tmp, { recursive: true, force: true });
  });

  const env = { ...process.env, ENCODER_PRIVATE_KEY: '', VIDMESH_URL: '', VIDMESH_API_KEY: '' };

  test('pair binds the agent DID to the user and prints the 0600 pairing token that `token` prints again', async () => {
    const dir = join(tmp, 'agent');
    const { stdout } = await run(
      process.execPath,
      [
        CLI,
        'agent',
        'pair',
        '--coordinator',
        server.url,
        '--api-key',
        key,
        '--user',
        'alice',
        '--data-dir',
        dir,
      ],
      { env },
    );
    const did = /^paired (did:key:z6Mk\S+) with alice$/m.exec(stdout)?.[1];
    assert.ok(did, stdout);
    const token = /pairing token \(paste it into the web app\): (\S+)$/m.exec(stdout)?.[1];
    assert.ok(token && token.length >= 40, stdout);
    assert.deepEqual(await server.store.getAgentBinding(did).then((b) => b && [b.tenant, b.user]), [
      'acme',
      'alice',
    ]);
    assert.equal((await stat(join(dir, 'agent-token'))).mode & 0o777, 0o600);
    const again = await run(process.execPath, [CLI, 'agent', 'token', '--data-dir', dir], { env });
    assert.equal(again.stdout.trim(), token);
  });

  test('without --user the agent exits 2 naming the flag', async () => {
    const err = await run(
      process.execPath,
      [CLI, 'agent', '--coordinator', server.url, '--data-dir', join(tmp, 'x')],
      {
        env,
      },
    ).catch((e: { code: number; stderr: string }) => e);
    assert.equal((err as { code: number }).code, 2);
    assert.match((err as { stderr: string }).stderr, /--user/);
  });
});
