import fs from 'node:fs/promises';
import type { Pcm } from './pcm.js';

export class WavFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WavFormatError';
  }
}

/** A RIFF/WAVE file of 16-bit mono PCM (the format of recordings and test fixtures). */
export function encodeWav(pcm: Pcm): Buffer {
  const { samples, sampleRate } = pcm;
  if (!Number.isInteger(sampleRate) || sampleRate <= 0)
    throw new RangeError(`invalid sample rate ${sampleRate}`);
  const dataLen = samples.length * 2;
  const out = Buffer.alloc(44 + dataLen);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + dataLen, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // mono
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataLen, 40);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i], 44 + i * 2);
  return out;
}

/**
 * Reads 16-bit PCM WAV, walking the chunks (so LIST/fact chunks before `data` are fine); stereo is
 * mixed down to mono. Anything else is a `WavFormatError` naming what was found.
 */
export function decodeWav(buf: Uint8Array): Pcm {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 12 || b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') {
    throw new WavFormatError('not a RIFF/WAVE file');
  }
  let fmt: { channels: number; sampleRate: number; bits: number; audioFormat: number } | null = null;
  let offset = 12;
  while (offset + 8 <= b.length) {
    const id = b.toString('ascii', offset, offset + 4);
    const size = b.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) throw new WavFormatError('truncated fmt chunk');
      fmt = {
        audioFormat: b.readUInt16LE(body),
        channels: b.readUInt16LE(body + 2),
        sampleRate: b.readUInt32LE(body + 4),
        bits: b.readUInt16LE(body + 14),
      };
      // WAVE_FORMAT_EXTENSIBLE carries PCM too.
      if (fmt.audioFormat !== 1 && fmt.audioFormat !== 0xfffe) {
        throw new WavFormatError(`audio format ${fmt.audioFormat} is not PCM`);
      }
      if (fmt.bits !== 16) throw new WavFormatError(`${fmt.bits}-bit samples; only 16-bit PCM is read`);
      if (fmt.channels < 1 || fmt.channels > 2)
        throw new WavFormatError(`${fmt.channels} channels; mono or stereo only`);
    } else if (id === 'data') {
      if (!fmt) throw new WavFormatError('data chunk before fmt chunk');
      // Streaming writers leave the size at 0 or 0xFFFFFFFF: take what the file holds.
      const len = Math.min(size === 0 || size === 0xffffffff ? b.length - body : size, b.length - body);
      const frames = Math.floor(len / (2 * fmt.channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) {
        const p = body + i * 2 * fmt.channels;
        samples[i] = fmt.channels === 1 ? b.readInt16LE(p) : (b.readInt16LE(p) + b.readInt16LE(p + 2)) >> 1;
      }
      return { samples, sampleRate: fmt.sampleRate };
    }
    offset = body + size + (size % 2);
  }
  throw new WavFormatError('no data chunk');
}

export async function writeWavFile(file: string, pcm: Pcm): Promise<void> {
  await fs.writeFile(file, encodeWav(pcm));
}

export async function readWavFile(file: string): Promise<Pcm> {
  return decodeWav(await fs.readFile(file));
}
