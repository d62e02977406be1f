import koffi, { type LibraryHandle } from 'koffi';
import type { Pcm, TextToSpeech } from '../types.js';
import { splitForSynthesis } from './split-text.js';

/** Debian's libflite1 voices that speak at 16 kHz (cmu_us_kal is 8 kHz and is left out). */
const VOICES = ['slt', 'awb', 'rms', 'kal16'] as const;
type FliteVoiceName = (typeof VOICES)[number];
const SAMPLE_RATE = 16_000;

export interface FliteOptions {
  /** Default voice: one of slt (default), awb, rms, kal16. */
  voice?: string;
}

/**
 * flite's text processing keeps process-wide state (lexicon and language registries), so calls
 * into it are serialised across every engine instance in the process, not just within one.
 */
let fliteTail: Promise<unknown> = Promise.resolve();
function serialised<T>(fn: () => Promise<T>): Promise<T> {
  const run = fliteTail.then(fn, fn);
  fliteTail = run.catch(() => undefined);
  return run;
}

function abortError(): Error {
  const err = new Error('synthesis aborted');
  err.name = 'AbortError';
  return err;
}

/**
 * flite through koffi. Synthesis runs on koffi's async call thread (flite_text_to_wave is a plain
 * blocking C call), one sentence at a time, so a long reply neither blocks the event loop nor
 * delays an abort by more than one sentence.
 */
export async function createFliteTts(opts: FliteOptions = {}): Promise<TextToSpeech> {
  const defaultVoice = (opts.voice ?? 'slt') as FliteVoiceName;
  if (!VOICES.includes(defaultVoice)) {
    throw new Error(`flite: unknown voice "${opts.voice}"; available: ${VOICES.join(', ')}`);
  }
  let flite: LibraryHandle;
  try {
    flite = koffi.load('libflite.so.1');
  } catch (err) {
    throw new Error(
      `flite: cannot load libflite.so.1 (install the Debian package libflite1): ${(err as Error).message}`,
    );
  }
  const CstWave = koffi.struct({
    type: 'const char *',
    sample_rate: 'int',
    num_samples: 'int',
    num_channels: 'int',
    samples: 'int16_t *',
  });
  const WavePtr = koffi.pointer(CstWave);
  const fliteInit = flite.func('int flite_init()');
  const textToWave = flite.func('flite_text_to_wave', WavePtr, ['const char *', 'void *']);
  const deleteWave = flite.func('delete_wave', 'void', [WavePtr]);
  fliteInit();

  const loaded = new Map<FliteVoiceName, { voice: unknown; unregister: () => void }>();
  const voiceHandle = (name: FliteVoiceName): unknown => {
    const have = loaded.get(name);
    if (have) return have.voice;
    let lib: LibraryHandle;
    try {
      lib = koffi.load(`libflite_cmu_us_${name}.so.1`);
    } catch (err) {
      throw new Error(`flite: voice ${name} is not installed: ${(err as Error).message}`);
    }
    const register = lib.func(`void *register_cmu_us_${name}(const char *voxdir)`);
    const unregister = lib.func(`void unregister_cmu_us_${name}(void *voice)`);
    const voice = register(null);
    if (!voice) throw new Error(`flite: registering voice ${name} failed`);
    loaded.set(name, { voice, unregister: () => unregister(voice) });
    return voice;
  };
  voiceHandle(defaultVoice);

  const synthOne = (text: string, voice: unknown): Promise<Int16Array> =>
    serialised(
      () =>
        new Promise<Int16Array>((resolve, reject) => {
          textToWave.async(text, voice, (err: unknown, wp: unknown) => {
            if (err) return reject(err);
            if (!wp) return reject(new Error('flite: synthesis returned no audio'));
            try {
              const w = koffi.decode(wp, CstWave) as {
                sample_rate: number;
                num_samples: number;
                samples: unknown;
              };
              if (w.sample_rate !== SAMPLE_RATE) {
                throw new Error(`flite: voice produced ${w.sample_rate} Hz audio, expected ${SAMPLE_RATE}`);
              }
              const pcm =
                w.num_samples > 0
                  ? Int16Array.from(koffi.decode(w.samples, 'int16_t', w.num_samples) as ArrayLike<number>)
                  : new Int16Array(0);
              resolve(pcm);
            } catch (e) {
              reject(e);
            } finally {
              deleteWave(wp);
            }
          });
        }),
    );

  let closed = false;
  return {
    name: 'flite',
    sampleRate: SAMPLE_RATE,
    voices: [defaultVoice, ...VOICES.filter((v) => v !== defaultVoice)],
    async synthesize(text: string, o: { voice?: string; signal?: AbortSignal } = {}): Promise<Pcm> {
      if (closed) throw new Error('flite: engine is closed');
      const name = (o.voice ?? defaultVoice) as FliteVoiceName;
      if (!VOICES.includes(name)) {
        throw new Error(`flite: unknown voice "${o.voice}"; available: ${VOICES.join(', ')}`);
      }
      const voice = voiceHandle(name);
      const parts: Int16Array[] = [];
      for (const piece of splitForSynthesis(text)) {
        if (o.signal?.aborted) throw abortError();
        parts.push(await synthOne(piece, voice));
      }
      if (o.signal?.aborted) throw abortError();
      const total = parts.reduce((n, p) => n + p.length, 0);
      const samples = new Int16Array(total);
      let at = 0;
      for (const p of parts) {
        samples.set(p, at);
        at += p.length;
      }
      return { samples, sampleRate: SAMPLE_RATE };
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      // Wait for in-flight synthesis before freeing the voices it uses.
      await serialised(async () => {
        for (const v of loaded.values()) v.unregister();
        loaded.clear();
      });
    },
  };
}
