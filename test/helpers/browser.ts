import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { packageRoot } from '../../src/paths.js';

/** Headless Chromium as the tests use it (`VIDMESH_CHROMIUM`, default /usr/bin/chromium), autoplay allowed. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.VIDMESH_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/**
 * Serves a page with a `<video id="v">`, hls.js and `script` on `http://localhost:<port>/` (another
 * origin than a coordinator on 127.0.0.1, so CORS is exercised). Returns its URL and a close function.
 */
export async function servePlayerPage(script: string): Promise<{ url: string; close(): Promise<void> }> {
  const hlsJs = await readFile(join(packageRoot(), 'node_modules', 'hls.js', 'dist', 'hls.min.js'));
  const page = createServer((req, res) => {
    if (req.url === '/hls.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(hlsJs);
      return;
    }
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end(
        `<!doctype html><html><body><video id="v" muted playsinline></video><script src="/hls.min.js"></script><script>${script}</script></body></html>`,
      );
  });
  await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
  return {
    url: `http://localhost:${(page.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((r) => page.close(() => r())),
  };
}
