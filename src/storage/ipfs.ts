import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exporter } from 'ipfs-unixfs-exporter';
import { type ImportCandidate, importer } from 'ipfs-unixfs-importer';
import { base32 } from 'multiformats/bases/base32';
import { CID } from 'multiformats/cid';
import { NotFoundError } from '../errors.js';
import { contentTypeFor } from './content-type.js';
import { maxSourceBytes, type ProgressFn, type StorageContext } from './context.js';
import {
  IntegrityError,
  InvalidStorageRefError,
  SourceNotFoundError,
  SourceTooLargeError,
  StorageRejectedError,
} from './errors.js';
import { errorForStatus, httpRequest } from './http.js';
import { safeSegments } from './paths.js';
import type { SourceRef } from './schema.js';
import type { SsrfPolicy } from './ssrf.js';

const SHA2_256 = 0x12;
const IDENTITY = 0x00;
/** Largest block accepted from a remote (bitswap's limit is 2 MiB; kubo makes ≤ 1 MiB blocks). */
const MAX_BLOCK_BYTES = 2 * 1024 * 1024;

/**
 * Throws IntegrityError unless `bytes` hash to `cid`'s multihash. Supports sha2-256 (every kubo
 * default) and identity CIDs; anything else is refused rather than trusted.
 */
export function verifyBlock(cid: CID, bytes: Uint8Array): void {
  const mh = cid.multihash;
  if (mh.code === IDENTITY) {
    if (Buffer.compare(Buffer.from(mh.digest), Buffer.from(bytes)) !== 0) {
      throw new IntegrityError(`identity block does not match ${cid}`);
    }
    return;
  }
  if (mh.code !== SHA2_256) throw new IntegrityError(`unsupported hash 0x${mh.code.toString(16)} in ${cid}`);
  const digest = createHash('sha256').update(bytes).digest();
  if (Buffer.compare(digest, Buffer.from(mh.digest)) !== 0) {
    throw new IntegrityError(`block ${cid} does not hash to its CID (tampered or corrupt)`, {
      details: { cid: cid.toString() },
    });
  }
}

async function collect(
  bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<Uint8Array> {
  if (bytes instanceof Uint8Array) return bytes;
  const parts: Uint8Array[] = [];
  for await (const p of bytes as AsyncIterable<Uint8Array>) parts.push(p);
  return Buffer.concat(parts);
}

/**
 * A small file-per-block blockstore: blocks live at `<dir>/<xx>/<base32 multihash>` (`xx` = the
 * name's next-to-last two characters, kubo's flatfs sharding), keyed by multihash so CIDv0 and CIDv1
 * of the same block share one file. Writes are atomic (temp file + rename); every read is verified
 * against the CID, so a tampered block on disk is refused with IntegrityError.
 */
export class FsBlockstore {
  constructor(readonly dir: string) {}

  /** The file of a block (by multihash: CIDv0 and CIDv1 of one block share it). */
  pathFor(cid: CID): string {
    const name = base32.encode(cid.multihash.bytes).slice(1).toUpperCase();
    return join(this.dir, name.slice(-3, -1), name + '.data');
  }

  async put(cid: CID, bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<CID> {
    const data = await collect(bytes);
    verifyBlock(cid, data);
    const path = this.pathFor(cid);
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    ) {
      // Reused by a new publish: its mtime is its last use, so a purge's grace period keeps it until
      // the publishing job records its root (storage cleanup, purgeRoots).
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
      return cid;
    }
    await mkdir(join(path, '..'), { recursive: true });
    const tmp = `${path}.${randomUUID()}.tmp`;
    await writeFile(tmp, data);
    await rename(tmp, path);
    return cid;
  }

  async *get(cid: CID): AsyncGenerator<Uint8Array> {
    let data: Uint8Array;
    try {
      data = await readFile(this.pathFor(cid));
    } catch (err) {
      throw new NotFoundError(`block ${cid} not in the blockstore`, { cause: err });
    }
    verifyBlock(cid, data);
    yield data;
  }

  async has(cid: CID): Promise<boolean> {
    return stat(this.pathFor(cid)).then(
      () => true,
      () => false,
    );
  }
}

/**
 * Read-only blockstore that fetches single blocks from a trustless gateway
 * (`GET /ipfs/<cid>?format=raw`, IPFS Trustless Gateway spec) or a kubo RPC endpoint
 * (`POST /api/v0/block/get?arg=<cid>`, kubo RPC docs) and verifies each against its CID, so a
 * malicious or broken remote cannot alter content.
 */
class RemoteBlockstore {
  constructor(
    private readonly remote: { gatewayUrl?: string; kuboApiUrl?: string },
    private readonly ctx: StorageContext,
    private readonly policy: SsrfPolicy,
    private readonly signal?: AbortSignal,
  ) {}

  async *get(cid: CID): AsyncGenerator<Uint8Array> {
    const gw = this.remote.gatewayUrl;
    const url = gw
      ? new URL(`ipfs/${cid}?format=raw`, gw.endsWith('/') ? gw : gw + '/').toString()
      : new URL(`api/v0/block/get?arg=${cid}`, withSlash(this.remote.kuboApiUrl!)).toString();
    const { res } = await httpRequest(url, {
      method: gw ? 'GET' : 'POST',
      headers: gw ? { accept: 'application/vnd.ipld.raw' } : {},
      policy: this.policy,
      stallTimeoutMs: this.ctx.http?.stallTimeoutMs,
      signal: this.signal,
    });
    if (res.statusCode !== 200) {
      res.resume();
      throw errorForStatus(res.statusCode ?? 0, `IPFS block ${cid}`);
    }
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BLOCK_BYTES) {
        res.destroy();
        throw new IntegrityError(`block ${cid} larger than ${MAX_BLOCK_BYTES} bytes`);
      }
      parts.push(chunk);
    }
    const data = Buffer.concat(parts);
    verifyBlock(cid, data);
    yield data;
  }
}

