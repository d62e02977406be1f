import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeWav, encodeWav, readWavFile, WavFormatError, writeWavFile } from './wav.js';

let dir: string | null = null;
afterEach(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  dir = null;
});

describe('wav', () => {
  it('writes a canonical 44-byte header and reads the samples back', () => {
    const samples = Int16Array.from([0, 1, -1, 32767, -32768, 1234]);
    const buf = encodeWav({ samples, sampleRate: 16000 });
    expect(buf.length).toBe(44 + 12);
    expect(buf.toString('ascii', 0, 4)).toBe('RIFF');
    expect(buf.readUInt32LE(24)).toBe(16000);
    expect(buf.readUInt32LE(28)).toBe(32000);
    const back = decodeWav(buf);
    expect(back.sampleRate).toBe(16000);
    expect(Array.from(back.samples)).toEqual(Array.from(samples));
  });

  it('skips extra chunks, mixes stereo to mono and tolerates a streaming data size', () => {
    const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from([1, 2, 3, 0])]);
    const fmt = Buffer.alloc(24);
    fmt.write('fmt ', 0, 'ascii');
    fmt.writeUInt32LE(16, 4);
    fmt.writeUInt16LE(1, 8);
    fmt.writeUInt16LE(2, 10);
    fmt.writeUInt32LE(8000, 12);
    fmt.writeUInt32LE(32000, 16);
    fmt.writeUInt16LE(4, 20);
    fmt.writeUInt16LE(16, 22);
    const data = Buffer.alloc(8 + 8);
    data.write('data', 0, 'ascii');
    data.writeUInt32LE(0xffffffff, 4);
    data.writeInt16LE(100, 8);
    data.writeInt16LE(300, 10);
    data.writeInt16LE(-100, 12);
    data.writeInt16LE(-300, 14);
    const head = Buffer.alloc(12);
    head.write('RIFF', 0, 'ascii');
    head.write('WAVE', 8, 'ascii');
    const pcm = decodeWav(Buffer.concat([head, list, fmt, data]));
    expect(pcm.sampleRate).toBe(8000);
    expect(Array.from(pcm.samples)).toEqual([200, -200]);
  });

  it('rejects files it cannot read with a clear error', () => {
    expect(() => decodeWav(Buffer.from('hello world, not audio'))).toThrow(WavFormatError);
    const eightBit = encodeWav({ samples: new Int16Array(4), sampleRate: 8000 });
    eightBit.writeUInt16LE(8, 34);
    expect(() => decodeWav(eightBit)).toThrow(/8-bit/);
    expect(() =>
      decodeWav(encodeWav({ samples: new Int16Array(0), sampleRate: 8000 }).subarray(0, 36)),
    ).toThrow(/no data chunk/);
  });

  it('round-trips through a file', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wav-'));
    const file = path.join(dir, 'a.wav');
    const samples = Int16Array.from({ length: 8000 }, (_, i) => Math.round(5000 * Math.sin(i / 5)));
    await writeWavFile(file, { samples, sampleRate: 8000 });
    const back = await readWavFile(file);
    expect(back.samples).toEqual(samples);
  });
});
