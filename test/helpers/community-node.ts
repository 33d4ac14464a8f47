import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import {
  createHttpTransport,
  type EncoderNode,
  type EncoderTransport,
  startEncoderNode,
} from '../../src/encoder/index.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';

/** A cheater's change to one output upload: the bytes it really uploads, or null to upload nothing. */
export type Cheat = (path: string, body: Buffer) => Buffer | null;

/** A running community node of {@link startCommunityNode}. */
export interface CommunityNode {
  node: EncoderNode;
  identity: Identity;
  encoderId: string;
  stop(): Promise<void>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * A community encoder node (a did:key over signed HTTP, `hwaccel: none`, short intervals) in a fresh
 * folder under `root`. With `cheat`, its output PUTs pass through a local proxy that applies `cheat`
 * and its completion report declares the hashes of what was really uploaded, as a cheater would: an
 * honest node with one dishonest change, for the verification tests. Upload paths are relative to the
 * job's staging folder (`240p/seg_00001.ts`; a job with outputs: `<output>/video.mp4`).
 */
export async function startCommunityNode(options: {
  coordinatorUrl: string;
  root: string;
  name: string;
  tags?: string[];
  cheat?: Cheat;
  identity?: Identity;
  /** The fetch its transport talks to the coordinator with (a test records the answers through it). */
  fetch?: typeof fetch;
}): Promise<CommunityNode> {
  const { coordinatorUrl, root, name, cheat } = options;
  const identity = options.identity ?? generateIdentity();
  const inner = createHttpTransport({
    url: coordinatorUrl,
    identity,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  let transport: EncoderTransport = inner;
  let proxy: Server | undefined;
  if (cheat) {
    const uploaded = new Map<string, { sha256: string; bytes: number } | null>();
    proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const path = decodeURIComponent((req.url ?? '').replace(/^\/api\/v1\/agent\/outputs\/[^/]+\//, ''));
      const body = cheat(path, Buffer.concat(chunks));
      uploaded.set(path, body && { sha256: sha256(body), bytes: body.length });
      if (body === null) {
        res.writeHead(201, { 'content-type': 'application/json' }).end('{"path":"x","bytes":0}');
        return;
      }
      const headers: Record<string, string> = {};
      for (const h of ['authorization', 'x-lease-token', 'content-type']) {
        if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
      }
      const r = await fetch(coordinatorUrl + req.url, { method: 'PUT', headers, body });
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await r.arrayBuffer()));
    });
    await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as { port: number }).port;
    transport = {
      ...inner,
      remoteOutputs: (lease) => {
        const t = inner.remoteOutputs!(lease);
        return { ...t, baseUrl: t.baseUrl.replace(coordinatorUrl, `http://127.0.0.1:${port}`) };
      },
      complete: (encoderId, lease, result) =>
        inner.complete(encoderId, lease, {
          ...result,
          files: (result.files ?? []).flatMap((f) => {
            const u = uploaded.get(f.path);
            if (u === null) return [];
            return [u ? { path: f.path, ...u } : f];
          }),
        }),
    };
  }
  const dir = await mkdtemp(join(root, `node-${name}-`));
  const node = startEncoderNode({
    transport,
    dataDir: dir,
    storage: {
      localRoot: join(dir, 'media'),
      fileRoots: [],
      ssrf: {},
      ipfs: { blockstoreDir: join(dir, 'ipfs') },
    },
    name,
    ...(options.tags ? { tags: options.tags } : {}),
    kind: 'community',
    version: '0.0.0-test',
    hwaccel: 'none',
    progressIntervalMs: 300,
    heartbeatIntervalMs: 1000,
    claimWaitMs: 1000,
  });
  await node.ready;
  return {
    node,
    identity,
    encoderId: node.encoderId!,
    async stop() {
      await node.stop({ graceful: false });
      await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
    },
  };
}
