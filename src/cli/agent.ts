import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadOrCreatePairingToken, startAgent } from '../agent/index.js';
import { loadConfig, resolveClientTarget, storageContextFor } from '../config.js';
import { ValidationError } from '../errors.js';
import { resolveEncoderIdentity, signPairingProof } from '../identity/index.js';
import { createLogger } from '../log.js';
import { packageRoot } from '../paths.js';

interface AgentFlags {
  coordinator?: string;
  user?: string;
  agentOrigin?: string;
  agentPort?: string;
  hwaccel?: string;
  dataDir?: string;
  apiKey?: string;
  ipfsApi?: string;
  onRequest?: boolean;
}

/** The agent's own did:key: `ENCODER_PRIVATE_KEY`, else `<dataDir>/agent-key` (0600, created once). */
const agentIdentity = (dataDir: string) =>
  resolveEncoderIdentity({ keyFile: join(dataDir, 'agent-key'), env: process.env });

function agentConfig(flags: AgentFlags) {
  return loadConfig({
    flags: {
      coordinator: flags.coordinator,
      user: flags.user,
      agentOrigin: flags.agentOrigin,
      agentPort: flags.agentPort,
      hwaccel: flags.hwaccel,
      dataDir: flags.dataDir,
      apiKey: flags.apiKey,
    },
  });
}

function requireUser(user: string | undefined): string {
  if (!user)
    throw new ValidationError('--user (or VIDMESH_AGENT_USER) is required: the user this agent works for');
  return user;
}

/**
 * `vidmesh agent`: the desktop agent (docs/encoders.md).
 * - `vidmesh agent pair --user U --coordinator URL --api-key KEY`: pairs this install's did:key with
 *   user U (a key of U's tenant with the `submit` scope) and prints the pairing token for the web app;
 * - `vidmesh agent --user U --coordinator URL [--agent-origin ORIGIN]`: runs until SIGTERM/SIGINT;
 * - `vidmesh agent token`: prints the pairing token again.
 */
export function register(program: Command): void {
  const common = (c: Command) =>
    c
      .option('--coordinator <urls>', 'coordinator URL(s) (env VIDMESH_COORDINATORS, else VIDMESH_URL)')
      .option('--user <name>', 'the user this agent works for (env VIDMESH_AGENT_USER)')
      .option('--data-dir <dir>', 'data directory (env VIDMESH_DATA_DIR, default ./.vidmesh)');
  const agent = common(
    program
      .command('agent')
      .description(
        "Run the desktop agent: encode one user's jobs on this machine, local API on 127.0.0.1:3002",
      ),
  )
    .option(
      '--agent-origin <origin>',
      'web app origin allowed to call the local API (env VIDMESH_AGENT_ORIGIN)',
    )
    .option('--agent-port <port>', 'local API port (env VIDMESH_AGENT_PORT, default 3002)')
    .option('--hwaccel <mode>', 'auto | none | nvenc | vaapi | qsv (env VIDMESH_HWACCEL, default auto)')
    .option('--ipfs-api <url>', 'kubo RPC URL whose reachability /health reports as ipfsConnected')
    .option('--on-request', 'claim only when the web app asks (POST /claim), not as jobs come')
    .action(async (flags: AgentFlags) => runAgent(flags));

  common(agent.command('pair').description("pair this agent's did:key with a user; prints the pairing token"))
    .option('--api-key <key>', 'a key of the user’s tenant with the submit scope (env VIDMESH_API_KEY)')
    // The parent `agent` shares --user/--coordinator/--data-dir: commander may have parsed them there.
    .action(async (_flags: AgentFlags, cmd: Command) => {
      const config = agentConfig(cmd.optsWithGlobals<AgentFlags>());
      const user = requireUser(config.agentUser);
      const target = resolveClientTarget(
        config.coordinators.length > 0 ? { ...config, url: config.coordinators[0] } : config,
      );
      if (!target.apiKey) throw new ValidationError('--api-key (or VIDMESH_API_KEY) is required to pair');
      const identity = await agentIdentity(config.dataDir);
      const auth = { authorization: `Bearer ${target.apiKey}` };
      // The proof names the key's tenant (only that tenant may use it): ask the coordinator which it is.
      const claimsUrl = new URL('/api/v1/agent/pairings/claims', target.url);
      claimsUrl.searchParams.set('user', user);
      const asked = await fetch(claimsUrl, { headers: auth });
      const claims = (await asked.json().catch(() => ({}))) as {
        tenant?: string;
        detail?: string;
        code?: string;
      };
      if (asked.status !== 200 || typeof claims.tenant !== 'string') {
        throw new ValidationError(
          `pairing refused (${asked.status} ${claims.code ?? ''}): ${claims.detail ?? ''}`,
        );
      }
      const proof = await signPairingProof(identity, { tenant: claims.tenant, user });
      const res = await fetch(new URL('/api/v1/agent/pairings', target.url), {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ did: identity.did, user, proof }),
      });
      const body = (await res.json().catch(() => ({}))) as { detail?: string; code?: string };
      if (res.status !== 201) {
        throw new ValidationError(`pairing refused (${res.status} ${body.code ?? ''}): ${body.detail ?? ''}`);
      }
      const token = await loadOrCreatePairingToken(config.dataDir);
      process.stdout.write(
        `paired ${identity.did} with ${user}\npairing token (paste it into the web app): ${token}\n`,
      );
    });

  common(agent.command('token').description('print the pairing token (created on first use)')).action(
    async (_flags: AgentFlags, cmd: Command) => {
      const config = agentConfig(cmd.optsWithGlobals<AgentFlags>());
      process.stdout.write(`${await loadOrCreatePairingToken(config.dataDir)}\n`);
    },
  );
}

async function runAgent(flags: AgentFlags): Promise<void> {
  const config = agentConfig(flags);
  const user = requireUser(config.agentUser);
  const log = createLogger({ name: 'vidmesh-agent', level: config.logLevel, format: config.logFormat });
  const version = (
    JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
  ).version;
  const target = resolveClientTarget(
    config.coordinators.length > 0 ? { ...config, url: config.coordinators[0] } : config,
  );
  const urls = config.coordinators.length > 0 ? config.coordinators : target.url;
  const identity = await agentIdentity(config.dataDir);
  const token = await loadOrCreatePairingToken(config.dataDir);
  const allowedOrigin = config.agentOrigin ?? new URL(target.url).origin;
  const agent = await startAgent({
    coordinator: urls,
    identity,
    user,
    allowedOrigin,
    token,
    dataDir: config.dataDir,
    storage: storageContextFor(config, { log, publicUrl: config.publicUrl ?? target.url }),
    version,
    hwaccel: config.hwaccel,
    port: config.agentPort,
    ...(flags.ipfsApi ? { ipfsApiUrl: flags.ipfsApi } : {}),
    autoClaim: flags.onRequest !== true,
    log,
    progressIntervalMs: Math.min(config.heartbeatMs, 5000),
    heartbeatIntervalMs: config.heartbeatMs,
  });
  log.info({ url: agent.url, did: identity.did, user, allowedOrigin }, 'desktop agent listening');
  const stopped = new Promise<void>((resolve) => {
    const onSignal = () => void agent.stop().then(resolve);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  try {
    await agent.node.ready;
  } catch (err) {
    await agent.stop();
    throw err;
  }
  await stopped;
}
