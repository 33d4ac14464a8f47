import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  av1CodecString,
  avcCodecString,
  hevcCodecString,
  videoCodecsFromInit,
  vp9CodecString,
} from './codec-string.js';

const bytes = (...b: number[]): Buffer => Buffer.from(b);

describe('hevcCodecString (ISO/IEC 14496-15 Annex E.3)', () => {
  const cases: Array<{ name: string; hvcC: Buffer; want: string }> = [
    {
      name: 'Main, level 3.1, progressive frame-only non-packed',
      // profile_space 0, tier 0, profile 1; compat flags 1 and 2; constraints 0xB0; level_idc 93.
      hvcC: bytes(1, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93),
      want: 'hvc1.1.6.L93.B0',
    },
    {
      name: 'Main 10, level 5.1 (Apple authoring spec example)',
      hvcC: bytes(1, 0x02, 0x20, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 153),
      want: 'hvc1.2.4.L153.B0',
    },
    {
      name: 'x265 Main level 2.1, high tier, two constraint bytes kept, trailing zeros dropped',
      hvcC: bytes(1, 0x21, 0x60, 0, 0, 0, 0x90, 0x01, 0, 0, 0, 0, 63),
      want: 'hvc1.1.6.H63.90.01',
    },
    {
      name: 'profile space 1 (A), no constraint bytes',
      hvcC: bytes(1, 0x41, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 120),
      want: 'hvc1.A1.6.L120',
    },
  ];
  for (const c of cases) test(c.name, () => assert.equal(hevcCodecString('hvc1', c.hvcC), c.want));
  test('hev1 sample entries keep their four-character code', () =>
    assert.equal(hevcCodecString('hev1', cases[0]!.hvcC), 'hev1.1.6.L93.B0'));
  test('a truncated record is refused', () => assert.throws(() => hevcCodecString('hvc1', bytes(1, 1, 0))));
});

describe('av1CodecString (AV1-ISOBMFF §5)', () => {
  const cases: Array<{ name: string; av1C: Buffer; want: string }> = [
    // byte1 = seq_profile << 5 | seq_level_idx_0; byte2 = tier | high_bitdepth | twelve_bit | … chroma.
    { name: 'Main 8-bit level 2.1 (idx 1)', av1C: bytes(0x81, 0x01, 0x0c, 0), want: 'av01.0.01M.08' },
    { name: 'Main 10-bit level 3.0 (idx 4)', av1C: bytes(0x81, 0x04, 0x4c, 0), want: 'av01.0.04M.10' },
    { name: 'high tier level 5.1 (idx 13)', av1C: bytes(0x81, 0x0d, 0x8c, 0), want: 'av01.0.13H.08' },
    {
      name: 'Professional 12-bit (profile 2, twelve_bit)',
      av1C: bytes(0x81, 0x48, 0x60, 0),
      want: 'av01.2.08M.12',
    },
    { name: 'High profile 10-bit', av1C: bytes(0x81, 0x28, 0x40, 0), want: 'av01.1.08M.10' },
  ];
  for (const c of cases) test(c.name, () => assert.equal(av1CodecString(c.av1C), c.want));
  test('a record without the marker bit is refused', () =>
    assert.throws(() => av1CodecString(bytes(0x01, 0, 0, 0))));
});

describe('vp9CodecString (VP codec ISO binding, codecs parameter)', () => {
  const cases: Array<{ name: string; vpcC: Buffer; want: string }> = [
    {
      name: 'profile 0, level 2.1, 8-bit 4:2:0 vertical, unspecified colour (as ffmpeg writes)',
      // version 1, flags, profile, level, depth<<4 | chroma<<1 | full, primaries, transfer, matrix, init size.
      vpcC: bytes(1, 0, 0, 0, 0, 21, 0x80, 2, 2, 2, 0, 0),
      want: 'vp09.00.21.08.00.02.02.02.00',
    },
    {
      name: 'spec example: profile 2, level 1.0, 10-bit, BT.2020 PQ, full range',
      vpcC: bytes(1, 0, 0, 0, 2, 10, 0xa3, 9, 16, 9, 0, 0),
      want: 'vp09.02.10.10.01.09.16.09.01',
    },
  ];
  for (const c of cases) test(c.name, () => assert.equal(vp9CodecString(c.vpcC), c.want));
  test('a version 0 record is refused', () =>
    assert.throws(() => vp9CodecString(bytes(0, 0, 0, 0, 0, 21, 0x80, 2, 2, 2, 0, 0))));
});

test('avcCodecString: profile, constraint flags and level of an avcC as hex', () => {
  assert.equal(avcCodecString('avc1', bytes(1, 0x64, 0x00, 0x1f, 0xff)), 'avc1.64001f');
});

/** An ISO BMFF box: 32-bit size, four-character type, payload. */
const box = (type: string, ...payload: Buffer[]): Buffer => {
  const body = Buffer.concat(payload);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
};

describe('videoCodecsFromInit: walks moov/trak/mdia/minf/stbl/stsd to the video sample entry', () => {
  const init = (entry: Buffer, extraTrak?: Buffer): Buffer => {
    const stsd = box('stsd', Buffer.alloc(4), bytes(0, 0, 0, 1), entry);
    const trak = box('trak', box('mdia', box('minf', box('stbl', stsd))));
    return Buffer.concat([
      box('ftyp', Buffer.from('iso6')),
      box('moov', ...(extraTrak ? [extraTrak] : []), trak),
    ]);
  };
  const visual = (type: string, config: Buffer): Buffer => box(type, Buffer.alloc(78), config);

  test('hvc1 entry with hvcC', () => {
    const hvcC = box('hvcC', bytes(1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 63));
    assert.equal(videoCodecsFromInit(init(visual('hvc1', hvcC))), 'hvc1.1.6.L63.90');
  });
  test('av01 entry after an audio track (mp4a entries are skipped)', () => {
    const audio = box(
      'trak',
      box(
        'mdia',
        box(
          'minf',
          box('stbl', box('stsd', Buffer.alloc(4), bytes(0, 0, 0, 1), box('mp4a', Buffer.alloc(28)))),
        ),
      ),
    );
    assert.equal(
      videoCodecsFromInit(init(visual('av01', box('av1C', bytes(0x81, 0x01, 0x0c, 0))), audio)),
      'av01.0.01M.08',
    );
  });
  test('vp09 entry with vpcC', () => {
    const vpcC = box('vpcC', bytes(1, 0, 0, 0, 0, 30, 0x82, 1, 1, 1, 0, 0));
    assert.equal(videoCodecsFromInit(init(visual('vp09', vpcC))), 'vp09.00.30.08.01.01.01.01.00');
  });
  test('no video entry, or an entry without its record, is an error', () => {
    assert.throws(() => videoCodecsFromInit(box('moov')), /no video sample entry/);
    assert.throws(() => videoCodecsFromInit(init(visual('hvc1', box('free')))), /without hvcC/);
  });
});
