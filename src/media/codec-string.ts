/**
 * RFC 6381 `codecs` strings of the video track of an fMP4 init segment, read from its sample entry's
 * decoder configuration record (so CODECS in a master playlist or an MPD names exactly what was
 * produced, never what was asked for). Pure: bytes in, string out.
 *
 * Sources: ISO/IEC 14496-12 (box structure, VisualSampleEntry); ISO/IEC 14496-15 §5.3.3 (avcC) and
 * Annex E.3 (`hvc1`/`hev1` codecs parameter from hvcC, §8.3.3); AV1 Codec ISO Media File Format
 * Binding §2.3 (av1C) and §5 (`av01` codecs parameter); VP Codec ISO Media File Format Binding §2.2
 * (vpcC version 1) and "Codecs Parameter String" (`vp09`).
 */

/** A box found in an ISO BMFF buffer: its type and payload (after the size/type header). */
interface Box {
  type: string;
  payload: Buffer;
}

/** The boxes directly inside `buf` (ISO/IEC 14496-12 §4.2: 32-bit size, `size == 1`: 64-bit size). */
function boxes(buf: Buffer): Box[] {
  const out: Box[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    let size = buf.readUInt32BE(i);
    const type = buf.toString('latin1', i + 4, i + 8);
    let header = 8;
    if (size === 1) {
      if (i + 16 > buf.length) break;
      size = Number(buf.readBigUInt64BE(i + 8));
      header = 16;
    } else if (size === 0) {
      size = buf.length - i;
    }
    if (size < header || i + size > buf.length) break;
    out.push({ type, payload: buf.subarray(i + header, i + size) });
    i += size;
  }
  return out;
}

const child = (b: Box | undefined, type: string): Box | undefined =>
  b ? boxes(b.payload).find((x) => x.type === type) : undefined;

/** Video sample entry types this module understands. */
const VIDEO_ENTRIES = new Set(['avc1', 'avc3', 'hvc1', 'hev1', 'av01', 'vp09']);
/** VisualSampleEntry fields before its child boxes (14496-12 §12.1.3): 8 + 70 bytes. */
const VISUAL_SAMPLE_ENTRY_FIELDS = 78;

/**
 * The first video sample entry of an init segment (moov/trak/mdia/minf/stbl/stsd): its four-character
 * type and its child boxes (the decoder configuration record among them); undefined when absent.
 */
