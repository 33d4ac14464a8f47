/**
 * A test client speaking the 3Speak legacy gateway protocol exactly as the 3Speak encoder does
 * (Mantequilla-Soft/3speakencoder fdf0111 `GatewayClient` + `IdentityService` + `IPFSService`):
 * a `dids` DID from `key-did-provider-ed25519`, `{ jws: await did.createJWS(payload) }` bodies, and
 * kubo `add?wrap-with-directory=true&recursive=true` with one multipart part per file named by its
 * relative path.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { DID } from 'dids';
import { Ed25519Provider } from 'key-did-provider-ed25519';
import * as KeyResolver from 'key-did-resolver';

export interface Reply {
  status: number;
  body: unknown;
}

export class LegacyClient {
  private constructor(
    readonly base: string,
    readonly did: DID,
  ) {}

  static async create(base: string, seed: Uint8Array = randomBytes(32)): Promise<LegacyClient> {
    const did = new DID({ provider: new Ed25519Provider(seed), resolver: KeyResolver.getResolver() });
    await did.authenticate();
    return new LegacyClient(base, did);
  }

  /** The legacy client's User-Agent (GatewayClient); a test may set another (a fork, a proxy). */
  userAgent = '3Speak-Encoder-Modern/1.0.0';

  get id(): string {
    return this.did.id;
  }

  async post(path: string, payload: Record<string, unknown>): Promise<Reply> {
    const jws = await this.did.createJWS(payload);
    const res = await fetch(new URL(path, this.base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': this.userAgent },
      body: JSON.stringify({ jws }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  async get(path: string): Promise<Reply> {
    const res = await fetch(new URL(path, this.base));
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  updateNode(name: string): Promise<Reply> {
    return this.post('/api/v0/gateway/updateNode', {
      node_info: { name, cryptoAccounts: { hive: 'testuser' }, peer_id: '', commit_hash: 'test' },
    });
  }

  myJob(): Promise<Reply> {
    return this.post('/api/v0/gateway/myJob', { timestamp: new Date().toISOString() });
  }

  acceptJob(jobId: string): Promise<Reply> {
    return this.post('/api/v0/gateway/acceptJob', { job_id: jobId });
  }

  pingJob(jobId: string, progress: number, downloadPct: number): Promise<Reply> {
    return this.post('/api/v0/gateway/pingJob', {
      job_id: jobId,
      progressPct: Math.max(1.0, progress),
      download_pct: downloadPct,
    });
  }

  finishJob(jobId: string, cid: string): Promise<Reply> {
    return this.post('/api/v0/gateway/finishJob', { job_id: jobId, output: { cid } });
  }

  /** kubo `add` of every file under `dir`; returns the wrapper directory's hash as the encoder picks it. */
  async addDirectory(dir: string): Promise<{ cid: string; lines: Array<{ Name: string; Hash: string }> }> {
    const form = new FormData();
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    for (const e of entries) {
      if (!e.isFile()) continue;
      const abs = join(e.parentPath, e.name);
      const rel = relative(dir, abs).split(sep).join('/');
      form.append('file', new Blob([await readFile(abs)]), rel);
    }
    const res = await fetch(new URL('/api/v0/add?wrap-with-directory=true&recursive=true', this.base), {
      method: 'POST',
      body: form,
    });
    if (res.status !== 200) throw new Error(`add failed: ${res.status} ${await res.text()}`);
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { Name: string; Hash: string });
    const root = lines.filter((l) => l.Name === '' || !l.Name).pop();
    if (!root) throw new Error('no directory hash in the add response');
    return { cid: root.Hash, lines };
  }
}
