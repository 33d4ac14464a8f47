import type { FastifyInstance } from 'fastify';
import { catIpfsPath, type StorageContext } from '../../storage/index.js';
import { setMediaSafetyHeaders } from './media.js';

export interface IpfsRouteOptions {
  /** `<dataDir>/ipfs`: the embedded blockstore `ipfs` destinations of in-process encoders write to. */
  blockstoreDir: string;
  /** `Access-Control-Allow-Origin` of the responses (players on other sites), as for `/media`. */
  corsOrigin: string;
}

/**
 * The embedded IPFS blockstore as a read-only path gateway: `GET /ipfs/<cid>/<path>` (path gateway
 * URL shape of the IPFS HTTP Gateway spec, specs.ipfs.tech/http-gateways/path-gateway/), public like
 * `/media`. Every block is hash-verified while streaming (storage's `catIpfsPath`), so a tampered block
 * on disk ends the response instead of serving altered bytes. Content types come from the file
 * extension (m3u8 = application/vnd.apple.mpegurl, ts = video/mp2t); content is immutable by address,
 * so responses are cacheable for a year. Unknown CIDs, paths and directories are 404 `not_found`, a
 * malformed CID or unsafe path 400. No byte ranges and no directory listings.
 */
export async function ipfsRoutes(app: FastifyInstance, opts: IpfsRouteOptions): Promise<void> {
  // Nothing but the blockstore: no network, no files, nothing allowlisted.
  const ctx: StorageContext = {
    localRoot: opts.blockstoreDir,
    fileRoots: [],
    ssrf: {},
    ipfs: { blockstoreDir: opts.blockstoreDir },
  };
  const cors = (reply: { header(k: string, v: string): unknown }) => {
    reply.header('access-control-allow-origin', opts.corsOrigin);
    reply.header('access-control-expose-headers', 'Content-Length, X-Ipfs-Path');
    if (opts.corsOrigin !== '*') reply.header('vary', 'Origin');
  };
  app.get<{ Params: { cid: string; '*': string } }>(
    '/ipfs/:cid/*',
    { config: { scope: 'public' }, schema: { hide: true } },
    async (req, reply) => {
      const { cid, '*': path } = req.params;
      const file = await catIpfsPath(ctx, cid, path);
      cors(reply);
      reply.header('content-type', file.contentType);
      reply.header('content-length', String(file.size));
      reply.header('cache-control', 'public, max-age=31536000, immutable');
      reply.header('x-ipfs-path', `/ipfs/${cid}/${path}`);
      setMediaSafetyHeaders(reply, path);
      return reply.send(file.stream);
    },
  );
  app.options('/ipfs/*', { config: { scope: 'public' }, schema: { hide: true } }, async (_req, reply) => {
    cors(reply);
    reply.header('access-control-allow-methods', 'GET, HEAD, OPTIONS');
    reply.header('access-control-allow-headers', 'Range, Content-Type');
    reply.header('access-control-max-age', '86400');
    return reply.status(204).send();
  });
}
