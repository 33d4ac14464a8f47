import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAidSecrets, presentedAidSecret } from './aid-auth.js';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('presentedAidSecret', () => {
  it('reads the password of Basic (what axios sends for a URL user-info) and a Bearer token', () => {
    assert.equal(presentedAidSecret(basic('aid', 'abc_DEF-123')), 'abc_DEF-123');
    assert.equal(presentedAidSecret(basic('', 'abc')), 'abc');
    assert.equal(presentedAidSecret('Bearer tok-en_1'), 'tok-en_1');
    assert.equal(presentedAidSecret('bearer   tok'), 'tok');
  });

  it('returns null for a missing header, another scheme, Basic without a colon or an empty password', () => {
    assert.equal(presentedAidSecret(undefined), null);
    assert.equal(presentedAidSecret(['Bearer x']), null);
    assert.equal(presentedAidSecret('Digest x'), null);
    assert.equal(presentedAidSecret(`Basic ${Buffer.from('nocolon').toString('base64')}`), null);
    assert.equal(presentedAidSecret(basic('aid', '')), null);
  });
});

describe('createAidSecrets', () => {
  const didA = 'did:key:z6MkA';
  const didB = 'did:key:z6MkB';
  const secrets = createAidSecrets([
    [didA, 'secret-of-a-0123456789abcdef'],
    [didB, 'secret-of-b-0123456789abcdef'],
  ]);

  it("accepts a DID's own secret, by Basic or Bearer", () => {
    assert.equal(secrets.verify(didA, basic('aid', 'secret-of-a-0123456789abcdef')), true);
    assert.equal(secrets.verify(didB, 'Bearer secret-of-b-0123456789abcdef'), true);
  });

  it("refuses another node's secret, a wrong one, none, and a DID without a secret", () => {
    assert.equal(secrets.verify(didA, 'Bearer secret-of-b-0123456789abcdef'), false);
    assert.equal(secrets.verify(didA, 'Bearer secret-of-a-0123456789abcdeX'), false);
    assert.equal(secrets.verify(didA, undefined), false);
    assert.equal(secrets.verify('did:key:z6MkC', 'Bearer secret-of-a-0123456789abcdef'), false);
    assert.equal(createAidSecrets([]).verify(didA, 'Bearer '), false);
  });
});
