import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import type { VoiceActivityDetector } from '../types.js';

const SAMPLE_RATE = 16_000;
const WINDOW = 512;
const STATE_SIZE = 2 * 1 * 128;

export interface SileroVadOptions {
  /** Path to a Silero v5 ONNX model; default: the one shipped in @ricky0123/vad-web (MIT). */
  modelPath?: string;
}

/** Resolves the Silero v5 model file inside the installed @ricky0123/vad-web package. */
export function defaultSileroModelPath(): string {
  return createRequire(import.meta.url).resolve('@ricky0123/vad-web/dist/silero_vad_v5.onnx');
}

/**
 * Silero VAD v5 through onnxruntime-node. One instance per audio stream: the model's recurrent
 * state is carried from one 512-sample window to the next. A window runs in about 0.3 ms, which
 * onnxruntime performs off the JS thread.
 */
export async function createSileroVad(opts: SileroVadOptions = {}): Promise<VoiceActivityDetector> {
  const modelPath = opts.modelPath ?? defaultSileroModelPath();
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (err) {
    throw new Error(`silero vad: cannot load model ${modelPath}: ${(err as Error).message}`);
  }
  const sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE)]), []);
  const freshState = () => new ort.Tensor('float32', new Float32Array(STATE_SIZE), [2, 1, 128]);
  let state: ort.Tensor = freshState();
  let generation = 0;
  // Windows must be evaluated in order, since each one's state feeds the next.
  let tail: Promise<unknown> = Promise.resolve();
  let closed = false;

  const run = async (samples: Int16Array): Promise<number> => {
    if (closed) throw new Error('silero vad: closed');
    const input = new Float32Array(WINDOW);
    for (let i = 0; i < WINDOW; i++) input[i] = samples[i] / 32768;
    const gen = generation;
    const out = await session.run({ input: new ort.Tensor('float32', input, [1, WINDOW]), state, sr });
    // A reset() during inference starts a new stream: the old stream's state must not leak into it.
    if (gen === generation) state = out.stateN as ort.Tensor;
    return (out.output.data as Float32Array)[0];
  };

  return {
    name: 'silero',
    sampleRate: SAMPLE_RATE,
    frameSamples: WINDOW,
    process(samples: Int16Array): Promise<number> {
      if (samples.length !== WINDOW) {
        return Promise.reject(
          new Error(`silero vad: expected ${WINDOW} samples (32 ms at 16 kHz), got ${samples.length}`),
        );
      }
      const p = tail.then(() => run(samples));
      tail = p.catch(() => undefined);
      return p;
    },
    reset(): void {
      generation++;
      state = freshState();
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await tail;
      await session.release();
    },
  };
}
