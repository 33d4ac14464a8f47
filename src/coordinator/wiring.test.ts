import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config.js';
import { appOptionsFromConfig, sourceLimitsOf, verificationOf } from './wiring.js';

const config = (env: Record<string, string>) => loadConfig({ env, flags: {} });

test('appOptionsFromConfig: each setting lands where the app reads it', () => {
  const cases: Array<[string, Record<string, string>, (o: ReturnType<typeof appOptionsFromConfig>) => void]> =
    [
      [
        'defaults',
        {},
        (o) => {
          assert.equal(o.refusePrivateUrls, true);
          assert.equal(o.metricsToken, undefined);
          assert.equal(o.mediaOrigin, undefined);
          assert.deepEqual(o.registration, { policy: 'open', allowlist: [] });
          assert.equal(o.rateLimit?.authFailuresPerIp, 30);
        },
      ],
      [
        'no rate limit at 0',
        { VIDMESH_RATE_LIMIT_PER_KEY: '0' },
        (o) => assert.equal(o.rateLimit, undefined),
      ],
      [
        'media origin without its trailing slash',
        { VIDMESH_MEDIA_ORIGIN: 'https://media.example.com/' },
        (o) => assert.equal(o.mediaOrigin, 'https://media.example.com'),
      ],
      [
        'metrics token',
        { VIDMESH_METRICS_TOKEN: 'a-scrape-token-0123456789' },
        (o) => assert.equal(o.metricsToken, 'a-scrape-token-0123456789'),
      ],
      [
        'private networks allowed',
        { VIDMESH_ALLOW_PRIVATE_NETWORKS: 'true' },
        (o) => assert.equal(o.refusePrivateUrls, false),
      ],
      [
        'source limits',
        { VIDMESH_MAX_SOURCE_DURATION_S: '60' },
        (o) => assert.equal(o.sourceLimits?.maxDurationS, 60),
      ],
    ];
  for (const [name, env, check] of cases) {
    try {
      check(appOptionsFromConfig(config(env)));
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }
});

test('verificationOf: on by default with the documented policy; off leaves it out', () => {
  const on = verificationOf(config({ VIDMESH_VERIFY_SAMPLE_RATE: '0.5', VIDMESH_VERIFY_SPOT_SEGMENTS: '1' }));
  assert.equal(on?.policy.sampleRate, 0.5);
  assert.equal(on?.policy.suspendAfter, 2);
  assert.equal(on?.spotSegments, 1);
  assert.equal(on?.minSsim, 0.95);
  assert.equal(verificationOf(config({ VIDMESH_VERIFY: 'off' })), undefined);
  assert.deepEqual(sourceLimitsOf(config({})), appOptionsFromConfig(config({})).sourceLimits);
});
