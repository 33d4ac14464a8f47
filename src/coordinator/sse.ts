import type { FastifyReply, FastifyRequest } from 'fastify';

/** One open Server-Sent Events response. */
export interface EventStream {
  /** True once the client went away or {@link close} ran; later writes are dropped. */
  readonly closed: boolean;
  /** Writes one event: `event: <name>`, optional `id: <id>`, and `data: <JSON of data>`. */
  send(event: string, data: unknown, id?: number | string): void;
  /** Writes a comment line (`: text`), which keeps proxies from timing the stream out. */
  comment(text: string): void;
  /** Ends the response (once); cleanup callbacks run. */
  close(): void;
  /** Runs `fn` once when the stream closes, whichever side closes it. */
  onClose(fn: () => void): void;
}

/**
 * Hijacks `reply` and opens an event stream on it (format: WHATWG HTML "Server-sent events",
 * `text/event-stream`). With `keepAliveMs`, a comment is written at that interval (ms) so idle streams
 * survive proxies. The stream closes when the client disconnects or the caller calls `close()`.
 */
export function openEventStream(
  req: FastifyRequest,
  reply: FastifyReply,
  options: { keepAliveMs?: number } = {},
): EventStream {
  const raw = reply.raw;
  reply.hijack();
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers responses unless told not to; events would arrive in bursts.
    'x-accel-buffering': 'no',
  });
  let closed = false;
  const cleanups: Array<() => void> = [];
  const keepAlive =
    options.keepAliveMs === undefined
      ? undefined
      : setInterval(() => {
          if (!closed) raw.write(': keep-alive\n\n');
        }, options.keepAliveMs);
  const stream: EventStream = {
    get closed() {
      return closed;
    },
    send(event, data, id) {
      if (closed) return;
      const idLine = id === undefined ? '' : `id: ${id}\n`;
      raw.write(`${idLine}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    comment(text) {
      if (!closed) raw.write(`: ${text}\n\n`);
    },
    close() {
      if (closed) return;
      closed = true;
      if (keepAlive) clearInterval(keepAlive);
      for (const fn of cleanups.splice(0)) fn();
      raw.end();
    },
    onClose(fn) {
      if (closed) fn();
      else cleanups.push(fn);
    },
  };
  req.raw.on('close', () => stream.close());
  return stream;
}
