import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bindingStatement,
  canonicalHiveRequest,
  parseBindingStatement,
  parseHiveAuthorization,
} from './statements.js';

test('a binding statement round-trips and is refused for another did, account, age or shape', () => {
  const now = new Date('2026-12-06T10:00:00Z');
  const did = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK';
  const text = bindingStatement(did, 'alice', now);
  parseBindingStatement(text, { did, account: 'alice' }, now);
  const refused: Array<[string, string, { did: string; account: string }, Date]> = [
    ['another did', text, { did: `${did}x`, account: 'alice' }, now],
    ['another account', text, { did, account: 'bob' }, now],
    ['too old', text, { did, account: 'alice' }, new Date(now.getTime() + 11 * 60_000)],
    ['extra line', `${text}\nextra: 1`, { did, account: 'alice' }, now],
    ['bad account name', bindingStatement(did, 'A!', now), { did, account: 'A!' }, now],
  ];
  for (const [name, t, expect, at] of refused) {
    assert.throws(() => parseBindingStatement(t, expect, at), { code: 'validation_failed' }, name);
  }
});

test('parseHiveAuthorization reads the HiveKeychain header and refuses other shapes', () => {
  const ok =
    'HiveKeychain account="alice", issued="2026-12-06T10:00:00.000Z", nonce="abcdefghijklmnop", signature="1f"';
  assert.deepEqual(parseHiveAuthorization(ok), {
    account: 'alice',
    issued: '2026-12-06T10:00:00.000Z',
    nonce: 'abcdefghijklmnop',
    signature: '1f',
  });
  for (const bad of [
    'Bearer x',
    'HiveKeychain account="alice"',
    ok.replace('alice', 'Alice!'),
    ok.replace('abcdefghijklmnop', 'short'),
    `${ok}, extra`,
  ]) {
    assert.equal(parseHiveAuthorization(bad), null, bad);
  }
  assert.equal(
    canonicalHiveRequest({
      account: 'a',
      method: 'post',
      path: '/p',
      bodySha256: 'h',
      issued: 'i',
      nonce: 'n',
    }),
    'vidmesh: request\naccount: a\nmethod: POST\npath: /p\nbody-sha256: h\nissued: i\nnonce: n',
  );
});