export function videoSampleEntry(init: Buffer): { type: string; children: Box[] } | undefined {
  const moov = boxes(init).find((b) => b.type === 'moov');
  for (const trak of moov ? boxes(moov.payload).filter((b) => b.type === 'trak') : []) {
    const stsd = child(child(child(child(trak, 'mdia'), 'minf'), 'stbl'), 'stsd');
    // stsd is a FullBox: version/flags (4) and entry_count (4) before the entries.
    for (const entry of stsd ? boxes(stsd.payload.subarray(8)) : []) {
      if (!VIDEO_ENTRIES.has(entry.type)) continue;
      return { type: entry.type, children: boxes(entry.payload.subarray(VISUAL_SAMPLE_ENTRY_FIELDS)) };
    }
  }
  return undefined;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
const dec2 = (n: number): string => String(n).padStart(2, '0');

/** `avc1.PPCCLL` from an AVCDecoderConfigurationRecord (14496-15 §5.3.3.1). */
export function avcCodecString(type: string, avcC: Buffer): string {
  if (avcC.length < 4) throw new TypeError('avcC too short');
  return `${type}.${hex2(avcC[1]!)}${hex2(avcC[2]!)}${hex2(avcC[3]!)}`;
}

/**
 * `hvc1.<space><profile>.<compat>.<tier><level>[.<constraint bytes>]` from an
 * HEVCDecoderConfigurationRecord (14496-15 §8.3.3.1, codecs parameter Annex E.3): profile space as
 * ''/A/B/C, profile_idc decimal, the 32 compatibility flags in reverse bit order as hex without
 * leading zeros, tier L/H and level_idc decimal, then the six constraint-indicator bytes as hex with
 * trailing zero bytes omitted. Example: Main at level 3.1 → `hvc1.1.6.L93.B0`.
 */
export function hevcCodecString(type: string, hvcC: Buffer): string {
  if (hvcC.length < 13) throw new TypeError('hvcC too short');
  const b1 = hvcC[1]!;
  const space = ['', 'A', 'B', 'C'][b1 >> 6]!;
  const tier = (b1 >> 5) & 1 ? 'H' : 'L';
  const profile = b1 & 0x1f;
  const compat = hvcC.readUInt32BE(2);
  let reversed = 0;
  for (let bit = 0; bit < 32; bit++) if (compat & (1 << bit)) reversed |= 1 << (31 - bit);
  const constraints = [...hvcC.subarray(6, 12)];
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const level = hvcC[12]!;
  return [
    type,
    `${space}${profile}`,
    (reversed >>> 0).toString(16).toUpperCase(),
    `${tier}${level}`,
    ...constraints.map((c) => c.toString(16).toUpperCase().padStart(2, '0')),
  ].join('.');
}

/**
 * `av01.P.LLT.DD` from an AV1CodecConfigurationRecord (AV1-ISOBMFF §2.3.3): seq_profile,
 * seq_level_idx_0 (two digits), seq_tier_0 as M/H, bit depth (08/10/12). The optional fields are
 * left out (§5: their defaults, 4:2:0 BT.709 limited range, are what the ladder produces).
 * Example: Main, level 3.0 (idx 4), 8-bit → `av01.0.04M.08`.
 */
export function av1CodecString(av1C: Buffer): string {
  if (av1C.length < 4 || (av1C[0]! & 0x80) === 0) throw new TypeError('not an av1C record');
  const profile = av1C[1]! >> 5;
  const level = av1C[1]! & 0x1f;
  const b2 = av1C[2]!;
  const tier = b2 & 0x80 ? 'H' : 'M';
  const high = (b2 >> 6) & 1;
  const twelve = (b2 >> 5) & 1;
  const depth = high ? (profile === 2 && twelve ? 12 : 10) : 8;
  return `av01.${profile}.${dec2(level)}${tier}.${dec2(depth)}`;
}

/**
 * `vp09.PP.LL.DD.CC.cp.tc.mc.FF` from a VPCodecConfigurationRecord version 1 (a FullBox: version and
 * flags first): profile, level (e.g. 21 = 2.1), bit depth, chroma subsampling, colour primaries,
 * transfer, matrix and full-range flag, each two decimal digits (the full form, so no default is
 * assumed). Example: profile 0, level 3.0, 8-bit 4:2:0 BT.709 → `vp09.00.30.08.01.01.01.01.00`.
 */
export function vp9CodecString(vpcC: Buffer): string {
  if (vpcC.length < 12 || vpcC[0] !== 1) throw new TypeError('not a version 1 vpcC record');
  const profile = vpcC[4]!;
  const level = vpcC[5]!;
  const b = vpcC[6]!;
  const depth = b >> 4;
  const chroma = (b >> 1) & 7;
  const full = b & 1;
  return ['vp09', profile, level, depth, chroma, vpcC[7]!, vpcC[8]!, vpcC[9]!, full]
    .map((x) => (typeof x === 'number' ? dec2(x) : x))
    .join('.');
}

/**
 * The RFC 6381 codecs string of the video track of an fMP4 init segment (ISO BMFF `moov`), from its
 * decoder configuration record: `avc1.…`, `hvc1.…`/`hev1.…`, `av01.…` or `vp09.…`.
 * @throws TypeError when the init segment has no video sample entry or its record is malformed
 */
export function videoCodecsFromInit(init: Buffer): string {
  const entry = videoSampleEntry(init);
  if (!entry) throw new TypeError('no video sample entry (avc1/hvc1/hev1/av01/vp09) in the init segment');
  const record = (type: string): Buffer => {
    const box = entry.children.find((c) => c.type === type);
    if (!box) throw new TypeError(`${entry.type} sample entry without ${type}`);
    return box.payload;
  };
  switch (entry.type) {
    case 'avc1':
    case 'avc3':
      return avcCodecString(entry.type, record('avcC'));
    case 'hvc1':
    case 'hev1':
      return hevcCodecString(entry.type, record('hvcC'));
    case 'av01':
      return av1CodecString(record('av1C'));
    default:
      return vp9CodecString(record('vpcC'));
  }
}
