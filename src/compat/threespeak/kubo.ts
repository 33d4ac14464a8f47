import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Busboy from 'busboy';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { exporter } from 'ipfs-unixfs-exporter';
import { type ImportCandidate, importer } from 'ipfs-unixfs-importer';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import { CID } from 'multiformats/cid';
import { ValidationError, VidmeshError } from '../../errors.js';
import {
  addPin,
  contentTypeFor,
  FsBlockstore,
  parseIpfsPath,
  readPins,
  safeSegments,
} from '../../storage/index.js';

/**
 * A call kubo refuses for its arguments (missing `arg`, bad option, a directory where a file is
 * asked, not pinned): HTTP 400 with `{Message, Code, Type: "error"}`, kubo's "malformed RPC,
 * argument type error" answer (kubo RPC docs, HTTP status codes). Never a 500: that is the
 * server's fault.
 */
export class KuboRpcError extends VidmeshError {
  override readonly code: string = 'kubo_rpc_error';
  override readonly status: number = 400;
}

/**
 * The HTTP status of an error thrown by a kubo RPC handler: a VidmeshError's own, Fastify's 4xx, the
 * UnixFS exporter's typed errors (`ERR_NOT_FOUND` 404; bad path, unknown codec, not UnixFS 400),
 * else 500.
 */
export function kuboErrorStatus(err: unknown): number {
  if (err instanceof VidmeshError) return err.status;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return e.statusCode;
  if (e?.code === 'ERR_NOT_FOUND') return 404;
  if (['ERR_BAD_PATH', 'ERR_NO_RESOLVER', 'ERR_NOT_UNIXFS', 'ERR_INVALID_PARAMS'].includes(String(e?.code)))
    return 400;
  return 500;
}

/** `add`/`pin/add` from an address that may not write to this store. */
export class KuboWriteForbiddenError extends VidmeshError {
  override readonly code: string = 'forbidden';
  override readonly status: number = 403;
}

/** The upload is larger than the configured limit. */
export class KuboAddTooLargeError extends VidmeshError {
  override readonly code: string = 'payload_too_large';
  override readonly status: number = 413;
}

export interface KuboRpcOptions {
  blockstoreDir: string;
  /** Largest `add` body, bytes (default 8 GiB). */
  maxAddBytes?: number;
  /** Peer id answered by `/api/v0/id` (any stable string; vidmesh has no libp2p host). */
  peerId?: string;
  version: string;
  /**
   * Whether a request may write (`add`, `pin/add`): by its address or its credentials; default:
   * everyone. May throw a 401/403 VidmeshError for credentials that are wrong rather than absent.
   */
  mayWrite?: (req: FastifyRequest) => boolean | Promise<boolean>;
}

type AddEntry = { Name: string; Hash: string; Size: string };

/**
 * Walks the whole DAG under `cid` reading every block (each read is hash-verified). Resolves to the
 * number of files. @throws NotFoundError (missing block), IntegrityError (tampered block)
 */
export async function verifyDag(blockstoreDir: string, cid: string): Promise<number> {
  const bs = new FsBlockstore(blockstoreDir) as never;
  let files = 0;
  const walk = async (c: CID | string): Promise<void> => {
    const entry = await exporter(c, bs);
    if (entry.type === 'directory') {
      for await (const child of entry.entries()) await walk(child.cid);
    } else if (entry.type === 'file' || entry.type === 'raw' || entry.type === 'identity') {
      files++;
      for await (const _ of entry.content()) {
        // reading is the check: every block is hash-verified on read
      }
    }
  };
  await walk(cid);
  return files;
}

/** Reads `<cid>/<path>` of the embedded store fully (small files: playlists). */
export async function readIpfsFile(blockstoreDir: string, cid: string, path: string): Promise<Buffer> {
  const entry = await exporter(`${cid}/${path}`, new FsBlockstore(blockstoreDir) as never);
  if (entry.type !== 'file' && entry.type !== 'raw') throw new KuboRpcError(`${cid}/${path} is not a file`);
  const parts: Uint8Array[] = [];
  for await (const p of entry.content()) parts.push(p as Uint8Array);
  return Buffer.concat(parts);
}

