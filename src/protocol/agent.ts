/**
 * The SPK blueprint's desktop-agent vocabulary, shared by the coordinator's `check-agent` and the
 * agent's own `GET /health`: the agent's status and its hardware encoder.
 */
export const AGENT_STATUSES = ['ready', 'busy', 'offline'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export const HW_ACCELS = ['nvenc', 'vaapi', 'qsv', 'none'] as const;
export type HwAccel = (typeof HW_ACCELS)[number];

/** The first hardware encoder in an encoder's capabilities (media's detection order), else `none`. */
export function hwAccelOf(hwaccel: readonly string[] | undefined): HwAccel {
  for (const b of hwaccel ?? []) {
    if (b !== 'none' && (HW_ACCELS as readonly string[]).includes(b)) return b as HwAccel;
  }
  return 'none';
}
