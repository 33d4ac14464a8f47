import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { FtpSrv } from 'ftp-srv';
import { mediaDir } from '../../src/paths.js';
import type { StorageContext } from '../../src/storage/index.js';

const run = promisify(execFile);

/** A fresh temp directory under os.tmpdir(); remove it with `cleanup()`. */
export async function tempDir(tag: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `vidmesh-storage-${tag}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A storage context for tests: everything under `root`, loopback allowlisted, fast timeouts. */
export function testContext(root: string, overrides: Partial<StorageContext> = {}): StorageContext {
  return {
    localRoot: join(root, 'local'),
    fileRoots: [join(root, 'files')],
    ssrf: { allowHosts: ['127.0.0.1'] },
    ipfs: { blockstoreDir: join(root, 'blocks') },
    limits: { maxSourceBytes: 64 * 1024 * 1024, maxInlineBytes: 64 * 1024 },
    http: { stallTimeoutMs: 2000, maxRedirects: 5, maxResumes: 5 },
    retry: { attempts: 3, baseDelayMs: 20 },
    ...overrides,
  };
}

/** sha256 hex of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Builds a small real HLS ladder with ffmpeg (stream copy of 2 s of the Big Buck Bunny clip, so it
 * costs almost no CPU): master.m3u8, 720p/index.m3u8 + .ts segments, poster.jpg.
 */
export async function makeLadder(dir: string): Promise<string[]> {
  const src = join(mediaDir(), 'big_buck_bunny_10s.mp4');
  await mkdir(join(dir, '720p'), { recursive: true });
  await run('ffmpeg', [
    '-v',
    'error',
    '-t',
    '2',
    '-i',
    src,
    '-c',
    'copy',
    '-f',
    'hls',
    '-hls_time',
    '1',
    '-hls_list_size',
    '0',
    '-hls_segment_filename',
    join(dir, '720p', 'seg_%03d.ts'),
    join(dir, '720p', 'index.m3u8'),
  ]);
  await run('ffmpeg', [
    '-v',
    'error',
    '-ss',
    '1',
    '-i',
    src,
    '-frames:v',
    '1',
    '-q:v',
    '5',
    join(dir, 'poster.jpg'),
  ]);
  await writeFile(
    join(dir, 'master.m3u8'),
    '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720\n720p/index.m3u8\n',
  );
  return ['master.m3u8', '720p/index.m3u8', 'poster.jpg'];
}

// ftp-srv logs through bunyan to stdout by default; keep the test output clean.
const quietLog = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return quietLog;
  },
};

/**
 * Starts a real FTP server (ftp-srv) on 127.0.0.1 with a random control port, rooted at `root`, that
 * accepts user `enc` / password `pw` only. Passive ports come from a random 200-port range above
 * `pasvBase`, so parallel test files rarely collide.
 */
export async function startFtpServer(
  root: string,
  pasvBase: number,
): Promise<{ port: number; close: () => Promise<void> }> {
  const pasvMin = pasvBase + Math.floor(Math.random() * 2000);
  const ftp = new FtpSrv({
    url: 'ftp://127.0.0.1:0',
    pasv_url: '127.0.0.1',
    pasv_min: pasvMin,
    pasv_max: pasvMin + 200,
    anonymous: false,
    greeting: 'vidmesh test',
    log: quietLog as never,
  });
  ftp.on('login', ({ username, password }, resolve, reject) => {
    if (username === 'enc' && password === 'pw') resolve({ root });
    else reject(new Error('bad login'));
  });
  await ftp.listen();
  // ftp-srv's types omit its net.Server; port 0 needs it to learn the real port.
  const { port } = (ftp as unknown as { server: Server }).server.address() as { port: number };
  return { port, close: () => ftp.close() };
}

/** s3rver's fixed credentials (the S3 API stand-in the tests start). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** An AWS SDK client for the s3rver at `endpoint` (path-style, no checksum trailers s3rver lacks). */
export function s3rverClient(endpoint: string): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
