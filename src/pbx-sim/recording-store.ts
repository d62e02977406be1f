import fs from 'node:fs/promises';
import path from 'node:path';
import { createResampler } from '../audio/resample.js';
import { decodeWav, encodeWav } from '../audio/wav.js';
import { AriError } from './errors.js';
import { FRAME_SAMPLES, MIX_RATE } from './media-clock.js';

/** Asterisk's file formats for recordings: `wav` is 8 kHz signed linear, `wav16` is 16 kHz. */
const FORMATS: Record<string, { ext: string; rate: number }> = {
  wav: { ext: 'wav', rate: 8000 },
  wav16: { ext: 'wav16', rate: 16000 },
};
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;

export interface StoredRecording {
  name: string;
  format: string;
}

export interface LiveRecording {
  name: string;
  format: string;
  target_uri: string;
  state: 'queued' | 'recording' | 'paused' | 'done' | 'failed' | 'canceled';
  duration?: number;
  talking_duration?: number;
  silence_duration?: number;
  cause?: string;
}

/** Recordings on disk under one directory, named as Asterisk names them (`name` + format extension). */
export class RecordingStore {
  private readonly live = new Set<string>();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(readonly dir: string) {}

  static checkName(name: string): void {
    if (!NAME.test(name) || name.split('/').includes('..')) {
      throw new AriError(400, `Invalid recording name ${JSON.stringify(name)}`);
    }
  }

  static format(format: string): { ext: string; rate: number } {
    const f = FORMATS[format];
    if (!f) throw new AriError(422, 'The format specified is unknown on this system');
    return f;
  }

