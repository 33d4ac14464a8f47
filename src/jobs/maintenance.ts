import type { Logger } from '../log.js';
import type { Database, DedicatedConnection } from './db.js';
import type { JobStore } from './store.js';

/** Session advisory lock held by the maintenance leader ("vidmesh" + 2). */
export const LEADER_LOCK_KEY = 0x7669_646d_0002;

export interface MaintenanceOptions {
  /** Tick period, milliseconds (default 5000): leadership attempts and sweeps. */
  intervalMs?: number;
  /** Encoders silent for longer than this go offline, milliseconds (default 90 000). */
  encoderOfflineAfterMs?: number;
  /**
   * A routed job's desktop agent silent for longer than this has gone: its agent window ends and the
   * job moves on to the next routing step, milliseconds (default 15 000; the coordinator passes three
   * heartbeat intervals).
   */
  agentSilentAfterMs?: number;
  /** Delete finished jobs older than this many days; undefined (the default) keeps everything. */
  retentionDays?: number;
  /**
   * A retention sweep with side effects beyond the job store (outputs in storage, docs/outputs.md),
   * run by the leader on each tick; returns the number of jobs it purged.
   */
  retention?: () => Promise<number>;
  log?: Logger;
  /** Called when this process gains or loses leadership. */
  onLeadershipChange?: (isLeader: boolean) => void;
  /**
   * Milliseconds after start during which this process rescues no lease and marks no encoder offline
   * (default 0). A coordinator that was down could not hear renewals or heartbeats: a lease that expired
   * meanwhile may belong to an encoder that is still working, or about to report its cached result.
   * With one lease duration here, expiry effectively counts from when this process could listen.
   * Other processes sharing the database keep their own schedule.
   */
  rescueGraceMs?: number;
}

export interface MaintenanceReport {
  leader: boolean;
  /** True while the start-up grace period ({@link MaintenanceOptions.rescueGraceMs}) held sweeps back. */
  inGrace: boolean;
  rescued: number;
  offline: number;
  /** Jobs whose silent agent's window ended (routing), or whose pin ended (`pinEncoder`). */
  rerouted: number;
  purged: number;
}

export interface Maintenance {
  isLeader(): boolean;
  /** One tick now: try to lead, and when leading run rescue, encoder liveness and retention. */
  runOnce(): Promise<MaintenanceReport>;
  /** Stops the loop and gives up leadership (the lock is released with the connection). */
  stop(): Promise<void>;
}

/**
 * Runs the background loops (lease rescue, encoder liveness, optional retention) on exactly one
 * process among all sharing the database. PostgreSQL: the leader holds `pg_try_advisory_lock` on a
 * dedicated connection; when that connection dies the server drops the lock and another process takes
 * over on its next tick. Every sweep is itself a compare-and-set, so the brief overlap while an old
 * leader notices its loss is harmless. PGlite: one process, always the leader.
 */
export function startMaintenance(
  db: Database,
  store: JobStore,
  options: MaintenanceOptions = {},
): Maintenance {
  const intervalMs = options.intervalMs ?? 5000;
  const offlineAfterMs = options.encoderOfflineAfterMs ?? 90_000;
  const agentSilentAfterMs = options.agentSilentAfterMs ?? 15_000;
  const log = options.log;
  const graceUntil = Date.now() + Math.max(0, options.rescueGraceMs ?? 0);
  let conn: DedicatedConnection | null = null;
  let leader = false;
  let stopped = false;
  let running: Promise<MaintenanceReport> | null = null;
  // After its connection failed, a process stands back for a few ticks so a healthy peer takes over.
  let standBackUntil = 0;

  const setLeader = (value: boolean) => {
    if (value === leader) return;
    leader = value;
    log?.info({ leader }, value ? 'maintenance: became leader' : 'maintenance: lost leadership');
    options.onLeadershipChange?.(value);
  };

  const dropConnection = async () => {
    const c = conn;
    conn = null;
    setLeader(false);
    await c?.release().catch(() => {});
  };

  const ensureLeadership = async (): Promise<boolean> => {
    if (db.driver === 'pglite') {
      setLeader(true);
      return true;
    }
    if (conn?.closed) {
      await dropConnection();
      standBackUntil = Date.now() + 3 * intervalMs;
    }
    if (Date.now() < standBackUntil) return false;
    try {
      conn ??= await db.connect();
      if (leader) {
        // Still alive? A killed backend fails here; its lock is already gone.
        await conn.query('SELECT 1');
        return true;
      }
      const { rows } = await conn.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
        LEADER_LOCK_KEY,
      ]);
      setLeader(rows[0]?.locked === true);
      return leader;
    } catch (err) {
      log?.warn({ err: (err as Error).message }, 'maintenance: leadership connection failed');
      await dropConnection();
      standBackUntil = Date.now() + 3 * intervalMs;
      return false;
    }
  };

  const tick = async (): Promise<MaintenanceReport> => {
    const report: MaintenanceReport = {
      leader: false,
      inGrace: false,
      rescued: 0,
      offline: 0,
      rerouted: 0,
      purged: 0,
    };
    if (!(await ensureLeadership()) || stopped) return report;
    report.leader = true;
    report.inGrace = Date.now() < graceUntil;
    try {
      if (!report.inGrace) {
        report.rescued = (await store.rescueExpired()).length;
        report.offline = (await store.markSilentEncodersOffline(offlineAfterMs)).length;
        report.rerouted = (await store.endSilentAgentSteps(agentSilentAfterMs)).length;
        report.rerouted += (await store.endPins()).length;
      }
      if (options.retentionDays !== undefined) {
        report.purged = await store.purgeFinished(options.retentionDays * 86_400_000);
      }
      if (options.retention) report.purged += await options.retention();
    } catch (err) {
      log?.error({ err }, 'maintenance: sweep failed');
    }
    return report;
  };

  const runOnce = () => {
    running ??= tick().finally(() => {
      running = null;
    });
    return running;
  };

  const timer = setInterval(() => {
    if (!stopped) runOnce().catch(() => {});
  }, intervalMs);
  timer.unref();
  runOnce().catch(() => {});

  return {
    isLeader: () => leader,
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => {});
      await dropConnection();
    },
  };
}