function argOf(req: FastifyRequest): string {
  const arg = (req.query as Record<string, unknown>).arg;
  const v = Array.isArray(arg) ? arg[0] : arg;
  if (typeof v !== 'string' || v === '') throw new KuboRpcError('argument "ipfs-path" is required');
  return v;
}

/** The `arg` of a CID-taking call (`/ipfs/` prefix allowed); a malformed one is the client's mistake (400). */
function cidArgOf(req: FastifyRequest): CID {
  const arg = argOf(req).replace(/^\/?ipfs\//, '');
  try {
    return CID.parse(arg);
  } catch (err) {
    throw new ValidationError(`invalid CID: ${arg.slice(0, 100)}`, { cause: err });
  }
}

function boolOpt(q: Record<string, unknown>, name: string, dflt: boolean): boolean {
  const v = q[name];
  if (v === undefined) return dflt;
  return v === '' || v === 'true' || v === '1';
}

/** File names of documents a browser would run (HTML, SVG, XML with stylesheets, scripts). */
const ACTIVE_CONTENT = /\.(html?|xhtml|shtml|svgz?|xml|xsl|xslt|js|mjs|cjs|wasm|swf|pdf)$/i;

/** An `add` of a document or script type (it would run on the coordinator's origin). HTTP 415. */
class KuboActiveContentError extends VidmeshError {
  override readonly code: string = 'unsupported_media_type';
  override readonly status: number = 415;
}

/** The fs-repo version `version` and `repo/stat` report (kubo 0.2x's). */
const REPO_VERSION = '15';
/** `StorageMax` of `repo/stat`: kubo's default `Datastore.StorageMax` (10 GB). */
const STORAGE_MAX_BYTES = 10_000_000_000;

/** Bytes and files under the blockstore folder (blocks, plus the pin list), for `repo/stat`. */
async function blockstoreUsage(dir: string): Promise<{ bytes: number; objects: number }> {
  let bytes = 0;
  let objects = 0;
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        objects++;
        bytes += (await stat(p)).size;
      }
    }
  };
  await walk(dir);
  return { bytes, objects };
}

/** Parses the multipart body of `add` into `dir`; returns the relative file paths in upload order. */
async function receiveParts(req: FastifyRequest, dir: string, maxBytes: number): Promise<string[]> {
  const files: string[] = [];
  let total = 0;
  let bb: ReturnType<typeof Busboy>;
  try {
    bb = Busboy({ headers: req.headers, preservePath: true, limits: { fieldSize: 1024 } });
  } catch (err) {
    // busboy throws for a missing or non-multipart content type: the client's mistake.
    throw new KuboRpcError('add: the body must be multipart/form-data', { cause: err });
  }
  const writes: Promise<void>[] = [];
  const done = new Promise<void>((resolve, reject) => {
    bb.on('file', (_field, stream, info) => {
      const raw = decodeURIComponent(info.filename ?? '').replace(/^\/+/, '');
      if (info.mimeType === 'application/x-directory') {
        stream.resume();
        return;
      }
      let rel: string;
      try {
        rel = safeSegments(raw).join('/');
        // Served from the coordinator's origin: no document or script type enters the store at all.
        if (ACTIVE_CONTENT.test(rel) || /html|svg|javascript|xml/i.test(info.mimeType ?? '')) {
          throw new KuboActiveContentError(
            `add: ${rel} is an active document type; only media and data files`,
          );
        }
      } catch (err) {
        stream.resume();
        reject(err);
        return;
      }
      const target = join(dir, ...rel.split('/'));
      files.push(rel);
      // Counted inside the pipeline: a 'data' listener would start the flow before the file is open.
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          total += chunk.length;
          if (total > maxBytes) cb(new KuboAddTooLargeError(`add body over ${maxBytes} bytes`));
          else cb(null, chunk);
        },
      });
      const write = mkdir(dirname(target), { recursive: true }).then(() =>
        pipeline(stream, counter, createWriteStream(target)),
      );
      write.catch((err: unknown) => {
        req.raw.unpipe(bb);
        bb.destroy();
        reject(err);
      });
      writes.push(write);
    });
    bb.on('error', reject);
    bb.on('close', resolve);
  });
  req.raw.pipe(bb);
  await done;
  await Promise.all(writes);
  return files;
}

