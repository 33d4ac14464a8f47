/**
 * Hybrid routing (SPK blueprint, issue #16): where a user's job is offered, in order:
 * 1. the user's own desktop agent, for `agentWindowMs`, when it is online and idle and the user
 *    prefers it;
 * 2. the user's browser encoder, for `browserWindowMs`, when the job is short (duration known and
 *    below {@link BROWSER_MAX_DURATION_S}), the user allows it and a browser encoder of theirs is online;
 * 3. everyone else: operator and tenant encoders, and community encoders if the user allows them.
 *
 * The plan is fixed at submit as two times on the job (`route_browser_at`, `route_open_at`) that the
 * claim statement compares with its clock, so routing adds no statement to a claim and no loop that
 * must advance it; the steps are written to the job's events (reason `routed`). The user's own agent
 * may claim at any step. Pure: no I/O.
 */

/** The blueprint's limit of browser encoding: videos under 2 minutes. */
export const BROWSER_MAX_DURATION_S = 120;

/** A user's routing settings (`GET/PATCH /api/v1/settings/:user`); users without a row get the defaults. */
export interface UserSettings {
  preferOwnAgent: boolean;
  allowBrowser: boolean;
  allowCommunity: boolean;
  /** Highest price the user pays a community encoder per job (market units); null: no limit. */
  maxPrice: number | null;
}

export const DEFAULT_USER_SETTINGS: Readonly<UserSettings> = {
  preferOwnAgent: true,
  allowBrowser: true,
  allowCommunity: true,
  maxPrice: null,
};

/** The user's own encoders as the registry sees them at submit. */
export interface RouteCandidates {
  /** An online, approved desktop agent of the user. */
  agent: { id: string; busy: boolean } | null;
  /** An online, approved browser encoder of the user. */
  browser: { id: string } | null;
}

export interface RoutingWindows {
  /** How long the user's agent has the job to itself, ms (default 30 000). */
  agentWindowMs: number;
  /** How long the user's browser encoder has it next, ms (default 30 000). */
  browserWindowMs: number;
  /**
   * How long a pinned job ("Encode here", `pinEncoder`) is held for its encoder before the pin ends,
   * ms (default 300 000); the plan's other steps start then.
   */
  pinWindowMs?: number;
}

export type RouteStepName = 'pin' | 'agent' | 'browser' | 'open';

/** One step of a plan as written to the `routed` event; times ISO 8601. */
export type RouteStep =
  | { step: 'agent' | 'browser'; encoderId: string; from: string; until: string }
  | { step: 'agent' | 'browser'; skipped: 'disabled' | 'offline' | 'busy' | 'not_short' }
  | { step: 'open'; from: string; community: boolean }
  /** A pinned job's first step: only `encoderId` until `until`; `fallback` what happens when it ends. */
  | { step: 'pin'; encoderId: string; from: string; until: string; fallback: 'route' | 'fail' };

export interface RoutePlan {
  /** When the user's browser encoder may claim; null: only with everyone else (from `openAt`). */
  browserAt: Date | null;
  /** When everyone else may claim; null: at once. */
  openAt: Date | null;
  allowBrowser: boolean;
  allowCommunity: boolean;
  /** The desktop agent offered the agent step (null: no agent step); its silence ends the step early. */
  agentId: string | null;
  steps: RouteStep[];
}

/**
 * The routing plan of a job of a user, submitted at `now`. `durationS` is the source duration in
 * seconds when known (an unknown duration is never offered to a browser).
 */
export function planRoute(input: {
  now: Date;
  durationS: number | null;
  settings: UserSettings;
  candidates: RouteCandidates;
  windows: RoutingWindows;
}): RoutePlan {
  const { now, settings, candidates, windows } = input;
  const steps: RouteStep[] = [];
  let t = now.getTime();
  let agentId: string | null = null;
  const iso = (ms: number) => new Date(ms).toISOString();

  if (!settings.preferOwnAgent) steps.push({ step: 'agent', skipped: 'disabled' });
  else if (!candidates.agent) steps.push({ step: 'agent', skipped: 'offline' });
  else if (candidates.agent.busy) steps.push({ step: 'agent', skipped: 'busy' });
  else if (windows.agentWindowMs > 0) {
    agentId = candidates.agent.id;
    steps.push({
      step: 'agent',
      encoderId: candidates.agent.id,
      from: iso(t),
      until: iso(t + windows.agentWindowMs),
    });
    t += windows.agentWindowMs;
  }

  let browserAt: Date | null = null;
  const short = input.durationS !== null && input.durationS < BROWSER_MAX_DURATION_S;
  if (!settings.allowBrowser) steps.push({ step: 'browser', skipped: 'disabled' });
  else if (!short) steps.push({ step: 'browser', skipped: 'not_short' });
  else if (!candidates.browser) steps.push({ step: 'browser', skipped: 'offline' });
  else if (windows.browserWindowMs > 0) {
    browserAt = new Date(t);
    steps.push({
      step: 'browser',
      encoderId: candidates.browser.id,
      from: iso(t),
      until: iso(t + windows.browserWindowMs),
    });
    t += windows.browserWindowMs;
  }

  steps.push({ step: 'open', from: iso(t), community: settings.allowCommunity });
  return {
    browserAt,
    openAt: t > now.getTime() ? new Date(t) : null,
    allowBrowser: settings.allowBrowser,
    allowCommunity: settings.allowCommunity,
    agentId,
    steps,
  };
}
