import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { isMediaFile, isPlaylist } from '../../storage/index.js';

/**
 * Headers of every response that serves stored media (`/media`, `/ipfs`): the browser must never treat
 * a stored file as a document of this origin, whatever an encoder uploaded. `nosniff` stops type
 * guessing, the CSP sandbox strips script and same-origin rights from anything opened directly, and a
 * file that is not media by its extension goes out as an `application/octet-stream` attachment.
 */
export function setMediaSafetyHeaders(reply: { header(k: string, v: string): unknown }, path: string): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('content-security-policy', "default-src 'none'; sandbox");
  if (!isMediaFile(path)) {
    reply.header('content-type', 'application/octet-stream');
    reply.header('content-disposition', 'attachment');
  }
}

export interface MediaRouteOptions {
  /** `<dataDir>/media`: published outputs of `local` destinations, one folder per job. */
  root: string;
  /** `Access-Control-Allow-Origin` of media responses (`*` lets players on any site fetch them). */
  corsOrigin: string;
  /** URL prefix (default `/media/`; live streams: `/live/`). */
  prefix?: string;
  /** `Cache-Control` of a file (default: playlists `no-cache`, other files a day). */
  cacheControl?: (path: string) => string;
}

/**
 * Published HLS outputs at `/media/<jobId>/<path>`, public (URLs are unguessable job ids, like the
 * blueprint's CDN URLs). @fastify/static (on @fastify/send) gives byte ranges (206, 416 RFC 9110 §14),
 * ETag/Last-Modified, content types (m3u8 = application/vnd.apple.mpegurl, ts = video/mp2t, m4s =
 * video/iso.segment) and refuses `..` and dotfiles; directory listing and index files are off. Every
 * response carries {@link setMediaSafetyHeaders}.
 */
export async function mediaRoutes(app: FastifyInstance, opts: MediaRouteOptions): Promise<void> {
  const cors = (reply: { header(k: string, v: string): unknown }) => {
    reply.header('access-control-allow-origin', opts.corsOrigin);
    reply.header('access-control-expose-headers', 'Content-Length, Content-Range, Accept-Ranges, ETag');
    if (opts.corsOrigin !== '*') reply.header('vary', 'Origin');
  };
  const prefix = opts.prefix ?? '/media/';
  const cacheControl =
    opts.cacheControl ??
    // Playlists and MPDs (.m3u8, .mpd) are rewritten by a re-run; segments never change.
    ((path: string) => (isPlaylist(path) ? 'no-cache' : 'public, max-age=86400'));
  await app.register(fastifyStatic, {
    root: opts.root,
    prefix,
    decorateReply: false,
    index: false,
    list: false,
    dotfiles: 'deny',
    acceptRanges: true,
    // Playlists of a finished job never change, but a re-run of one rendition rewrites them: revalidate.
    cacheControl: false,
    setHeaders: (reply, path) => {
      cors(reply);
      setMediaSafetyHeaders(reply, path);
      reply.header('cache-control', cacheControl(path));
    },
  });
  // CORS preflight: players send `Range`, which makes cross-origin segment requests non-simple.
  app.options(`${prefix}*`, { schema: { hide: true } }, async (_req, reply) => {
    cors(reply);
    reply.header('access-control-allow-methods', 'GET, HEAD, OPTIONS');
    reply.header('access-control-allow-headers', 'Range, Content-Type');
    reply.header('access-control-max-age', '86400');
    return reply.status(204).send();
  });
}
