import assert from 'node:assert/strict';
import { test } from 'node:test';
import { feeOf, formatHbd, hiveAsset, parseHbd, parseHiveAsset, quoteOf, tierOf } from './money.js';

test('parseHbd reads up to 3 decimals as integer milli-HBD and refuses the rest', () => {
  const cases: Array<[string, number | 'error']> = [
    ['1', 1000],
    ['1.5', 1500],
    ['0.001', 1],
    ['12.345 HBD', 12345],
    ['1.2345', 'error'],
    ['-1.000', 'error'],
    ['1e3', 'error'],
    ['', 'error'],
    ['99999999999', 'error'],
  ];
  for (const [text, want] of cases) {
    if (want === 'error') assert.throws(() => parseHbd(text), /HBD/, text);
    else assert.equal(parseHbd(text), want, text);
  }
});

test('formatHbd and hiveAsset write 3 decimals; parseHiveAsset reads only HBD assets', () => {
  assert.equal(formatHbd(1), '0.001');
  assert.equal(formatHbd(-2500), '-2.500');
  assert.equal(hiveAsset(123456), '123.456 HBD');
  assert.equal(parseHiveAsset('1.250 HBD'), 1250);
  assert.equal(parseHiveAsset('1.250 HIVE'), null);
  assert.equal(parseHiveAsset('1.25 HBD'), null);
});

test('feeOf rounds the platform share down in basis points', () => {
  assert.equal(feeOf(1000, 500), 50);
  assert.equal(feeOf(999, 500), 49);
  assert.equal(feeOf(1000, 0), 0);
});

test('quoteOf sums per-minute tier prices over the renditions times minutes, rounded up', () => {
  const prices = { sd: 100, hd: 200, fhd: 400 };
  assert.equal(tierOf(480), 'sd');
  assert.equal(tierOf(720), 'hd');
  assert.equal(tierOf(2160), 'uhd');
  assert.equal(quoteOf(prices, 60, [720, 480]), 300);
  assert.equal(quoteOf(prices, 10, [240]), 17); // 100 * 10 / 60 = 16.67 → 17
  assert.equal(quoteOf(prices, 60, [2160]), null);
});
