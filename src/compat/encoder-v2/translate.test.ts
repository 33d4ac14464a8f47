import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jobSpecSchema } from '../../jobs/spec.js';
import { translateRequest, V2TranslationError, v2JobRequestSchema, v2Status } from './translate.js';

const parse = (body: unknown) => translateRequest(v2JobRequestSchema.parse(body));
const s3 = { kind: 's3', bucket: 'my-bucket', region: 'us-east-1' };

describe('Encoder v2 request translation', () => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    [
      'S3 destination path: prefix + file name, ACL and payload credentials',
      {
        container: 'mp4',
        videoCodec: 'libx264',
        videoBitrate: '2500k',
        audioBitrate: '128k',
        width: 1280,
        height: 720,
        destination: {
          ...s3,
          path: 'processed/output/video_720p.mp4',
          acl: 'public-read',
          access_key_id: 'AK',
          access_key_secret: 'SK',
        },
      },
      {
        name: 'o1',
        kind: 'mp4',
        videoCodec: 'h264',
        videoBitrate: 2_500_000,
        audioBitrate: 128_000,
        width: 1280,
        height: 720,
        fileName: 'video_720p.mp4',
        destination: {
          type: 's3',
          bucket: 'my-bucket',
          region: 'us-east-1',
          prefix: 'processed/output',
          acl: 'public-read',
          credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
        },
      },
    ],
    [
      'S3 without credentials: the SDK default chain (no credentials field)',
      { container: 'webm', videoCodec: 'vp9', destination: { ...s3, path: 'a.webm' } },
      {
        name: 'o1',
        kind: 'webm',
        videoCodec: 'vp9',
        fileName: 'a.webm',
        destination: { type: 's3', bucket: 'my-bucket', region: 'us-east-1', prefix: '' },
      },
    ],
    [
      'FTP URL: user, password and folder from the URL',
      {
        container: 'webm',
        destination: { kind: 'ftp', url: 'ftp://u:p%40ss@ftp.example.com:2121/out/v.webm' },
      },
      {
        name: 'o1',
        kind: 'webm',
        fileName: 'v.webm',
        destination: {
          type: 'ftp',
          host: 'ftp.example.com',
          port: 2121,
          user: 'u',
          password: 'p@ss',
          dir: '/out',
        },
      },
    ],
    [
      'HTTP POST URL: folder as base URL',
      {
        container: 'mp3',
        audioBitrate: '96k',
        destination: { kind: 'http', url: 'https://x.example/up/a.mp3', method: 'POST' },
      },
      {
        name: 'o1',
        kind: 'audio',
        format: 'mp3',
        audioBitrate: 96_000,
        fileName: 'a.mp3',
        destination: { type: 'http', baseUrl: 'https://x.example/up/', method: 'POST' },
      },
    ],
    [
      'S3 contentType: kept on the destination (with parameters)',
      {
        container: 'mp4',
        destination: { ...s3, path: 'v/a.mp4', contentType: 'video/mp4; codecs="avc1.64001f,mp4a.40.2"' },
      },
      {
        name: 'o1',
        kind: 'mp4',
        fileName: 'a.mp4',
        destination: {
          type: 's3',
          bucket: 'my-bucket',
          region: 'us-east-1',
          prefix: 'v',
          contentType: 'video/mp4; codecs="avc1.64001f,mp4a.40.2"',
        },
      },
    ],
    [
      'HLS: the path is a folder',
      { container: 'hls', destination: { ...s3, path: 'hls/title1' } },
      {
        name: 'o1',
        kind: 'hls',
        destination: { type: 's3', bucket: 'my-bucket', region: 'us-east-1', prefix: 'hls/title1' },
      },
    ],
  ];
  for (const [what, output, want] of cases) {
    test(what, () => {
      const spec = parse({ source: { kind: 'https', url: 'https://x.example/in.mp4' }, outputs: [output] });
      assert.deepEqual((spec.outputs as unknown[])[0], want);
      assert.equal(jobSpecSchema.safeParse(spec).success, true, 'a valid vidmesh spec');
    });
  }

  test('sources: S3 path is the key, HTTP basic auth becomes a header, inline stays base64', () => {
    const src = (source: unknown) =>
      parse({ source, outputs: [{ container: 'hls', destination: { kind: 'ipfs' } }] }).source;
    assert.deepEqual(src({ ...s3, path: 'in/v.mp4', access_key_id: 'AK', access_key_secret: 'SK' }), {
      type: 's3',
      bucket: 'my-bucket',
      region: 'us-east-1',
      key: 'in/v.mp4',
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    });
    assert.deepEqual(src({ kind: 'http', url: 'http://h/v.mp4', username: 'a', password: 'b' }), {
      type: 'http',
      url: 'http://h/v.mp4',
      headers: { Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
    });
    assert.deepEqual(src({ kind: 'inline', data: 'AAAA' }), { type: 'inline', data: 'AAAA' });
  });

  test('notificationUrl becomes the job webhook without progress events', () => {
    const spec = parse({
      source: { kind: 'https', url: 'https://x.example/in.mp4' },
      outputs: [{ container: 'hls', destination: { kind: 'ipfs' } }],
      notificationUrl: 'https://hooks.example/n',
    });
    const hook = spec.webhook as { url: string; events: string[] };
    assert.equal(hook.url, 'https://hooks.example/n');
    assert.ok(!hook.events.includes('job.progress'));
    assert.ok(hook.events.includes('output.failed'));
  });

  const refused: Array<[string, unknown, RegExp]> = [
    [
      'a free-form codec string',
      { container: 'mp4', videoCodec: 'libx264 -vf x', destination: { kind: 'ipfs' } },
      /videoCodec/,
    ],
    ['VP9 in MP4', { container: 'mp4', videoCodec: 'vp9', destination: { kind: 'ipfs' } }, /videoCodec/],
    [
      'MP3 audio in WebM',
      { container: 'webm', audioCodec: 'mp3', destination: { kind: 'ipfs' } },
      /audioCodec/,
    ],
    [
      'half the S3 credentials',
      { container: 'hls', destination: { ...s3, path: 'x', access_key_id: 'AK' } },
      /both/,
    ],
    [
      'an S3 contentType on an HLS output (playlists and segments need their own types)',
      { container: 'hls', destination: { ...s3, path: 'hls/x', contentType: 'video/mp2t' } },
      /contentType/,
    ],
  ];
  for (const [what, output, message] of refused) {
    test(`refused: ${what}`, () => {
      assert.throws(
        () => parse({ source: { kind: 'https', url: 'https://x.example/in.mp4' }, outputs: [output] }),
        (err: Error) => err instanceof V2TranslationError && message.test(err.message),
      );
    });
  }
  test('S3 contentType: a MIME type is accepted; CR/LF, no subtype, spaces or 256+ chars are refused', () => {
    const ok = (contentType: string) =>
      v2JobRequestSchema.safeParse({
        source: { kind: 'https', url: 'https://x' },
        outputs: [{ container: 'mp4', destination: { ...s3, path: 'a.mp4', contentType } }],
      }).success;
    for (const good of ['video/mp4', 'application/vnd.apple.mpegurl', 'text/plain; charset=utf-8', 'a/b+c'])
      assert.equal(ok(good), true, good);
    for (const bad of [
      'video/mp4\r\nx-amz-acl: public-read',
      'video/mp4\n',
      'video',
      'video/',
      '/mp4',
      'video mp4/x',
      'video/mp4; charset',
      'video/mp4; a="b\r\n"',
      `video/${'x'.repeat(255)}`,
      '',
    ])
      assert.equal(ok(bad), false, JSON.stringify(bad));
  });

  test('a bitrate that is not ffmpeg-style is refused by the schema', () => {
    const r = v2JobRequestSchema.safeParse({
      source: { kind: 'https', url: 'https://x' },
      outputs: [{ container: 'mp4', videoBitrate: '2500kbps', destination: { kind: 'ipfs' } }],
    });
    assert.equal(r.success, false);
  });

  test('statuses in the original words', () => {
    assert.deepEqual(
      (['queued', 'failed', 'leased', 'running', 'completed', 'dead', 'cancelled'] as const).map(v2Status),
      ['queued', 'queued', 'processing', 'processing', 'completed', 'failed', 'cancelled'],
    );
  });
});
