import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { staticKeyAuthenticator } from '../../src/coordinator/plugins/auth.js';
import { createPresetStore } from '../../src/jobs/presets.js';
import { runCli } from '../cli/helpers.js';
import { buildTestApp } from '../helpers/api-app.js';
import { withTestDatabase } from '../helpers/db.js';

const ACME = 'presets-acme-key-0123456789abcdef';
const GLOBEX = 'presets-globex-key-0123456789abcdef';
const ADMIN = 'presets-admin-key-0123456789abcdef';

/** Issue #17: named, versioned ladder presets per tenant, referenced by jobs as `preset:<name>`. */
describe('ladder presets per tenant', () => {
  const tdb = withTestDatabase({ driver: 'pglite' });
  let app: FastifyInstance;
  let dir: string;
  const req = (key: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-presets-'));
    app = await buildTestApp(tdb.current.db, dir, {
      presets: createPresetStore(tdb.current.db),
      authenticators: [
        staticKeyAuthenticator(ACME, { id: 'api_key:acme', scopes: ['submit', 'read'], tenant: 'acme' }),
        staticKeyAuthenticator(GLOBEX, {
          id: 'api_key:globex',
          scopes: ['submit', 'read'],
          tenant: 'globex',
        }),
        staticKeyAuthenticator(ADMIN, { id: 'api_key:admin', scopes: ['admin'] }),
      ],
    });
  });
  after(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('PUT adds versions; GET lists built-ins and the latest; ?version reads an older one', async () => {
    const v1 = await req(ACME, 'PUT', '/api/v1/presets/av1-first', { codecs: ['av1', 'h264'] });
    assert.equal(v1.statusCode, 200, v1.body);
    assert.equal(v1.json().preset.version, 1);
    const v2 = await req(ACME, 'PUT', '/api/v1/presets/av1-first', { codecs: ['av1', 'h264'], dash: true });
    assert.equal(v2.json().preset.version, 2);
    const list = (await req(ACME, 'GET', '/api/v1/presets')).json().presets;
    assert.deepEqual(
      list.map((p: { ref: string; version: number }) => [p.ref, p.version]),
      [
        ['preset:default', 0],
        ['preset:3speak', 0],
        ['preset:av1-first', 2],
      ],
    );
    const old = await req(ACME, 'GET', '/api/v1/presets/av1-first?version=1');
    assert.deepEqual(old.json().preset.options, { codecs: ['av1', 'h264'] });
  });

  test('bad options, bad names and built-in names are refused with 400', async () => {
    const bad = await req(ACME, 'PUT', '/api/v1/presets/x', { codecs: ['hevc'], format: 'ts' });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.match(bad.body, /cannot carry hevc/);
    assert.equal((await req(ACME, 'PUT', '/api/v1/presets/Bad.Name', {})).statusCode, 400);
    assert.equal((await req(ACME, 'PUT', '/api/v1/presets/3speak', {})).statusCode, 400);
  });

  test('a job with ladder "preset:<name>" stores the tenant preset’s options; other tenants cannot use or see it', async () => {
    await req(ACME, 'PUT', '/api/v1/presets/small', {
      ladder: [{ name: '360p', height: 360, videoBitrate: 600_000, codec: 'vp9' }],
    });
    const job = await req(ACME, 'POST', '/api/v1/jobs', {
      source: { type: 'http', url: 'https://example.org/a.mp4' },
      ladder: 'preset:small',
    });
    assert.equal(job.statusCode, 202, job.body);
    assert.deepEqual(
      job.json().job.renditions.map((r: { name: string }) => r.name),
      ['360p'],
    );
    // The claim matches the preset's codec: only a VP9-capable encoder leases it, with the options.
    const enc = await req(ADMIN, 'POST', '/api/v1/encoders/register', {
      name: 'vp9',
      kind: 'infrastructure',
      version: '1',
      capabilities: {
        codecs: ['h264', 'vp9', 'aac'],
        hwaccel: [],
        maxHeight: 2160,
        concurrency: 1,
        tags: [],
      },
    });
    const claimed = await req(ADMIN, 'POST', '/api/v1/agent/claim', {
      encoderId: enc.json().encoder.id,
      waitMs: 0,
    });
    assert.equal(claimed.statusCode, 200, claimed.body);
    assert.deepEqual(claimed.json().job.spec.ladder.ladder[0].codec, 'vp9');

    const other = await req(GLOBEX, 'POST', '/api/v1/jobs', {
      source: { type: 'http', url: 'https://example.org/a.mp4' },
      ladder: 'preset:small',
    });
    assert.equal(other.statusCode, 400, other.body);
    assert.match(other.body, /unknown preset/);
    assert.equal((await req(GLOBEX, 'GET', '/api/v1/presets/small')).statusCode, 404);
    assert.equal((await req(GLOBEX, 'DELETE', '/api/v1/presets/small')).statusCode, 404);
  });

  test('DELETE removes every version; a pinned version reference preset:name@1 resolves while it exists', async () => {
    await req(ACME, 'PUT', '/api/v1/presets/pin', { segmentDuration: 2 });
    await req(ACME, 'PUT', '/api/v1/presets/pin', { segmentDuration: 6 });
    const pinned = await req(ACME, 'POST', '/api/v1/jobs', {
      source: { type: 'http', url: 'https://example.org/a.mp4' },
      ladder: 'preset:pin@1',
    });
    assert.equal(pinned.statusCode, 202, pinned.body);
    assert.equal((await req(ACME, 'DELETE', '/api/v1/presets/pin')).statusCode, 204);
    assert.equal((await req(ACME, 'GET', '/api/v1/presets/pin')).statusCode, 404);
    const gone = await req(ACME, 'POST', '/api/v1/jobs', {
      source: { type: 'http', url: 'https://example.org/a.mp4' },
      ladder: 'preset:pin',
    });
    assert.equal(gone.statusCode, 400);
  });

  test('vidmesh presets put/list/get/rm drive the same API', async () => {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const flags = ['--url', address, '--api-key', ACME];
    const cli = (...args: string[]) => runCli([...args, ...flags], { cwd: dir, env: { HOME: dir } });
    const put = await cli('presets', 'put', 'cli-made', '{"codecs":["hevc"]}');
    assert.equal(put.status, 0, put.stderr);
    assert.match(put.stdout, /preset:cli-made\s+v1\s+\{"codecs":\["hevc"\]\}/);
    assert.match(put.stdout, /--ladder preset:cli-made/);
    const list = await cli('presets', 'list', '--json');
    assert.ok(JSON.parse(list.stdout).presets.some((p: { ref: string }) => p.ref === 'preset:cli-made'));
    const bad = await cli('presets', 'put', 'cli-made', '{"codecs":["h266"]}');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /codecs/);
    assert.equal((await cli('presets', 'rm', 'cli-made')).status, 0);
    assert.notEqual((await cli('presets', 'get', 'cli-made')).status, 0);
  });
});
