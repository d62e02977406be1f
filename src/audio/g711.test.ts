import { describe, expect, it } from 'vitest';
import { g711 } from './g711.js';

const all16 = () => {
  const a = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) a[i] = i - 32768;
  return a;
};

describe('G.711 μ-law', () => {
  it('decodes codes to the ITU reconstruction levels', () => {
    const codes = Uint8Array.from([0xff, 0x7f, 0x80, 0x00, 0xf0, 0xef, 0x70, 0xfe]);
    expect(Array.from(g711.ulawDecode(codes))).toEqual([0, 0, 32124, -32124, 120, 132, -120, 8]);
  });

  it('encodes silence, the extremes and a mid value to their codes', () => {
    const pcm = Int16Array.from([0, 32767, -32768, 8, 120, -120, 1000]);
    expect(Array.from(g711.ulawEncode(pcm))).toEqual([0xff, 0x80, 0x00, 0xfe, 0xf0, 0x70, 0xce]);
  });

  it('re-encodes every decoded level to the same code (except negative zero)', () => {
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const again = g711.ulawEncode(g711.ulawDecode(codes));
    for (let c = 0; c < 256; c++) expect(again[c], `code ${c}`).toBe(c === 0x7f ? 0xff : c);
  });

  it('keeps every 16-bit sample within the quantizer step of its segment', () => {
    const pcm = all16();
    const back = g711.ulawDecode(g711.ulawEncode(pcm));
    let worst = 0;
    for (let i = 0; i < pcm.length; i++) {
      const x = Math.min(Math.abs(pcm[i]), 32124);
      const err = Math.abs(back[i] - Math.max(-32124, Math.min(32124, pcm[i])));
      // Segment step doubles from 8 (near zero) to 1024 (full scale): half a step plus the 14-bit truncation.
      expect(err).toBeLessThanOrEqual(x / 16 + 8);
      worst = Math.max(worst, err);
    }
    expect(worst).toBeLessThanOrEqual(512 + 4);
  });
});

describe('G.711 A-law', () => {
  it('decodes codes to the ITU reconstruction levels', () => {
    const codes = Uint8Array.from([0xd5, 0x55, 0xaa, 0x2a, 0x80, 0x00, 0xd4]);
    expect(Array.from(g711.alawDecode(codes))).toEqual([8, -8, 32256, -32256, 5504, -5504, 24]);
  });

  it('encodes silence and the extremes to their codes', () => {
    const pcm = Int16Array.from([0, -1, 32767, -32768, 24]);
    expect(Array.from(g711.alawEncode(pcm))).toEqual([0xd5, 0x55, 0xaa, 0x2a, 0xd4]);
  });

  it('re-encodes every decoded level to the same code', () => {
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(g711.alawEncode(g711.alawDecode(codes)))).toEqual(Array.from(codes));
  });

  it('keeps every 16-bit sample within half a quantizer step', () => {
    const pcm = all16();
    const back = g711.alawDecode(g711.alawEncode(pcm));
    for (let i = 0; i < pcm.length; i++) {
      const x = Math.abs(pcm[i]);
      const clipped = Math.max(-32256, Math.min(32256, pcm[i]));
      // Steps are 16 in the two lowest segments, then double per segment: 1/32 of the level at most.
      expect(Math.abs(back[i] - clipped)).toBeLessThanOrEqual(Math.max(8, x / 32) + 8);
    }
  });
});

describe('G.711 on speech-like audio', () => {
  it('gives the ~38 dB SNR the standard promises on a loud sine', () => {
    const pcm = Int16Array.from({ length: 8000 }, (_, i) =>
      Math.round(16000 * Math.sin((2 * Math.PI * 1000 * i) / 8000 + 0.3)),
    );
    for (const [enc, dec] of [
      [g711.ulawEncode, g711.ulawDecode],
      [g711.alawEncode, g711.alawDecode],
    ] as const) {
      const back = dec(enc(pcm));
      let sig = 0;
      let noise = 0;
      for (let i = 0; i < pcm.length; i++) {
        sig += pcm[i] ** 2;
        noise += (back[i] - pcm[i]) ** 2;
      }
      const snr = 10 * Math.log10(sig / noise);
      expect(snr).toBeGreaterThan(33);
      expect(snr).toBeLessThan(45);
    }
  });
});
