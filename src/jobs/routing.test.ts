import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_USER_SETTINGS, planRoute, type RouteCandidates, type UserSettings } from './routing.js';

const now = new Date('2026-01-01T00:00:00.000Z');
const windows = { agentWindowMs: 30_000, browserWindowMs: 20_000 };
const agent = { id: 'enc-agent', busy: false };
const browser = { id: 'enc-browser' };

const cases: Array<{
  name: string;
  durationS: number | null;
  settings?: Partial<UserSettings>;
  candidates: RouteCandidates;
  steps: string[];
  browserAt: string | null;
  openAt: string | null;
}> = [
  {
    name: 'agent idle, short job, browser online: agent 30 s, browser 20 s, then open',
    durationS: 30,
    candidates: { agent, browser },
    steps: ['agent:enc-agent', 'browser:enc-browser', 'open'],
    browserAt: '2026-01-01T00:00:30.000Z',
    openAt: '2026-01-01T00:00:50.000Z',
  },
  {
    name: 'agent offline: browser first for a short job',
    durationS: 30,
    candidates: { agent: null, browser },
    steps: ['agent-offline', 'browser:enc-browser', 'open'],
    browserAt: '2026-01-01T00:00:00.000Z',
    openAt: '2026-01-01T00:00:20.000Z',
  },
  {
    name: 'agent busy and job too long for a browser: open at once',
    durationS: 300,
    candidates: { agent: { id: 'enc-agent', busy: true }, browser },
    steps: ['agent-busy', 'browser-not_short', 'open'],
    browserAt: null,
    openAt: null,
  },
  {
    name: 'unknown duration is never offered to a browser',
    durationS: null,
    candidates: { agent, browser },
    steps: ['agent:enc-agent', 'browser-not_short', 'open'],
    browserAt: null,
    openAt: '2026-01-01T00:00:30.000Z',
  },
  {
    name: 'a 120 s job is not short (the limit is under 2 minutes)',
    durationS: 120,
    candidates: { agent: null, browser },
    steps: ['agent-offline', 'browser-not_short', 'open'],
    browserAt: null,
    openAt: null,
  },
  {
    name: 'settings turn both own steps off',
    durationS: 30,
    settings: { preferOwnAgent: false, allowBrowser: false },
    candidates: { agent, browser },
    steps: ['agent-disabled', 'browser-disabled', 'open'],
    browserAt: null,
    openAt: null,
  },
  {
    name: 'nothing of the user online: open at once',
    durationS: 30,
    candidates: { agent: null, browser: null },
    steps: ['agent-offline', 'browser-offline', 'open'],
    browserAt: null,
    openAt: null,
  },
];

for (const c of cases) {
  test(`planRoute: ${c.name}`, () => {
    const plan = planRoute({
      now,
      durationS: c.durationS,
      settings: { ...DEFAULT_USER_SETTINGS, ...c.settings },
      candidates: c.candidates,
      windows,
    });
    assert.deepEqual(
      plan.steps.map((s) =>
        'skipped' in s ? `${s.step}-${s.skipped}` : 'encoderId' in s ? `${s.step}:${s.encoderId}` : s.step,
      ),
      c.steps,
    );
    assert.equal(plan.browserAt?.toISOString() ?? null, c.browserAt);
    assert.equal(plan.openAt?.toISOString() ?? null, c.openAt);
    // The agent whose silence ends its window is the one its step was offered to, else none.
    const agentStep = plan.steps.find((s) => s.step === 'agent' && 'encoderId' in s);
    assert.equal(plan.agentId, agentStep && 'encoderId' in agentStep ? agentStep.encoderId : null);
  });
}

test('planRoute: the open step says whether community encoders may claim', () => {
  const plan = planRoute({
    now,
    durationS: 10,
    settings: { ...DEFAULT_USER_SETTINGS, allowCommunity: false },
    candidates: { agent: null, browser: null },
    windows,
  });
  assert.deepEqual(plan.steps.at(-1), { step: 'open', from: now.toISOString(), community: false });
  assert.equal(plan.allowCommunity, false);
});
