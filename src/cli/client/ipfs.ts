import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, resolveClientTarget } from '../../config.js';
import { ApiError, CoordinatorUnreachableError } from '../../coordinator/index.js';
import { ValidationError } from '../../errors.js';
import { type ClientFlags, output, withClientOptions } from './common.js';

/** One line of kubo's `add` answer (newline-delimited JSON, kubo RPC docs `/api/v0/add`). */
interface AddLine {
  Name?: string;
  Hash?: string;
  Size?: string;
}

/**
 * `vidmesh ipfs add FILE`: adds a file to the embedded IPFS store of a `vidmesh serve
 * --threespeak-gateway` (kubo `POST /api/v0/add`, multipart, with the admin API key), so the operator
 * can seed a 3Speak job's source (`ipfs://CID`). Prints the CID.
 */
export function register(program: Command): void {
  const ipfs = program.command('ipfs').description("the coordinator's embedded IPFS store (3Speak gateway)");
  withClientOptions(
    ipfs.command('add <file>').description('add a file; prints its CID (needs an admin API key)'),
  ).action(async (file: string, flags: ClientFlags) => {
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) throw new ValidationError(`${file} is not a readable file`);
    const config = loadConfig({ flags: { url: flags.url, apiKey: flags.apiKey, dataDir: flags.dataDir } });
    const target = resolveClientTarget(config);
    const form = new FormData();
    form.append('file', await openAsBlob(file), basename(file));
    let res: Response;
    try {
      res = await fetch(`${target.url.replace(/\/+$/, '')}/api/v0/add`, {
        method: 'POST',
        headers: target.apiKey ? { authorization: `Bearer ${target.apiKey}` } : {},
        body: form,
      });
    } catch (err) {
      throw new CoordinatorUnreachableError(`cannot reach the coordinator at ${target.url}`, { cause: err });
    }
    const text = await res.text();
    if (!res.ok) {
      // kubo errors are `{Message, Code, Type}`.
      let detail = text;
      try {
        detail = String((JSON.parse(text) as { Message?: unknown }).Message ?? text);
      } catch {}
      throw new ApiError({ status: res.status, detail: `ipfs add: ${detail}` });
    }
    const lines = text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AddLine);
    const cid = lines.at(-1)?.Hash;
    if (!cid) throw new ApiError({ status: 502, detail: 'ipfs add: no CID in the answer' });
    output(flags, { cid, name: basename(file), bytes: info.size, uri: `ipfs://${cid}` }, () => cid);
  });
}
