import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientGeneration, generationOfNodeInfo, generationTag } from './embed.js';

describe('3Speak client generation', () => {
  it("reads updateNode's node_info: a peer_id key (even empty) is the legacy client, none the embed poller", () => {
    assert.equal(
      generationOfNodeInfo({
        name: 'n',
        cryptoAccounts: { hive: 'h' },
        peer_id: '12D3Koo',
        commit_hash: 'x',
      }),
      'legacy',
    );
    assert.equal(generationOfNodeInfo({ name: 'n', peer_id: '' }), 'legacy');
    assert.equal(generationOfNodeInfo({ name: 'n', cryptoAccounts: {}, commit_hash: '2.0.0' }), 'embed');
  });

  it('a recorded generation wins over the User-Agent; without one the User-Agent decides', () => {
    assert.equal(clientGeneration([generationTag('embed')], 'curl/8.0'), 'embed');
    assert.equal(clientGeneration([generationTag('legacy')], '3Speak-Encoder/2.0.0'), 'legacy');
    assert.equal(clientGeneration(['3speak-legacy'], '3Speak-Encoder/2.0.0'), 'embed');
    assert.equal(clientGeneration([], '3Speak-Encoder-Modern/1.0.0'), 'legacy');
    assert.equal(clientGeneration([], undefined), 'legacy');
  });
});
