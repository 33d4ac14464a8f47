import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Job, WebhookDelivery } from '../jobs/index.js';
import { jobView } from './views.js';
import { webhookBody } from './webhooks/payload.js';

const T = new Date('2026-01-01T00:00:00Z');
const PUBLIC = 'https://coord.example';

/** A completed job whose ladder was published to a `local` destination with `prefix`. */
function completedJob(spec: unknown, result: unknown): Job {
  return {
    id: 'job-1',
    shortId: 'j1',
    network: 'private',
    speed: null,
    fps: null,
    tenant: 'default',
    owner: null,
    protocol: 'vidmesh',
    spec,
    metadata: {},
    status: 'completed',
    stage: null,
    progress: 100,
    etaS: null,
    queue: 'default',
    priority: 'medium',
    requirements: { codecs: [], tags: [], preferredKinds: [] },
    attempts: 1,
    maxAttempts: 5,
    runAfter: T,
    lease: null,
    encoderId: 'enc-1',
    result,
    lastError: null,
    renditions: [
      { name: '1080p', status: 'skipped', progress: 0, result: null, error: null },
      { name: '720p', status: 'completed', progress: 100, result: null, error: null },
    ],
    createdAt: T,
    updatedAt: T,
    claimedAt: T,
    finishedAt: T,
  };
}

const RESULT = {
  renditions: [{ name: '720p', width: 1280, height: 720, bandwidth: 3e6, playlist: '720p/index.m3u8' }],
  // What a remote encoder reports: the PUT URL it uploaded to, prefix included.
  masterUrl: 'http://10.0.0.5:8080/media/job-1/shows/ep1/master.m3u8',
  posterUrl: 'http://10.0.0.5:8080/media/job-1/shows/ep1/poster.jpg',
  publish: { type: 'http', files: [] },
  encode: { backend: 'libx264', fallbacks: [], wallS: 2, speed: 5 },
};

describe('media URLs of local destinations with a prefix (bug 3)', () => {
  it('job view: master, poster and rendition URLs keep the prefix', () => {
    const job = completedJob(
      { source: { type: 'http' }, destination: { type: 'local', prefix: 'shows/ep1' } },
      RESULT,
    );
    const view = jobView(job, PUBLIC);
    assert.equal(view.result?.masterUrl, `${PUBLIC}/media/job-1/shows/ep1/master.m3u8`);
    assert.equal(view.result?.posterUrl, `${PUBLIC}/media/job-1/shows/ep1/poster.jpg`);
    assert.equal(view.result?.renditions[0]?.url, `${PUBLIC}/media/job-1/shows/ep1/720p/index.m3u8`);
    assert.equal(view.links.master, `${PUBLIC}/media/job-1/shows/ep1/master.m3u8`);
    // Bug 5: a rendition above the source shows as skipped, not as pending.
    assert.deepEqual(
      view.renditions.map((r) => `${r.name}:${r.status}`),
      ['720p:completed', '1080p:skipped'],
    );
  });

  it('job view without a prefix is unchanged', () => {
    const view = jobView(completedJob({ destination: { type: 'local' } }, RESULT), PUBLIC);
    assert.equal(view.result?.masterUrl, `${PUBLIC}/media/job-1/master.m3u8`);
    assert.equal(view.result?.renditions[0]?.url, `${PUBLIC}/media/job-1/720p/index.m3u8`);
  });

  it('webhook job.completed payload keeps the prefix', () => {
    const delivery = {
      id: 7,
      jobId: 'job-1',
      event: 'job.completed',
      createdAt: T,
      payload: {
        jobId: 'job-1',
        at: T.toISOString(),
        destinationType: 'local',
        destinationPrefix: 'shows/ep1',
        result: RESULT,
      },
    } as unknown as WebhookDelivery;
    const body = JSON.parse(webhookBody(delivery, PUBLIC)) as {
      data: {
        masterUrl: string;
        posterUrl: string;
        renditions: Array<{ url: string }>;
        destinationPrefix?: string;
      };
    };
    assert.equal(body.data.masterUrl, `${PUBLIC}/media/job-1/shows/ep1/master.m3u8`);
    assert.equal(body.data.posterUrl, `${PUBLIC}/media/job-1/shows/ep1/poster.jpg`);
    assert.equal(body.data.renditions[0]?.url, `${PUBLIC}/media/job-1/shows/ep1/720p/index.m3u8`);
    assert.equal(body.data.destinationPrefix, undefined, 'internal field, not part of the payload');
  });
});

describe('typed result read from stored rows', () => {
  it('an old row with odd fields still renders what it can', () => {
    const view = jobView(
      completedJob(
        { destination: { type: 's3' } },
        {
          renditions: [{ name: '480p', width: '854', bandwidth: 1e6 }, { width: 3 }, 'junk'],
          masterUrl: 'https://cdn.example/x/master.m3u8',
          publish: null,
          encode: { backend: 'libx264' },
        },
      ),
      PUBLIC,
    );
    assert.equal(view.result?.masterUrl, 'https://cdn.example/x/master.m3u8');
    assert.deepEqual(
      view.result?.renditions.map((r) => [r.name, r.width, r.bandwidth]),
      [['480p', undefined, 1e6]],
    );
    assert.equal(view.result?.encode, undefined);
  });
});
