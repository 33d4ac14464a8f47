import type { Command } from 'commander';
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
                `done ${e.jobsCompleted} failed ${e.jobsFailed}  seen ${e.lastSeenAt}`,
            )
            .join('\n') || 'no encoders',
      );
    },
  );
}
