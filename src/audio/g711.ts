/**
 * ITU-T G.711 μ-law and A-law, table-driven. The tables are built once per process from the
 * reference bit manipulations (the ones of the ITU software tools / Sun's g711.c), so encode and
 * decode of a 20 ms frame are plain lookups on the hot path.
 *
 * μ-law works on the 14 most significant bits of a 16-bit sample, A-law on the 13 most significant,
 * exactly as the recommendation defines them; decoding returns the 16-bit value of the code's
 * reconstruction level.
 */

const ULAW_BIAS = 0x21; // in 14-bit units (0x84 >> 2)
const ULAW_CLIP = 8159;
const ULAW_SEG_END = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
const ALAW_SEG_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

function segmentOf(value: number, ends: readonly number[]): number {
  for (let i = 0; i < ends.length; i++) if (value <= ends[i]) return i;
  return ends.length;
}

/** μ-law code of a 14-bit two's-complement sample. */
function ulawFrom14(sample14: number): number {
  let v = sample14;
  let mask: number;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  } else {
    mask = 0xff;
  }
  if (v > ULAW_CLIP) v = ULAW_CLIP;
  v += ULAW_BIAS;
  const seg = segmentOf(v, ULAW_SEG_END);
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((v >> (seg + 1)) & 0x0f)) ^ mask;
}

function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** A-law code of a 13-bit two's-complement sample. */
function alawFrom13(sample13: number): number {
  let v = sample13;
  let mask: number;
  if (v >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    v = -v - 1;
  }
  const seg = segmentOf(v, ALAW_SEG_END);
  if (seg >= 8) return 0x7f ^ mask;
  let a = seg << 4;
  a |= seg < 2 ? (v >> 1) & 0x0f : (v >> seg) & 0x0f;
  return a ^ mask;
}

function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

const ULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
/** Indexed by (sample >> 2) + 8192. */
const ULAW_ENCODE = new Uint8Array(16384);
/** Indexed by (sample >> 3) + 4096. */
const ALAW_ENCODE = new Uint8Array(8192);

for (let c = 0; c < 256; c++) {
  ULAW_DECODE[c] = ulawToLinear(c);
  ALAW_DECODE[c] = alawToLinear(c);
}
for (let i = 0; i < 16384; i++) ULAW_ENCODE[i] = ulawFrom14(i - 8192);
for (let i = 0; i < 8192; i++) ALAW_ENCODE[i] = alawFrom13(i - 4096);

/** G.711 codecs over whole buffers. */
export const g711 = {
  ulawEncode(pcm: Int16Array): Uint8Array {
    const out = new Uint8Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) out[i] = ULAW_ENCODE[(pcm[i] >> 2) + 8192];
    return out;
  },
  ulawDecode(codes: Uint8Array): Int16Array {
    const out = new Int16Array(codes.length);
    for (let i = 0; i < codes.length; i++) out[i] = ULAW_DECODE[codes[i]];
    return out;
  },
  alawEncode(pcm: Int16Array): Uint8Array {
    const out = new Uint8Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) out[i] = ALAW_ENCODE[(pcm[i] >> 3) + 4096];
    return out;
  },
  alawDecode(codes: Uint8Array): Int16Array {
    const out = new Int16Array(codes.length);
    for (let i = 0; i < codes.length; i++) out[i] = ALAW_DECODE[codes[i]];
    return out;
  },
  /** The code for digital silence: what a quiet line carries. */
  ULAW_SILENCE: 0xff,
  ALAW_SILENCE: 0xd5,
} as const;
