import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The embedded IPFS store's pin list (`<blockstoreDir>/pins.json`, a JSON array of root CIDs): roots
 * added with `pin=true` through the kubo RPC subset (docs/3speak.md) or pinned by `pin/add`. Garbage
 * collection keeps every block reachable from them (storage cleanup). Writes are serialised in this
 * process and atomic (temp file + rename).
 */
function pinsPath(dir: string): string {
  return join(dir, 'pins.json');
}

/** The pinned root CIDs (empty when there is no list yet or it does not parse). */
export async function readPins(dir: string): Promise<Set<string>> {
  try {
    return new Set(JSON.parse(await readFile(pinsPath(dir), 'utf8')) as string[]);
  } catch {
    return new Set();
  }
}

let pinWrite: Promise<void> = Promise.resolve();
function updatePins(dir: string, change: (pins: Set<string>) => void): Promise<void> {
  pinWrite = pinWrite
    .catch(() => undefined)
    .then(async () => {
      const pins = await readPins(dir);
      change(pins);
      await mkdir(dir, { recursive: true });
      const tmp = `${pinsPath(dir)}.${randomUUID()}.tmp`;
      await writeFile(tmp, JSON.stringify([...pins]));
      await rename(tmp, pinsPath(dir));
    });
  return pinWrite;
}

/** Pins `cid` (a root CID string). */
export function addPin(dir: string, cid: string): Promise<void> {
  return updatePins(dir, (pins) => pins.add(cid));
}

/** Unpins each of `cids` (those not pinned are ignored). */
export function removePins(dir: string, cids: Iterable<string>): Promise<void> {
  const drop = [...cids];
  return updatePins(dir, (pins) => {
    for (const c of drop) pins.delete(c);
  });
}
