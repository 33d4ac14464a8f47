import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { staticKeyAuthenticator } from '../../src/coordinator/plugins/auth.js';
import { buildTestApp } from '../helpers/api-app.js';
import { withTestDatabase } from '../helpers/db.js';

const KEY = 'codec-claims-admin-key-0123456789';
const H = { authorization: `Bearer ${KEY}` };
const CAPS = { hwaccel: [], maxHeight: 2160, concurrency: 1, tags: [] };

/** Issue #17: a job's ladder codecs become its required codecs; only an encoder advertising them claims it. */
describe('codec requirements at submit and claim', () => {
  const tdb = withTestDatabase({ driver: 'pglite' });
  let app: FastifyInstance;
  let dir: string;
  const post = (url: string, payload: unknown) =>
    app.inject({ method: 'POST', url, payload: payload as object, headers: H });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-codec-claims-'));
    app = await buildTestApp(tdb.current.db, dir, {
      authenticators: [staticKeyAuthenticator(KEY, { id: 'api_key:bootstrap', scopes: ['admin'] })],
    });
  });
  after(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const register = async (name: string, codecs: string[]): Promise<string> => {
    const res = await post('/api/v1/encoders/register', {
      name,
      kind: 'infrastructure',
      version: '1',
      capabilities: { ...CAPS, codecs },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().encoder.id;
  };

  test('an AV1 + H.264 ladder is claimed only by an encoder that advertises AV1', async () => {
    const submitted = await post('/api/v1/jobs', {
      source: { type: 'http', url: 'https://example.org/a.mp4' },
      ladder: { codecs: ['av1', 'h264'] },
    });
    assert.equal(submitted.statusCode, 202, submitted.body);
    const job = submitted.json().job;
    assert.deepEqual(job.renditions.map((r: { name: string }) => r.name).sort(), [
      '1080p',
      '1080p-av1',
      '480p',
      '480p-av1',
      '720p',
      '720p-av1',
    ]);

    const h264Only = await register('h264-only', ['h264', 'aac']);
    const none = await post('/api/v1/agent/claim', { encoderId: h264Only, waitMs: 0 });
    assert.equal(none.statusCode, 204, none.body);

    const av1 = await register('av1', ['h264', 'hevc', 'vp9', 'av1', 'aac']);
    const claimed = await post('/api/v1/agent/claim', { encoderId: av1, waitMs: 0 });
    assert.equal(claimed.statusCode, 200, claimed.body);
    assert.equal(claimed.json().job.id, job.id);
  });

  test('ladder "preset:3speak" is resolved at submit; an unknown preset is a 400 naming the known ones', async () => {
    const ok = await post('/api/v1/jobs', {
      source: { type: 'http', url: 'https://example.org/a.mp4' },
      ladder: 'preset:3speak',
    });
    assert.equal(ok.statusCode, 202, ok.body);
    // What the encoder leases is the spec with the preset's options, not the reference.
    const encoder = await register('preset-reader', ['h264', 'aac']);
    const claimed = await post('/api/v1/agent/claim', { encoderId: encoder, waitMs: 0 });
    assert.equal(claimed.statusCode, 200, claimed.body);
    assert.equal(claimed.json().job.id, ok.json().job.id);
    const ladder = claimed.json().job.spec.ladder;
    assert.deepEqual(
      [ladder.layout, ladder.speed, ladder.rateControl, ladder.crf],
      ['3speak', 'medium', 'capped-crf', 19],
    );
    const bad = await post('/api/v1/jobs', {
      source: { type: 'http', url: 'https://example.org/a.mp4' },
      ladder: 'preset:mine',
    });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.match(bad.body, /unknown preset \\"preset:mine\\"/);
  });

  test('refused at submit with field paths: HEVC in MPEG-TS, codecs with per-rendition codecs', async () => {
    const ts = await post('/api/v1/jobs', {
      source: { type: 'http', url: 'https://example.org/a.mp4' },
      ladder: { codecs: ['hevc'], format: 'ts' },
    });
    assert.equal(ts.statusCode, 400, ts.body);
    assert.match(ts.body, /format \\"ts\\" cannot carry hevc/);
    assert.ok(
      ts.json().errors.some((e: { path: string }) => e.path.includes('format')),
      ts.body,
    );
    const both = await post('/api/v1/jobs', {
      source: { type: 'http', url: 'https://example.org/a.mp4' },
      ladder: { codecs: ['h264'], ladder: [{ name: 'a', height: 480, videoBitrate: 500_000, codec: 'vp9' }] },
    });
    assert.equal(both.statusCode, 400, both.body);
    assert.match(both.body, /cannot be combined/);
  });
});
