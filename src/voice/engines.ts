import { type Dirent, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact.js';
import { FIXED_INSTRUCTIONS } from './agent/prompt.js';
import { createLlamaCppDialogue } from './dialogue/llama-cpp.js';
import { createOpenAiCompatibleDialogue } from './dialogue/openai-compatible.js';
import type { DialogueEngine } from './dialogue/types.js';
import { findInstalledGguf } from './models/installed-gguf.js';
import { createPocketsphinxStt } from './stt/pocketsphinx.js';
import { createVoskStt, resolveVoskLib } from './stt/vosk.js';
import { createFliteTts } from './tts/flite.js';
import { createPiperTts } from './tts/piper.js';
import type { SpeechToText, TextToSpeech, VoiceActivityDetector } from './types.js';
import { createSileroVad } from './vad/silero.js';

export interface SelectedEngines {
  stt: SpeechToText;
  tts: TextToSpeech;
  /** A detector for one stream; call `createVad()` for each further concurrent stream (it holds per-stream state). */
  vad: VoiceActivityDetector;
  createVad(): Promise<VoiceActivityDetector>;
  /** null when no dialogue model is configured or installed; `missing` says what to do. */
  dialogue: DialogueEngine | null;
  /** Engine kind → what is in use, for logs and /readyz. */
  report: Record<string, string>;
  /** Sentences naming what is not installed and how to install it. */
  missing: string[];
  close(): Promise<void>;
}

type SelectConfig = Partial<Pick<Config, 'WORKER_CONCURRENCY' | 'LLM_TURN_THREADS'>> &
  Pick<
    Config,
    | 'STT_ENGINE'
    | 'TTS_ENGINE'
    | 'DIALOGUE_ENGINE'
    | 'LLM_MODEL'
    | 'LLM_URL'
    | 'LLM_API_KEY'
    | 'LLM_THREADS'
    | 'DEFAULT_VOICE'
    | 'modelsDir'
  >;

/**
 * llama.cpp sequences for WORKER_CONCURRENCY. Each sequence reserves its share of the context's KV
 * memory up front, so with `auto` there are only as many as the cores could plausibly carry calls
 * (about two per core, at least two, at most eight); the capacity model keeps live calls within the
 * dialogue's measured speed, and a call beyond them borrows the least recently used one (llama-cpp.ts).
 */
export function dialogueSequences(concurrency: Config['WORKER_CONCURRENCY'] | undefined): number {
  if (typeof concurrency === 'number') return concurrency;
  if (concurrency === undefined) return 4;
  return Math.min(8, Math.max(2, 2 * os.availableParallelism()));
}

/** The first entry of `dir` (sorted by name) that `pick` accepts, as a full path; null when none. */
async function firstEntry(dir: string, pick: (e: Dirent, dir: string) => boolean): Promise<string | null> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[]);
  const hit = entries.sort((a, b) => a.name.localeCompare(b.name)).find((e) => pick(e, dir));
  return hit ? path.join(dir, hit.name) : null;
}

/**
 * Picks and loads the voice engines from the configuration and what is installed (Vosk over
 * pocketsphinx, Piper over flite, llama-cpp with LLM_MODEL or an installed GGUF, else the
 * OpenAI-compatible adapter with LLM_URL), honouring the
 * STT_ENGINE / TTS_ENGINE / DIALOGUE_ENGINE / LLM_MODEL / LLM_URL overrides. Every engine created
 * here is released by `close()`, also when a later one fails to load.
 */