function withSlash(u: string): string {
  return u.endsWith('/') ? u : u + '/';
}

/** Operator-configured hosts (gateway, kubo) are trusted: add them to the SSRF allowlist. */
function trustHost(policy: SsrfPolicy, url: string | undefined): SsrfPolicy {
  if (!url) return policy;
  return {
    ...policy,
    allowHosts: [...(policy.allowHosts ?? []), new URL(url).hostname.replace(/^\[|\]$/g, '')],
  };
}

/** Parses `CID`, `CID/path`, `/ipfs/CID/path` or `ipfs://CID/path` into a CID and safe sub-path. */
export function parseIpfsPath(input: string, extraPath?: string): { cid: CID; path: string } {
  const s = input.replace(/^ipfs:\/\//, '').replace(/^\/?ipfs\//, '');
  const [head, ...rest] = s.split('/');
  let cid: CID;
  try {
    cid = CID.parse(head ?? '');
  } catch (err) {
    throw new InvalidStorageRefError(`invalid CID: ${head}`, { cause: err });
  }
  const joined = [
    ...rest.filter((x) => x !== ''),
    ...(extraPath ? extraPath.split('/').filter((x) => x !== '') : []),
  ].join('/');
  if (joined !== '') safeSegments(joined);
  return { cid, path: joined };
}

/** Importer options reproducing kubo's `ipfs add` defaults (IPIP-499 profile `unixfs-v0-2015`). */
const KUBO_DEFAULTS = { profile: 'unixfs-v0-2015', wrapWithDirectory: true } as const;

/** Every regular file under `dir`, as sorted POSIX relative paths. Symlinks are refused. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    const abs = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (e.isSymbolicLink())
      throw new InvalidStorageRefError(`symlink in output directory: ${relative(dir, abs)}`);
    if (e.isFile()) out.push(relative(dir, abs).split(sep).join('/'));
  }
  for (const rel of out) safeSegments(rel);
  return out.sort();
}

/**
 * Computes the root CID of `dir` exactly as kubo's `ipfs add -r --wrap-with-directory` over the
 * directory's entries (equivalently `ipfs add -r dir`) does with its defaults: CIDv0, dag-pb,
 * 256 KiB fixed chunks, balanced layout (174 links), no raw leaves. Blocks go to `blockstore`
 * (anything with `put`); pass a discarding one to compute the CID only.
 * @returns root CID and the CID of each file (relative path -> CIDv0 string).
 */
export async function addDirectory(
  dir: string,
  blockstore: { put(cid: CID, bytes: Uint8Array): Promise<CID> },
  opts: { signal?: AbortSignal } = {},
): Promise<{ cid: CID; files: Map<string, string> }> {
  const files = await listFiles(dir);
  const candidates: ImportCandidate[] = files.map((rel) => ({
    path: rel,
    content: createReadStream(join(dir, ...rel.split('/'))) as AsyncIterable<Uint8Array>,
  }));
  let root: CID | undefined;
  const fileCids = new Map<string, string>();
  for await (const entry of importer(candidates, blockstore, {
    ...KUBO_DEFAULTS,
    signal: opts.signal,
  } as never)) {
    if (entry.path !== undefined && files.includes(entry.path))
      fileCids.set(entry.path, entry.cid.toString());
    root = entry.cid;
  }
  if (!root) throw new InvalidStorageRefError('nothing to add: empty directory');
  return { cid: root, files: fileCids };
}

/** CIDv0 of a single file's bytes as `ipfs add` (no wrap) would print it. */
export async function cidOfBytes(bytes: Uint8Array): Promise<string> {
  let last: CID | undefined;
  for await (const e of importer([{ content: bytes }], discardingBlockstore(), {
    profile: 'unixfs-v0-2015',
  } as never)) {
    last = e.cid;
  }
  return last!.toString();
}

/** A blockstore that keeps nothing: for computing CIDs without storing blocks. */
export function discardingBlockstore(): { put(cid: CID, bytes: Uint8Array): Promise<CID> } {
  return { put: async (cid) => cid };
}

/**
 * Opens `<cid>/<path>` from the embedded blockstore (`ctx.ipfs.blockstoreDir`) for the coordinator's
 * `/ipfs/<cid>/<path>` route. Every block is verified while streaming, so a tampered block ends the
 * stream with IntegrityError.
 * @throws NotFoundError (unknown CID/path, or a directory), UnsafePathError, InvalidStorageRefError
 */
export async function catIpfsPath(
  ctx: StorageContext,
  cid: string,
  path: string,
): Promise<{ stream: Readable; size: number; contentType: string }> {
  const parsed = parseIpfsPath(cid, path);
  const entry = await exportEntry(parsed, new FsBlockstore(ctx.ipfs.blockstoreDir));
  return {
    stream: Readable.from(entry.content()),
    size: entry.size,
    contentType: contentTypeFor(parsed.path || 'file'),
  };
}

async function exportEntry(
  parsed: { cid: CID; path: string },
  blockstore: { get(cid: CID): AsyncGenerator<Uint8Array> },
  signal?: AbortSignal,
): Promise<{ size: number; content: () => AsyncIterable<Uint8Array> }> {
  const target = parsed.path ? `${parsed.cid}/${parsed.path}` : parsed.cid;
  let entry: Awaited<ReturnType<typeof exporter>>;
  try {
    entry = await exporter(target, blockstore as never, { signal });
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NotFoundError' || (err as { code?: string }).code === 'ERR_NOT_FOUND') {
      throw new NotFoundError(`not found: /ipfs/${target}`, { cause: err });
    }
    throw err;
  }
  if (entry.type !== 'file' && entry.type !== 'raw' && entry.type !== 'identity') {
    throw new NotFoundError(`/ipfs/${target} is a ${entry.type}, not a file`);
  }
  return { size: Number(entry.size), content: () => entry.content({ signal }) as AsyncIterable<Uint8Array> };
}

