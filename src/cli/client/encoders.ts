import type { Command } from 'commander';
import { loadConfig, resolveClientTarget } from '../../config.js';
import type { EncoderView } from '../../coordinator/index.js';
import { adminApiCall } from '../keys.js';
import { type ClientFlags, clientFrom, output, withClientOptions } from './common.js';

/** `vidmesh encoders list`: registered encoder nodes with status, capabilities and counters. */
export function register(program: Command): void {
  const encoders = program.command('encoders').description('encoder nodes known to a coordinator');
  withClientOptions(encoders.command('list').description('list encoders')).action(
    async (flags: ClientFlags) => {
      const list = await clientFrom(flags).listEncoders();
      output(
        flags,
        { encoders: list },
        () =>
          list
            .map(
              (e) =>
                `${e.id}  ${e.name.padEnd(20)} ${e.kind.padEnd(14)} ${e.status.padEnd(8)} ` +
                `${e.capabilities.hwaccel.join(',') || '-'} ≤${e.capabilities.maxHeight}p x${e.capabilities.concurrency}  ` +
                `done ${e.jobsCompleted} failed ${e.jobsFailed}  seen ${e.lastSeenAt}` +
                (e.reputation
                  ? `  score ${e.reputation.score.toFixed(2)} (${e.reputation.verifiedPasses}✓/${e.reputation.verifiedFailures}✗)`
                  : '') +
                (e.approval === 'approved' ? '' : `  ${e.approval}`),
            )
            .join('\n') || 'no encoders',
      );
    },
  );
  // Operator decisions on did:key encoders (registration policy `approval`, docs/identity.md).
  for (const [action, what] of [
    ['approve', 'let a pending encoder claim jobs'],
    ['ban', 'refuse an encoder from now on (re-registering does not lift it)'],
    ['reinstate', 'lift a suspension after failed verifications (docs/verification.md)'],
  ] as const) {
    withClientOptions(
      encoders.command(`${action} <id>`).description(`${what}; <id> is its id or DID`),
    ).action(async (id: string, flags: ClientFlags) => {
      const config = loadConfig({ flags: { url: flags.url, apiKey: flags.apiKey, dataDir: flags.dataDir } });
      const r = await adminApiCall<{ encoder: EncoderView }>(
        resolveClientTarget(config),
        'POST',
        `/api/v1/encoders/${encodeURIComponent(id)}/${action}`,
      );
      output(flags, r, () => `${r.encoder.id}  ${r.encoder.did ?? '-'}  ${r.encoder.approval}`);
    });
  }
}
