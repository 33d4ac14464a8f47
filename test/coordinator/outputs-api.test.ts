import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { staticKeyAuthenticator } from '../../src/coordinator/plugins/auth.js';
import { openSpecSecrets } from '../../src/coordinator/spec-secrets.js';
import { createSecretBox } from '../../src/identity/secrets.js';
import { buildTestApp } from '../helpers/api-app.js';
import { withTestDatabase } from '../helpers/db.js';

const KEY = 'outputs-api-key-0123456789abcdef';
const SECRET = 'very-secret-output-key';

/**
 * Job specs with `outputs` at `POST /api/v1/jobs` (issue 18): hostile and malformed outputs are 400
 * problems naming the field, never a stored job; an output's destination credentials are sealed at rest
 * (bound to the output's name) and never echoed; the job view lists each output as `pending`.
 */
describe('job outputs at the API', () => {
  const tdb = withTestDatabase({ driver: 'pglite' });
  const box = createSecretBox(randomBytes(32));
  let app: FastifyInstance;
  let dir: string;
  const submit = (spec: unknown) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/jobs',
      headers: { authorization: `Bearer ${KEY}` },
      payload: spec as object,
    });
  const source = { type: 'http', url: 'https://media.example.com/in.mp4' };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vidmesh-outputs-api-'));
    app = await buildTestApp(tdb.current.db, dir, {
      authenticators: [staticKeyAuthenticator(KEY, { id: 'api_key:t', scopes: ['submit', 'read'] })],
      refusePrivateUrls: true,
      secretBox: box,
    });
  });
  after(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const refused: Array<[string, unknown, number, RegExp]> = [
    [
      'a destination at the metadata address',
      [{ name: 'a', kind: 'mp4', destination: { type: 'http', baseUrl: 'http://169.254.169.254/x/' } }],
      400,
      /outputs\.0\.destination\.baseUrl/,
    ],
    ['a traversal name', [{ name: '../a', kind: 'mp4' }], 400, /name/],
    [
      'a traversal file name',
      [{ name: 'a', kind: 'mp4', fileName: '../../etc/passwd.mp4' }],
      400,
      /fileName/,
    ],
    [
      'repeated names',
      [
        { name: 'a', kind: 'mp4' },
        { name: 'A', kind: 'webm' },
      ],
      400,
      /repeats/,
    ],
    [
      'an ffmpeg option smuggled as a codec',
      [{ name: 'a', kind: 'mp4', videoCodec: 'h264 -i /etc/passwd' }],
      400,
      /videoCodec/,
    ],
    ['a CRF beyond the codec', [{ name: 'a', kind: 'mp4', crf: 60 }], 400, /crf/],
    [
      'nine outputs',
      Array.from({ length: 9 }, (_, i) => ({ name: `o${i}`, kind: 'poster' })),
      400,
      /outputs/,
    ],
    [
      'a traversal local prefix',
      [{ name: 'a', kind: 'mp4', destination: { type: 'local', prefix: '../x' } }],
      400,
      /unsafe_path/,
    ],
  ];
  for (const [what, outputs, status, field] of refused) {
    test(`refused: ${what}`, async () => {
      const res = await submit({ source, outputs });
      assert.equal(res.statusCode, status, res.body);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.match(res.body, field);
    });
  }

  test('community jobs with outputs are accepted (staged, verified per output, published by the coordinator)', async () => {
    const res = await submit({ source, network: 'community', outputs: [{ name: 'a', kind: 'mp4' }] });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal((JSON.parse(res.body) as { job: { network?: string } }).job.network, 'community');
  });

  test("an output's credentials are sealed at rest, opened for the lease holder, never echoed", async () => {
    const res = await submit({
      source,
      outputs: [
        { name: 'hls', kind: 'hls' },
        {
          name: 'mp4',
          kind: 'mp4',
          height: 720,
          destination: {
            type: 's3',
            bucket: 'out-bucket',
            credentials: { accessKeyId: 'AKOUT', secretAccessKey: SECRET },
          },
        },
      ],
    });
    assert.equal(res.statusCode, 202, res.body);
    assert.ok(!res.body.includes(SECRET));
    const job = res.json().job as {
      id: string;
      outputs: Array<{ name: string; kind: string; status: string }>;
    };
    assert.deepEqual(
      job.outputs.map((o) => [o.name, o.kind, o.status]),
      [
        ['hls', 'hls', 'pending'],
        ['mp4', 'mp4', 'pending'],
      ],
    );
    const { rows } = await tdb.current.db.query<{ spec: Record<string, unknown> }>(
      'SELECT spec FROM jobs WHERE id = $1',
      [job.id],
    );
    const stored = rows[0]!.spec;
    assert.ok(!JSON.stringify(stored).includes(SECRET), 'sealed in the database');
    const opened = openSpecSecrets(box, stored) as {
      outputs: Array<{ destination?: { credentials?: { secretAccessKey: string } } }>;
    };
    assert.equal(opened.outputs[1]?.destination?.credentials?.secretAccessKey, SECRET);
    // Bound to the output's name: moved to another output, the value does not open.
    const moved = structuredClone(stored) as { outputs: Array<Record<string, unknown>> };
    moved.outputs[1]!.name = 'other';
    assert.throws(() => openSpecSecrets(box, moved));
    const got = await app.inject({
      method: 'GET',
      url: `/api/v1/jobs/${job.id}`,
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.ok(!got.body.includes(SECRET));
    assert.ok(!got.body.includes('AKOUT'));
  });
});
