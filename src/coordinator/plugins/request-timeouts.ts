import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { RequestTimeoutError } from '../errors.js';

/**
 * Request timeouts that leave long-polls, SSE and big uploads alone: the server-wide request timeout is
 * off (those legitimately outlive any fixed bound), so a slow-drip JSON body (slowloris on the body)
 * gets its own deadline here: the whole body must arrive within `bodyTimeoutMs`, else the request is
 * answered 408 `request_timeout`. Streamed bodies (uploads, output PUTs: not JSON) are not bounded
 * by time, only by size and by the socket idle timeout.
 */
export function registerBodyTimeout(app: FastifyInstance, options: { bodyTimeoutMs: number }): void {
  app.addHook('preParsing', async (req, reply, payload) => {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/(.+\+)?json/i.test(type)) return payload;
    // Parsers read this pass-through; failing it (not the socket) lets the 408 still reach the client.
    const body = new PassThrough() as PassThrough & { receivedEncodedLength?: number };
    const timer = setTimeout(() => {
      payload.unpipe(body);
      body.destroy(new RequestTimeoutError(`request body not received within ${options.bodyTimeoutMs} ms`));
    }, options.bodyTimeoutMs);
    timer.unref();
    // Answered already (e.g. 413 stopped reading the body): nothing is waiting for it any more.
    reply.raw.once('finish', () => clearTimeout(timer));
    reply.raw.once('close', () => clearTimeout(timer));
    // The parser may have stopped listening (413); an error then must not become an uncaught one.
    body.on('error', () => {});
    payload.once('end', () => {
      clearTimeout(timer);
      body.receivedEncodedLength = (payload as { receivedEncodedLength?: number }).receivedEncodedLength;
    });
    payload.once('close', () => clearTimeout(timer));
    payload.once('error', (err) => {
      clearTimeout(timer);
      body.destroy(err);
    });
    payload.pipe(body);
    return body;
  });
}
