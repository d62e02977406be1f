import fs from 'node:fs';
import path from 'node:path';
import type { SpeechToText } from '../types.js';
import type { VoskWorkerData } from './vosk-worker.js';
import { startWorkerStt } from './worker-stt.js';

export interface VoskOptions {
  /** Unpacked Vosk model folder (e.g. MODELS_DIR/vosk/vosk-model-small-en-us-0.15). */
  modelDir: string;
  /** libvosk.so; default VOSK_LIB, else `<modelsDir>/lib/libvosk.so`, else `<modelsDir>/../lib/libvosk.so`. */
  libPath?: string;
  modelsDir?: string;
  env?: Record<string, string | undefined>;
  /** Rate the recogniser runs at (the small English model is trained on 16 kHz; 8 kHz also works). */
  sampleRate?: number;
  /** Decoder threads (streams are spread over them). Default 1. */
  threads?: number;
}

/** Where libvosk.so is looked for, in order. */
export function resolveVoskLib(opts: Pick<VoskOptions, 'libPath' | 'modelsDir' | 'env'>): string | null {
  const candidates = [
    opts.libPath,
    (opts.env ?? process.env).VOSK_LIB,
    opts.modelsDir ? path.join(opts.modelsDir, 'lib', 'libvosk.so') : undefined,
    // scripts/fetch-libvosk.sh's default, data/lib, next to the default MODELS_DIR data/models.
    opts.modelsDir ? path.join(opts.modelsDir, '..', 'lib', 'libvosk.so') : undefined,
  ].filter((p): p is string => Boolean(p));
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

/** Vosk (Kaldi) through koffi on libvosk.so; recognition runs in worker threads. */
export async function createVoskStt(opts: VoskOptions): Promise<SpeechToText> {
  const libPath = resolveVoskLib(opts);
  if (!libPath) {
    throw new Error(
      'vosk: libvosk.so not found; run `npx agentline models fetch --only libvosk` or scripts/fetch-libvosk.sh, or set VOSK_LIB',
    );
  }
  if (!fs.existsSync(opts.modelDir) || !fs.statSync(opts.modelDir).isDirectory()) {
    throw new Error(
      `vosk: model folder ${opts.modelDir} does not exist; run \`npx agentline models fetch --only vosk-model-small-en-us-0.15\``,
    );
  }
  const sampleRate = opts.sampleRate ?? 16_000;
  const data: VoskWorkerData = { libPath, modelDir: path.resolve(opts.modelDir), sampleRate };
  return startWorkerStt({
    name: 'vosk',
    sampleRate,
    entry: new URL('./vosk-worker.ts', import.meta.url),
    workerData: data,
    threads: Math.max(1, Math.floor(opts.threads ?? 1)),
  });
}
