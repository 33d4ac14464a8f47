import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { type FeedSubscriber, LiveFeed } from './ingest.js';

/** A node-media-server packet: flags 0 audio header, 1 audio, 2 video header, 3 keyframe, 4 frame, 5 metadata. */
const packet = (flags: number, dts: number) => ({
  codec_type: flags === 0 || flags === 1 ? 8 : flags === 5 ? 18 : 9,
  flags,
  dts,
  pts: dts,
  size: 4,
  data: Buffer.from([flags, 1, 2, 3]),
});

/** Collects the FLV tags a relay receives: [tag type, timestamp] (FLV spec Annex E.4.1). */
function recorder() {
  const tags: Array<[number, number]> = [];
  let ended = false;
  const sub: FeedSubscriber = {
    write(chunk) {
      if (chunk.subarray(0, 3).toString() === 'FLV') return void tags.push([0, 0]);
      const ts = (chunk[7]! << 24) | (chunk[4]! << 16) | (chunk[5]! << 8) | chunk[6]!;
      tags.push([chunk[0]!, ts]);
    },
    end() {
      ended = true;
    },
  };
  return { sub, tags, ended: () => ended };
}

const fakeSocket = () => ({ destroy() {} }) as unknown as Socket;

test('a relay joining mid-stream starts with header, sequence headers and the GOP from the last keyframe', () => {
  const feed = new LiveFeed('j');
  feed.publishStarted(fakeSocket());
  for (const [f, t] of [
    [2, 0],
    [0, 0],
    [3, 0],
    [4, 33],
    [1, 40],
    [3, 2000],
    [4, 2033],
  ] as const)
    feed.packet(packet(f, t));
  const r = recorder();
  assert.equal(feed.subscribe(r.sub), true);
  assert.deepEqual(r.tags, [
    [0, 0], // FLV header
    [8, 0], // AAC sequence header
    [9, 0], // AVC sequence header
    [9, 2000], // the last keyframe …
    [9, 2033], // … and what followed it
  ]);
  feed.packet(packet(1, 2040));
  assert.deepEqual(r.tags.at(-1), [8, 2040]);
});

test('a relay waiting for the publisher starts at its first keyframe, not before', () => {
  const feed = new LiveFeed('j');
  const r = recorder();
  feed.subscribe(r.sub);
  feed.publishStarted(fakeSocket());
  feed.packet(packet(2, 0));
  feed.packet(packet(1, 0)); // audio before any keyframe: useless to a decoder, dropped
  assert.deepEqual(r.tags, []);
  feed.packet(packet(3, 0));
  assert.deepEqual(r.tags, [
    [0, 0],
    [9, 0],
    [9, 0],
  ]);
});

test('a publisher reconnecting within the grace continues the timeline; after the grace the feed ends', async () => {
  const feed = new LiveFeed('j');
  const first = fakeSocket();
  feed.publishStarted(first);
  feed.packet(packet(2, 0));
  feed.packet(packet(3, 0));
  feed.packet(packet(4, 5000));
  const r = recorder();
  feed.subscribe(r.sub);
  let ended = 0;
  feed.publishStopped(first, 50, () => ended++);
  assert.equal(feed.stats().state, 'reconnecting');
  const second = fakeSocket();
  feed.publishStarted(second);
  // The new connection's clock restarts at 0: shifted past the last tag (5000 ms + one frame).
  feed.packet(packet(3, 0));
  assert.deepEqual(r.tags.at(-1), [9, 5033]);
  assert.equal(feed.stats().publishes, 2);
  feed.publishStopped(second, 50, () => ended++);
  await new Promise((res) => setTimeout(res, 120));
  assert.equal(ended, 1);
  assert.equal(feed.state, 'ended');
  assert.equal(r.ended(), true);
  assert.equal(feed.subscribe(recorder().sub), false, 'an ended feed takes no relay');
});

test('ingest health: bitrate while publishing, source size from onMetaData', () => {
  const feed = new LiveFeed('j');
  feed.publishStarted(fakeSocket());
  // onMetaData (AMF0): "width" and "height" as numbers.
  const num = (k: string, v: number) => {
    const b = Buffer.alloc(2 + k.length + 9);
    b.writeUInt16BE(k.length, 0);
    b.write(k, 2, 'latin1');
    b[2 + k.length] = 0x00;
    b.writeDoubleBE(v, 3 + k.length);
    return b;
  };
  const meta = Buffer.concat([num('width', 640), num('height', 360), num('framerate', 30)]);
  feed.packet({ codec_type: 18, flags: 5, dts: 0, pts: 0, size: meta.length, data: meta });
  feed.packet(packet(3, 0));
  const s = feed.stats();
  assert.equal(s.state, 'publishing');
  assert.deepEqual([s.width, s.height, s.frameRate], [640, 360, 30]);
  assert.ok(s.bitrate > 0);
  assert.ok(s.bytesIn > 0);
});
