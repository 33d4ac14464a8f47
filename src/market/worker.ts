import type { Logger } from '../log.js';
import type { Market } from './market.js';
import type { HiveRail } from './rail.js';

/**
 * The marketplace's background work on one coordinator: a settlement pass, a Hive deposit poll and a
 * payout pass every `intervalMs` on the leader, and a settlement pass soon after `kick()` (a job
 * transition) on any coordinator: settlement is idempotent and row-locked, so running it anywhere is
 * safe; the Hive rail runs only on the leader, so one process signs and broadcasts.
 */
export function startMarketWorker(options: {
  market: Market;
  rail?: HiveRail;
  isLeader: () => boolean;
  intervalMs: number;
  log?: Logger;
}) {
  const { market, rail, log } = options;
  let running: Promise<void> | undefined;
  let again = false;
  let againPayouts = false;
  let stopped = false;

  const pass = async (full: boolean, payouts: boolean) => {
    const settled = await market.settle();
    if (!rail || !options.isLeader()) return;
    if (full) await rail.pollDeposits();
    if (full || payouts || settled.some((s) => s.payoutId)) await rail.processPayouts();
  };
  const run = (full: boolean, payouts = false) => {
    if (stopped) return;
    if (running) {
      again = true;
      againPayouts ||= payouts;
      return;
    }
    running = pass(full, payouts)
      .catch((err: unknown) => log?.error({ err }, 'market: background pass failed'))
      .finally(() => {
        running = undefined;
        if (again) {
          const p = againPayouts;
          again = false;
          againPayouts = false;
          run(false, p);
        }
      });
  };
  const timer = setInterval(() => run(true), options.intervalMs);
  timer.unref();
  return {
    /** A job changed state: settle soon. */
    kick: () => run(false),
    /** A payout was queued (a withdrawal): pay it soon (on the leader; elsewhere the timer's pass does). */
    kickPayouts: () => run(false, true),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
export type MarketWorker = ReturnType<typeof startMarketWorker>;
