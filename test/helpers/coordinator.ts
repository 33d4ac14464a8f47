import { type ConfigFlags, loadConfig } from '../../src/config.js';
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/serve.js';

/**
 * `vidmesh serve`'s coordinator for a test: a free port on 127.0.0.1, no in-process encoder, silent
 * logs, its data under `dataDir` (PGlite there unless `flags.databaseUrl`). `flags` add or override
 * settings; `env` is the whole environment it reads (empty by default, so the test's own
 * environment never leaks in).
 */
export function startTestCoordinator(
  dataDir: string,
  flags: ConfigFlags = {},
  env: NodeJS.ProcessEnv = {},
): Promise<RunningCoordinator> {
  return startCoordinator(
    loadConfig({
      flags: { port: 0, host: '127.0.0.1', dataDir, encoders: 0, logLevel: 'silent', ...flags },
      env,
    }),
  );
}

/**
 * Creates an API key of `tenant` with `scopes` through the coordinator's bootstrap admin key.
 * Resolves its plaintext; throws when the coordinator refuses.
 */
export async function createTenantKey(
  coordinator: { url: string; apiKey: string },
  tenant: string,
  scopes: string[] = ['submit', 'read'],
): Promise<string> {
  const r = await fetch(`${coordinator.url}/api/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${coordinator.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ scopes, tenant, name: tenant }),
  });
  if (r.status !== 201) throw new Error(`creating a key of ${tenant}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { plaintext: string }).plaintext;
}