async function handleAdd(req: FastifyRequest, reply: FastifyReply, opts: KuboRpcOptions): Promise<void> {
  const q = req.query as Record<string, unknown>;
  const cidVersion = Number(q['cid-version'] ?? 0);
  if (cidVersion !== 0 && cidVersion !== 1) throw new KuboRpcError('cid-version must be 0 or 1');
  const rawLeaves = boolOpt(q, 'raw-leaves', cidVersion === 1);
  const chunker = typeof q.chunker === 'string' ? q.chunker : 'size-262144';
  const m = /^size-(\d+)$/.exec(chunker);
  const chunkSize = m ? Number(m[1]) : Number.NaN;
  if (!(chunkSize >= 1024 && chunkSize <= 1024 * 1024))
    throw new KuboRpcError(`unsupported chunker ${chunker}`);
  const wrap = boolOpt(q, 'wrap-with-directory', false);
  const pin = boolOpt(q, 'pin', true);
  const dir = await mkdtemp(join(tmpdir(), 'vidmesh-kubo-add-'));
  try {
    const files = await receiveParts(req, dir, opts.maxAddBytes ?? 8 * 1024 ** 3);
    if (files.length === 0) throw new ValidationError('add: no files in the request');
    const candidates: ImportCandidate[] = [...files].sort().map((rel) => ({
      path: rel,
      content: createReadStream(join(dir, ...rel.split('/'))) as AsyncIterable<Uint8Array>,
    }));
    const lines: AddEntry[] = [];
    const bs = new FsBlockstore(opts.blockstoreDir);
    for await (const e of importer(
      candidates,
      bs as never,
      {
        profile: 'unixfs-v0-2015',
        cidVersion,
        rawLeaves,
        chunker: fixedSize({ chunkSize }),
        wrapWithDirectory: wrap,
      } as never,
    )) {
      lines.push({ Name: e.path ?? '', Hash: e.cid.toString(), Size: String(e.size) });
    }
    const root = lines.at(-1);
    if (pin && root) await addPin(opts.blockstoreDir, root.Hash);
    reply.header('content-type', 'application/json');
    reply.header('x-chunked-output', '1');
    await reply.send(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Registers the kubo RPC subset under `/api/v0`. All methods are POST as in kubo (GET is refused by
 * kubo too since 0.5). Errors answer kubo's shape `{Message, Code, Type}`.
 */
export async function kuboRpcRoutes(app: FastifyInstance, opts: KuboRpcOptions): Promise<void> {
  // Arguments travel in the query string; a body is read only by `add` (multipart), so every media
  // type is accepted and handed over unparsed, as kubo does.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  app.setErrorHandler(async (err, _req, reply) => {
    // A client's mistake (including an unknown CID) stays a 4xx; kubo clients treat every non-2xx
    // as an error, so only the server's own faults are 500.
    const message = err instanceof Error ? err.message : String(err);
    await reply.status(kuboErrorStatus(err)).send({ Message: message, Code: 0, Type: 'error' });
  });

  app.post('/api/v0/id', async () => ({
    ID: opts.peerId ?? 'vidmesh-embedded',
    PublicKey: '',
    Addresses: [],
    AgentVersion: `vidmesh/${opts.version}`,
    ProtocolVersion: 'ipfs/0.1.0',
  }));

  // Shapes of kubo's RPC reference (docs.ipfs.tech/reference/kubo/rpc): /version, /repo/stat, /swarm/peers.
  app.post('/api/v0/version', async () => ({
    Version: opts.version,
    Commit: '',
    Repo: REPO_VERSION,
    System: 'vidmesh',
    Golang: '',
  }));

  app.post('/api/v0/repo/stat', async () => {
    const { bytes, objects } = await blockstoreUsage(opts.blockstoreDir);
    return {
      RepoSize: bytes,
      StorageMax: STORAGE_MAX_BYTES,
      NumObjects: objects,
      RepoPath: 'vidmesh-embedded',
      Version: `fs-repo@${REPO_VERSION}`,
    };
  });

  // The embedded store has no swarm: no peers (kubo's answer when it is offline).
  app.post('/api/v0/swarm/peers', async () => ({ Peers: [] }));

  const guardWrite = async (req: FastifyRequest) => {
    if (opts.mayWrite && !(await opts.mayWrite(req))) {
      throw new KuboWriteForbiddenError(
        'uploads are accepted only from encoder nodes known to this gateway or with an admin API key',
      );
    }
  };
  app.post('/api/v0/add', { preHandler: guardWrite }, (req, reply) => handleAdd(req, reply, opts));

  app.post('/api/v0/cat', async (req, reply) => {
    const parsed = parseIpfsPath(argOf(req));
    const target = parsed.path ? `${parsed.cid}/${parsed.path}` : parsed.cid.toString();
    const entry = await exporter(target, new FsBlockstore(opts.blockstoreDir) as never);
    if (entry.type !== 'file' && entry.type !== 'raw') throw new KuboRpcError('this dag node is a directory');
    reply.header('content-type', 'text/plain');
    return reply.send(Readable.from(entry.content() as AsyncIterable<Uint8Array>));
  });

  // Raw block by CID: what vidmesh's own IPFS source fetch asks a kubo node for (verified on read).
  app.post('/api/v0/block/get', async (req, reply) => {
    const cid = cidArgOf(req);
    const parts: Uint8Array[] = [];
    for await (const b of new FsBlockstore(opts.blockstoreDir).get(cid)) parts.push(b);
    reply.header('content-type', 'application/octet-stream');
    return reply.send(Buffer.concat(parts));
  });

  app.post('/api/v0/ls', async (req) => {
    const parsed = parseIpfsPath(argOf(req));
    const target = parsed.path ? `${parsed.cid}/${parsed.path}` : parsed.cid.toString();
    const entry = await exporter(target, new FsBlockstore(opts.blockstoreDir) as never);
    const links: Array<{ Name: string; Hash: string; Size: number; Type: number; Target: string }> = [];
    if (entry.type === 'directory') {
      for await (const child of entry.entries()) {
        const kind = (await exporter(child.cid, new FsBlockstore(opts.blockstoreDir) as never)).type;
        links.push({
          Name: child.name,
          Hash: child.cid.toString(),
          Size: Number(child.size),
          Type: kind === 'directory' ? 1 : 2,
          Target: '',
        });
      }
    }
    return { Objects: [{ Hash: target, Links: links }] };
  });

  app.post('/api/v0/pin/add', { preHandler: guardWrite }, async (req) => {
    const cid = cidArgOf(req).toString();
    await verifyDag(opts.blockstoreDir, cid);
    await addPin(opts.blockstoreDir, cid);
    return { Pins: [cid] };
  });

  app.post('/api/v0/pin/ls', async (req) => {
    const pins = await readPins(opts.blockstoreDir);
    const q = req.query as Record<string, unknown>;
    if (q.arg === undefined) {
      return { Keys: Object.fromEntries([...pins].map((c) => [c, { Type: 'recursive' }])) };
    }
    const cid = cidArgOf(req).toString();
    if (!pins.has(cid)) throw new KuboRpcError(`path '${cid}' is not pinned`);
    return { Keys: { [cid]: { Type: 'recursive' } } };
  });
}

/** `GET /ipfs/<cid>/<path>`: a file of the embedded store (path-gateway style, verified blocks). */
export async function ipfsPathRoute(app: FastifyInstance, opts: { blockstoreDir: string }): Promise<void> {
  app.get('/ipfs/*', async (req, reply) => {
    const rest = (req.params as { '*': string })['*'];
    const parsed = parseIpfsPath(rest);
    const target = parsed.path ? `${parsed.cid}/${parsed.path}` : parsed.cid.toString();
    let entry: Awaited<ReturnType<typeof exporter>>;
    try {
      entry = await exporter(target, new FsBlockstore(opts.blockstoreDir) as never);
    } catch {
      return reply.status(404).send({ status: 'error', message: `not found: /ipfs/${target}` });
    }
    if (entry.type !== 'file' && entry.type !== 'raw') {
      return reply.status(404).send({ status: 'error', message: `/ipfs/${target} is not a file` });
    }
    reply.header('content-type', contentTypeFor(parsed.path || 'file'));
    reply.header('content-length', String(entry.size));
    reply.header('cache-control', 'public, max-age=31536000, immutable');
    reply.header('access-control-allow-origin', '*');
    return reply.send(Readable.from(entry.content() as AsyncIterable<Uint8Array>));
  });
}