/**
 * Fetches an `ipfs` source to `destPath`: through `ctx.ipfs.gatewayUrl` (trustless, block by block),
 * else kubo RPC `ctx.ipfs.kuboApiUrl`, else the embedded blockstore. Every block is hash-verified.
 * @throws IntegrityError (tampered block), SourceNotFoundError, SourceTooLargeError
 */
export async function downloadIpfs(
  ref: Extract<SourceRef, { type: 'ipfs' }>,
  destPath: string,
  ctx: StorageContext,
  opts: { signal?: AbortSignal; onProgress?: ProgressFn },
): Promise<{ bytes: number; contentType?: string }> {
  const parsed = parseIpfsPath(ref.url ?? ref.cid!, ref.path);
  const { gatewayUrl, kuboApiUrl } = ctx.ipfs;
  const store =
    gatewayUrl || kuboApiUrl
      ? new RemoteBlockstore(
          { gatewayUrl, kuboApiUrl },
          ctx,
          trustHost(ctx.ssrf, gatewayUrl ?? kuboApiUrl),
          opts.signal,
        )
      : new FsBlockstore(ctx.ipfs.blockstoreDir);
  let entry: Awaited<ReturnType<typeof exportEntry>>;
  try {
    entry = await exportEntry(parsed, store, opts.signal);
  } catch (err) {
    if (err instanceof NotFoundError) throw new SourceNotFoundError(err.message, { cause: err });
    throw err;
  }
  const max = maxSourceBytes(ctx);
  if (entry.size > max) throw new SourceTooLargeError(`IPFS file is ${entry.size} bytes, limit ${max}`);
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Uint8Array, _e, cb) {
      bytes += chunk.length;
      opts.onProgress?.(bytes, entry.size);
      cb(null, chunk);
    },
  });
  await pipeline(Readable.from(entry.content()), counter, createWriteStream(destPath), {
    signal: opts.signal,
  });
  return { bytes, contentType: parsed.path ? contentTypeFor(parsed.path) : undefined };
}