  async list(): Promise<StoredRecording[]> {
    const out: StoredRecording[] = [];
    const walk = async (rel: string) => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(path.join(this.dir, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const relName = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(relName);
        else {
          const dot = relName.lastIndexOf('.');
          const ext = relName.slice(dot + 1);
          const format = Object.keys(FORMATS).find((k) => FORMATS[k].ext === ext);
          if (dot > 0 && format) out.push({ name: relName.slice(0, dot), format });
        }
      }
    };
    await walk('');
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<StoredRecording & { file: string }> {
    RecordingStore.checkName(name);
    for (const [format, f] of Object.entries(FORMATS)) {
      const file = path.join(this.dir, `${name}.${f.ext}`);
      try {
        await fs.access(file);
        return { name, format, file };
      } catch {
        // not in this format
      }
    }
    throw new AriError(404, 'Recording not found');
  }

  async delete(name: string): Promise<void> {
    const r = await this.get(name);
    await fs.rm(r.file);
  }

  /** Claims `name` for a live recording; `ifExists` as ARI defines it. */
  async claim(name: string, format: string, ifExists: string): Promise<void> {
    RecordingStore.checkName(name);
    RecordingStore.format(format);
    if (!['fail', 'overwrite', 'append'].includes(ifExists))
      throw new AriError(400, 'ifExists must be fail, overwrite or append');
    if (this.live.has(name)) throw new AriError(409, 'A recording with the same name is already in progress');
    // Asterisk creates the recording's subfolders under its recordings folder, but not that folder
    // itself (ast_safe_mkdir needs the base): without it the request fails with a bare 500.
    const folder = await fs.stat(this.dir).catch(() => null);
    if (!folder?.isDirectory()) throw new AriError(500, 'Internal Server Error');
    if (ifExists === 'fail') {
      const exists = await this.get(name).then(
        () => true,
        () => false,
      );
      if (exists) throw new AriError(409, 'Recording already exists');
    }
    this.live.add(name);
  }

  /** Writes the recording; with `append`, after what the file already holds. */
  async write(name: string, format: string, samples16k: Int16Array, append: boolean): Promise<void> {
    const f = RecordingStore.format(format);
    const file = path.join(this.dir, `${name}.${f.ext}`);
    const job = (async () => {
      try {
        let pcm = samples16k;
        if (f.rate !== MIX_RATE) pcm = createResampler(MIX_RATE, f.rate).process(samples16k);
        if (append) {
          const prev = await fs.readFile(file).then(
            (b) => decodeWav(b),
            () => null,
          );
          if (prev && prev.sampleRate === f.rate) {
            const joined = new Int16Array(prev.samples.length + pcm.length);
            joined.set(prev.samples);
            joined.set(pcm, prev.samples.length);
            pcm = joined;
          }
        }
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.writeFile(file, encodeWav({ samples: pcm, sampleRate: f.rate }));
      } finally {
        this.live.delete(name);
      }
    })();
    this.pending.add(job);
    job.finally(() => this.pending.delete(job)).catch(() => undefined);
    return job;
  }

  release(name: string): void {
    this.live.delete(name);
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}

export interface BridgeRecorder {
  readonly name: string;
  /** Adds the mix of the tick at `at` (the media clock's time). */
  append(frame: Int16Array, at: number): void;
  json(): LiveRecording;
  /** Ends the recording; resolves with its final LiveRecording once the file is written. */
  finish(state: 'done' | 'canceled'): Promise<LiveRecording>;
}

/**
 * One live recording of a bridge: the mixed audio of every party, one frame a tick (silence where
 * nobody sent anything, so the file keeps the call's real timeline). A media clock that falls
 * behind drops ticks; the time they stood for is filled with silence, and the end is padded to the
 * moment the recording stops, so the file lasts as long as the call did on the wall clock.
 */
export function createBridgeRecorder(opts: {
  store: RecordingStore;
  name: string;
  format: string;
  targetUri: string;
  ifExists: string;
  maxDurationSeconds: number;
  onLimit: () => void;
  /** The media clock's time: when the recording starts and stops. */
  now: () => number;
}): BridgeRecorder & { ready: Promise<void> } {
  const chunks: Int16Array[] = [];
  let samples = 0;
  let talking = 0;
  let state: LiveRecording['state'] = 'recording';
  let limitHit = false;
  let startedAt: number | null = null;
  // The recording starts once its name is claimed; the bridge feeds it from the next tick on.
  const ready = opts.store.claim(opts.name, opts.format, opts.ifExists).then(() => {
    startedAt = opts.now();
  });
  const samplesBy = (at: number) =>
    startedAt === null ? 0 : Math.floor(((at - startedAt) * MIX_RATE) / 1000);
  const add = (frame: Int16Array) => {
    chunks.push(frame);
    samples += frame.length;
    if (opts.maxDurationSeconds > 0 && samples >= opts.maxDurationSeconds * MIX_RATE && !limitHit) {
      limitHit = true;
      setImmediate(opts.onLimit);
    }
  };
  /** Silence for the time the clock skipped; a frame's jitter is not a gap. */
  const fillUpTo = (target: number) => {
    const limit = opts.maxDurationSeconds > 0 ? opts.maxDurationSeconds * MIX_RATE : Number.POSITIVE_INFINITY;
    const gap = Math.min(target, limit) - samples;
    if (gap >= FRAME_SAMPLES) add(new Int16Array(gap));
  };
  // An unknown format is refused by the claim below; its rate is never needed.
  const fileRate = FORMATS[opts.format]?.rate ?? MIX_RATE;
  const json = (): LiveRecording => ({
    name: opts.name,
    format: opts.format,
    target_uri: opts.targetUri,
    state,
    // Asterisk knows the duration once the recording is over (none while it runs), and computes it
    // as the file's length in samples / 8000 (main/app.c, whatever the rate): a `wav16` recording
    // reports twice its real length (109 s for a 54.5 s file on 22.10.1).
    ...(state === 'recording' ? {} : { duration: Math.floor((samples * fileRate) / MIX_RATE / 8000) }),
    talking_duration: Math.round(talking / MIX_RATE),
    silence_duration: Math.round((samples - talking) / MIX_RATE),
  });
  return {
    name: opts.name,
    ready,
    append(frame, at) {
      if (state !== 'recording' || startedAt === null) return;
      fillUpTo(samplesBy(at) - frame.length);
      let peak = 0;
      for (let i = 0; i < frame.length; i++) peak = Math.max(peak, Math.abs(frame[i]));
      if (peak > 1000) talking += frame.length;
      add(frame);
    },
    json,
    async finish(final) {
      if (state === 'recording' && final === 'done') fillUpTo(samplesBy(opts.now()));
      state = final;
      await ready.catch(() => undefined);
      if (final === 'canceled') {
        opts.store.release(opts.name);
        return json();
      }
      const all = new Int16Array(samples);
      let off = 0;
      for (const c of chunks) {
        all.set(c, off);
        off += c.length;
      }
      await opts.store.write(opts.name, opts.format, all, opts.ifExists === 'append');
      return json();
    },
  };
}
