import { join } from 'node:path';
import { type DesktopAgent, loadOrCreatePairingToken, startAgent } from '../../src/agent/index.js';
import { createHttpTransport, type EncoderTransport } from '../../src/encoder/index.js';
import { type Identity, signPairingProof } from '../../src/identity/index.js';

/**
 * Pairs `identity` with `user` of the tenant of `apiKey` as `vidmesh agent pair` does: asks the
 * coordinator which tenant the key is of (`GET /agent/pairings/claims`), signs the proof for it and
 * posts it. Resolves the pairing answer (201 when paired); throws when the claims cannot be read.
 */
export async function pairAgent(
  coordinatorUrl: string,
  apiKey: string,
  identity: Identity,
  user: string,
): Promise<Response> {
  const auth = { authorization: `Bearer ${apiKey}` };
  const asked = await fetch(
    `${coordinatorUrl}/api/v1/agent/pairings/claims?user=${encodeURIComponent(user)}`,
    { headers: auth },
  );
  if (asked.status !== 200) throw new Error(`pairing claims: ${asked.status} ${await asked.text()}`);
  const { tenant } = (await asked.json()) as { tenant: string };
  return fetch(`${coordinatorUrl}/api/v1/agent/pairings`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      did: identity.did,
      user,
      proof: await signPairingProof(identity, { tenant, user }),
    }),
  });
}

/**
 * A desktop agent of an already paired `identity` for `user`, in `dir` (its data, pairing token and
 * storage, which reaches no private address: only the coordinator through lease-bound URLs), with the
 * short intervals tests want: hwaccel none, any free local port, heartbeats every second. Resolves once
 * it registered, with its pairing token. The caller stops it.
 */
export async function startTestAgent(options: {
  coordinatorUrl: string;
  identity: Identity;
  user: string;
  dir: string;
  /** The web app origin the local API answers. */
  allowedOrigin: string;
  autoClaim: boolean;
  claimWaitMs?: number;
}): Promise<{ agent: DesktopAgent; token: string }> {
  const { dir } = options;
  const token = await loadOrCreatePairingToken(dir);
  const agent = await startAgent({
    coordinator: options.coordinatorUrl,
    identity: options.identity,
    user: options.user,
    allowedOrigin: options.allowedOrigin,
    token,
    dataDir: dir,
    storage: {
      localRoot: join(dir, 'media'),
      fileRoots: [],
      ssrf: {},
      ipfs: { blockstoreDir: join(dir, 'ipfs') },
    },
    version: '0.0.0-test',
    hwaccel: 'none',
    port: 0,
    heartbeatIntervalMs: 1000,
    progressIntervalMs: 300,
    ...(options.claimWaitMs ? { claimWaitMs: options.claimWaitMs } : {}),
    autoClaim: options.autoClaim,
  });
  try {
    await agent.node.ready;
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return { agent, token };
}

/** An encoder a routing test drives by hand: its signed HTTP transport and registered id. */
export interface Hand {
  transport: EncoderTransport;
  id: string;
}

/**
 * Registers an encoder of `kind` named `name` at the coordinator at `url`, signing as `auth` (a did:key
 * identity or an API key), with software H.264/AAC capabilities up to 2160p (plus `extraCaps`), and
 * hands back its transport so the test claims exactly as that encoder would.
 */
export async function registerHand(
  url: string,
  name: string,
  kind: 'desktop' | 'browser' | 'community' | 'infrastructure',
  auth: { identity: Identity } | { apiKey: string },
  extraCaps: Record<string, unknown> = {},
): Promise<Hand> {
  const transport = createHttpTransport({ url, ...auth });
  const { encoderId } = await transport.register({
    name,
    kind,
    version: '0.0.0-test',
    capabilities: {
      codecs: ['h264', 'aac'],
      hwaccel: [],
      maxHeight: 2160,
      concurrency: 1,
      tags: [],
      ...extraCaps,
    },
  });
  return { transport, id: encoderId };
}
