import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the stand-in coordinator received. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** The raw request body (output uploads are binary). */
  raw: Buffer;
}

/** Answer of a route handler: status and JSON body (undefined = empty), or a file streamed as is. */
export interface Answer {
  status: number;
  body?: unknown;
  file?: string;
}

export type Handler = (req: SeenRequest) => Answer | Promise<Answer>;

/**
 * A minimal coordinator stand-in on a real `node:http` server (port 0), speaking the agent API's wire
 * format, for tests of the HTTP transport and of coordinator outages. Routes are replaceable at run
 * time; every request is recorded.
 */
export async function startStandIn(routes: Record<string, Handler>): Promise<{
  url: string;
  seen: SeenRequest[];
  routes: Record<string, Handler>;
  close(): Promise<void>;
}> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks);
      let body: unknown;
      try {
        const isJson = /json/.test(req.headers['content-type'] ?? '');
        body = raw.length > 0 && isJson ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        body = undefined;
      }
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const r: SeenRequest = { method: req.method ?? 'GET', path, headers: req.headers, body, raw };
      seen.push(r);
      // Exact routes first, then prefix routes written as `METHOD /prefix/*`.
      const key = `${r.method} ${path}`;
      const handler =
        routes[key] ??
        Object.entries(routes).find(([k]) => k.endsWith('*') && key.startsWith(k.slice(0, -1)))?.[1];
      const answer: Answer = handler
        ? await handler(r)
        : { status: 404, body: { code: 'not_found', title: 'Not Found' } };
      if (answer.file) {
        res.writeHead(answer.status, { 'content-type': 'application/octet-stream' });
        createReadStream(answer.file).pipe(res);
        return;
      }
      if (answer.body === undefined) {
        res.writeHead(answer.status).end();
      } else {
        const type = answer.status >= 400 ? 'application/problem+json' : 'application/json';
        res.writeHead(answer.status, { 'content-type': type }).end(JSON.stringify(answer.body));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    routes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