export async function selectEngines(config: SelectConfig, logger: Logger): Promise<SelectedEngines> {
  const log = logger.child({ component: 'engines' });
  const report: Record<string, string> = {};
  const missing: string[] = [];
  const opened: { close(): Promise<void> }[] = [];
  // Detectors made for calls and not closed yet: a call closes its own at its end, the rest close here.
  const vads = new Set<VoiceActivityDetector>();
  const closeAll = async () => {
    for (const e of opened.reverse())
      await e.close().catch((err) => log.warn({ err }, 'engine close failed'));
    for (const v of [...vads]) await v.close().catch(() => undefined);
    opened.length = 0;
  };
  try {
    const voskLib = resolveVoskLib({ modelsDir: config.modelsDir });
    const voskModel = await firstEntry(path.join(config.modelsDir, 'vosk'), (e) => e.isDirectory());
    let stt: SpeechToText;
    if (config.STT_ENGINE === 'vosk' || (!config.STT_ENGINE && voskLib && voskModel)) {
      if (!voskModel) {
        throw new Error(
          `STT_ENGINE=vosk: no Vosk model under ${path.join(config.modelsDir, 'vosk')}; run \`npx agentline models fetch\``,
        );
      }
      stt = await createVoskStt({ modelDir: voskModel, modelsDir: config.modelsDir });
      report.stt = `vosk (${path.basename(voskModel)})`;
    } else {
      stt = await createPocketsphinxStt();
      report.stt = 'pocketsphinx (en-us, 16 kHz)';
    }
    opened.push(stt);

    const piperVoice = await firstEntry(
      path.join(config.modelsDir, 'piper'),
      (e, dir) => e.isFile() && e.name.endsWith('.onnx') && existsSync(path.join(dir, `${e.name}.json`)),
    );
    let tts: TextToSpeech;
    if (config.TTS_ENGINE === 'piper' || (!config.TTS_ENGINE && piperVoice)) {
      if (!piperVoice) {
        throw new Error(
          `TTS_ENGINE=piper: no Piper voice (.onnx + .onnx.json) under ${path.join(config.modelsDir, 'piper')}; run \`npx agentline models fetch\``,
        );
      }
      tts = await createPiperTts({ modelPath: piperVoice });
      report.tts = `piper (${tts.voices[0]})`;
    } else {
      tts = await createFliteTts(config.DEFAULT_VOICE ? { voice: config.DEFAULT_VOICE } : {});
      report.tts = `flite (${tts.voices[0]})`;
    }
    opened.push(tts);

    const createVad = async (): Promise<VoiceActivityDetector> => {
      const v = await createSileroVad();
      vads.add(v);
      // Forgotten once closed, so a long-running worker does not keep one per call it ever carried.
      return {
        name: v.name,
        sampleRate: v.sampleRate,
        frameSamples: v.frameSamples,
        process: (samples) => v.process(samples),
        reset: () => v.reset(),
        close: () => {
          vads.delete(v);
          return v.close();
        },
      };
    };
    const vad = await createVad();
    report.vad = 'silero v5';

    let dialogue: DialogueEngine | null = null;
    const wanted = config.DIALOGUE_ENGINE;
    if (wanted === 'openai' || (!wanted && !config.LLM_MODEL && config.LLM_URL)) {
      if (!config.LLM_URL) throw new Error('DIALOGUE_ENGINE=openai needs LLM_URL (the server base URL)');
      dialogue = createOpenAiCompatibleDialogue({ url: config.LLM_URL, apiKey: config.LLM_API_KEY, logger });
      // Shown by /readyz to anyone: without the credentials LLM_URL may carry.
      report.dialogue = `openai-compatible (${redactUrl(config.LLM_URL)})`;
    } else {
      const modelPath = config.LLM_MODEL ?? (await findInstalledGguf(config.modelsDir))[0];
      if (modelPath) {
        // One core stays free for media pacing, STT and VAD: llama.cpp spinning on every core starves them,
        // and on a loaded 2-core box its own per-token time collapses too.
        const threads = config.LLM_THREADS ?? Math.max(1, os.availableParallelism() - 1);
        // A reply is generated while the callee is silent and the recogniser idle: it may take every core.
        const turnThreads = config.LLM_TURN_THREADS ?? Math.max(threads, os.availableParallelism());
        // A sequence per call the worker runs at once, so every live call keeps its prompt evaluated.
        dialogue = await createLlamaCppDialogue({
          modelPath,
          logger,
          threads,
          turnThreads,
          sequences: dialogueSequences(config.WORKER_CONCURRENCY),
        });
        // In the background: every call's prompt starts with these, and the first call would otherwise
        // wait for them (~550 tokens: ~9 s on one thread of these machines) before its first reply.
        dialogue.warmUp?.([{ role: 'system', content: FIXED_INSTRUCTIONS }]).catch((err: Error) => {
          logger.warn({ err }, 'warming the dialogue prompt failed');
        });
        report.dialogue = `llama-cpp (${path.basename(modelPath)}, ${threads} thread${threads === 1 ? '' : 's'}, ${turnThreads} while replying)`;
      } else {
        report.dialogue = 'none';
        missing.push(
          `dialogue model: no GGUF model in ${config.modelsDir}; run \`npx agentline models fetch\`, or set LLM_MODEL to a GGUF file, or LLM_URL to an OpenAI-compatible server`,
        );
      }
    }
    if (dialogue) opened.push(dialogue);
    log.info({ engines: report, missing }, 'voice engines selected');
    return {
      stt,
      tts,
      vad,
      createVad,
      dialogue,
      report,
      missing,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
