import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, normalize } from 'node:path';

/** A request the receiver answered with a JSON body (webhooks, notification callbacks). */
export interface ReceivedJson {
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/**
 * A local HTTP receiver on 127.0.0.1 for tests: `PUT`/`POST` of a non-JSON body stores it under
 * `root` at the request path (an HTTP destination); a JSON `POST` is kept in `json` (webhooks,
 * notification callbacks; `settle` waits for them); `GET` serves files under `root` (an HTTP source).
 * Paths under a prefix in `refuse` answer 403 to writes while it is set (a destination that rejects).
 */
export async function startReceiver(root: string): Promise<{
  url: string;
  json: ReceivedJson[];
  refuse: Set<string>;
  /**
   * Waits until `done(json)` holds for the JSON requests received so far (checked every 100 ms), at
   * most `timeoutMs` (default 20 000); resolves with them either way, so the caller's assertions
   * say what is missing. For callbacks that arrive after the request that caused them.
   */
  settle(done: (json: readonly ReceivedJson[]) => boolean, timeoutMs?: number): Promise<ReceivedJson[]>;
  close(): Promise<void>;
}> {
  const json: ReceivedJson[] = [];
  const refuse = new Set<string>();
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = join(root, normalize(path).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(root)) {
      res.writeHead(400).end();
      return;
    }
    const parts: Buffer[] = [];
    for await (const chunk of req) parts.push(chunk as Buffer);
    const body = Buffer.concat(parts);
    if (req.method === 'GET') {
      const data = await readFile(file).catch(() => undefined);
      if (!data) res.writeHead(404).end();
      else res.writeHead(200, { 'content-length': data.length }).end(data);
      return;
    }
    if (req.method === 'POST' && (req.headers['content-type'] ?? '').startsWith('application/json')) {
      json.push({ path, headers: req.headers, body: JSON.parse(body.toString('utf8')) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    if ([...refuse].some((p) => path.startsWith(p))) {
      res.writeHead(403).end();
      return;
    }
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, body);
    res.writeHead(201).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    json,
    refuse,
    async settle(done, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(json) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return [...json];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