/**
 * Adds `dir` to a kubo node through its RPC (`POST /api/v0/add`, multipart, kubo RPC docs) with
 * wrap-with-directory and pin, and the options spelled out so a node with other defaults still
 * produces the default CIDs. Throws IntegrityError when kubo's root CID differs from `expected`.
 */
export async function pushToKubo(
  dir: string,
  files: readonly string[],
  apiUrl: string,
  expected: string,
  ctx: StorageContext,
  signal?: AbortSignal,
): Promise<void> {
  const boundary = `vidmesh-${randomUUID()}`;
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  async function* body(): AsyncGenerator<Buffer> {
    for (const d of [...dirs].sort()) {
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${encodeURIComponent(d)}"\r\nContent-Type: application/x-directory\r\n\r\n\r\n`,
      );
    }
    for (const f of files) {
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${encodeURIComponent(f)}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      );
      for await (const chunk of createReadStream(join(dir, ...f.split('/')))) yield chunk as Buffer;
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  const qs =
    'wrap-with-directory=true&pin=true&cid-version=0&raw-leaves=false&chunker=size-262144&progress=false&stream-channels=true';
  const url = new URL(`api/v0/add?${qs}`, withSlash(apiUrl)).toString();
  const { res } = await httpRequest(url, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: { stream: Readable.from(body()) },
    policy: trustHost(ctx.ssrf, apiUrl),
    stallTimeoutMs: ctx.http?.stallTimeoutMs,
    signal,
  });
  const text = await new Response(Readable.toWeb(res) as ReadableStream).text();
  if (res.statusCode !== 200) {
    throw new StorageRejectedError(`kubo add failed: HTTP ${res.statusCode}`, {
      details: { status: res.statusCode, body: text.slice(0, 200) },
    });
  }
  const lines = text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { Name?: string; Hash?: string });
  const root = lines.filter((l) => l.Hash && (l.Name === '' || l.Name === undefined)).pop() ?? lines.at(-1);
  if (!root?.Hash || root.Hash !== expected) {
    throw new IntegrityError(`kubo returned root CID ${root?.Hash ?? 'none'}, expected ${expected}`, {
      details: { expected, got: root?.Hash ?? null },
    });
  }
}
