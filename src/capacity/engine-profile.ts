import os from 'node:os';
import type { Pcm } from '../audio/pcm.js';
import { createResampler } from '../audio/resample.js';
import type { DialogueEngine, DialogueSpeed } from '../voice/dialogue/types.js';
import type { SpeechToText, TextToSpeech, VoiceActivityDetector } from '../voice/types.js';

/** What this worker's engines cost on this machine, measured once at start; the capacity model's input. */
export interface EngineProfile {
  /** os.availableParallelism(): the cores this process may run on. */
  cores: number;
  cpuModel: string;
  /** Compute seconds per audio second, one stream (Silero). */
  vadRtf: number;
  /** Same, one STT stream, the final text included. */
  sttRtf: number;
  /** Same, synthesis. */
  ttsRtf: number;
  /** null when the dialogue runs elsewhere (LLM_URL) or none is configured. */
  llm: {
    genTokensPerSecond: number;
    promptTokensPerSecond: number;
    /** Cores the model keeps busy while it works, when the engine says (default: all of `cores`). */
    threads?: number;
  } | null;
  /** ISO time. */
  measuredAt: string;
  /** How long measuring took. */
  ms: number;
}

export interface ProfiledEngines {
  stt: SpeechToText;
  tts: TextToSpeech;
  createVad(): Promise<VoiceActivityDetector>;
  dialogue: DialogueEngine | null;
}

/**
 * Two of the voice bench's callee lines (bench/lib/engine-floor.ts): a question and a statement,
 * about 6 s of speech, so that the figures are of the same kind of audio the bench reports, and the
 * STT's second utterance is decoded by a stream that has adapted to the voice, as most of a call is.
 */
const PROFILE_SENTENCES = [
  'Sure, for how many people would that be, and at what time?',
  'We have a table free at seven thirty.',
] as const;

/** The media edge hands the recogniser 20 ms of audio at a time. */
const CHUNK_MS = 20;

/**
 * The engines' cost on this machine, measured on one stream each, one after another: the TTS
 * synthesises the profile sentences (ttsRtf), one STT stream decodes that audio fed in 20 ms chunks
 * and gives each sentence's final (sttRtf), a fresh VAD runs over it (vadRtf), then the dialogue
 * probes its own speed (`measureSpeed`, llama.cpp only; otherwise `llm: null`).
 *
 * Cost of a stage = min(wall time, this process's CPU time) over its run. Every stage runs one
 * stream on one thread (pocketsphinx/Vosk decode a stream on one worker thread, flite on koffi's call
 * thread, Silero with one intra-op thread), so its true compute time is at most its wall time and at
 * most the process's CPU time; each can only be inflated by something else: the wall time by other
 * processes competing for the cores (that load is counted separately, by MachineLoad, and must not be
 * counted twice), the process's CPU time by this process's other threads (the dialogue warming its
 * prompt at start, another call). The smaller of the two is the nearer bound in both cases, and equals
 * the bench's wall-time floor (bench/lib/engine-floor.ts) on an idle machine.
 *
 * Honours `signal` between steps (rejecting with its reason). A slow engine only makes the figures
 * large; an engine that fails rejects with an error naming the stage and the engine.
 */
export async function measureEngineProfile(
  engines: ProfiledEngines,
  opts: { signal?: AbortSignal } = {},
): Promise<EngineProfile> {
  const { signal } = opts;
  const started = performance.now();
  signal?.throwIfAborted();

  const tts = await stage('TTS', engines.tts.name, signal, async () => {
    const audio: Pcm[] = [];
    const cost = await costOf(async () => {
      for (const text of PROFILE_SENTENCES) {
        signal?.throwIfAborted();
        audio.push(await engines.tts.synthesize(text, { signal }));
      }
    });
    const seconds = audioSeconds(audio);
    if (!(seconds > 0)) throw new Error('it produced no audio');
    return { audio, rtf: cost / 1000 / seconds };
  });

  const sttAudio = tts.audio.map((p) => resampleTo(p, engines.stt.sampleRate));
  const sttRtf = await stage('STT', engines.stt.name, signal, async () => {
    const stream = engines.stt.createStream();
    try {
      const chunk = Math.max(1, Math.round((engines.stt.sampleRate * CHUNK_MS) / 1000));
      const cost = await costOf(async () => {
        for (const pcm of sttAudio) {
          signal?.throwIfAborted();
          for (let off = 0; off < pcm.samples.length; off += chunk)
            stream.write(pcm.samples.subarray(off, off + chunk));
          await stream.finish();
        }
      });
      return cost / 1000 / audioSeconds(sttAudio);
    } finally {
      stream.close();
    }
  });

  let vadName = 'createVad';
  const vadRtf = await stage(
    'VAD',
    () => vadName,
    signal,
    async () => {
      const vad = await engines.createVad();
      vadName = vad.name;
      try {
        const vadAudio = tts.audio.map((p) => resampleTo(p, vad.sampleRate));
        let seconds = 0;
        const cost = await costOf(async () => {
          for (const pcm of vadAudio) {
            signal?.throwIfAborted();
            for (let off = 0; off + vad.frameSamples <= pcm.samples.length; off += vad.frameSamples)
              await vad.process(pcm.samples.subarray(off, off + vad.frameSamples));
            // Only whole frames were judged: the rest of the sentence cost nothing.
            seconds += (pcm.samples.length - (pcm.samples.length % vad.frameSamples)) / pcm.sampleRate;
          }
        });
        if (!(seconds > 0)) throw new Error('the audio was shorter than one VAD frame');
        return cost / 1000 / seconds;
      } finally {
        await vad.close().catch(() => undefined);
      }
    },
  );

  const dialogue = engines.dialogue;
  let llm: EngineProfile['llm'] = null;
  if (dialogue?.measureSpeed) {
    const probe = dialogue.measureSpeed.bind(dialogue);
    llm = await stage('dialogue', dialogue.name, signal, async () => {
      // An engine may also say how many threads its model spins (not in DialogueSpeed: optional).
      const speed: DialogueSpeed & { threads?: number } = await untilAborted(probe({ signal }), signal);
      if (!(speed.genTokensPerSecond > 0) || !(speed.promptTokensPerSecond > 0))
        throw new Error(
          `its speed probe gave ${speed.genTokensPerSecond} generated / ${speed.promptTokensPerSecond} prompt tokens/s`,
        );
      return {
        genTokensPerSecond: speed.genTokensPerSecond,
        promptTokensPerSecond: speed.promptTokensPerSecond,
        ...(speed.threads && speed.threads > 0 ? { threads: speed.threads } : {}),
      };
    });
  }

  return {
    cores: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model?.trim() || 'unknown',
    vadRtf,
    sttRtf,
    ttsRtf: tts.rtf,
    llm,
    measuredAt: new Date().toISOString(),
    ms: Math.round(performance.now() - started),
  };
}

/** Runs one stage; an abort passes through as is, any other failure is named. */
async function stage<T>(
  what: string,
  engine: string | (() => string),
  signal: AbortSignal | undefined,
  run: () => Promise<T>,
): Promise<T> {
  signal?.throwIfAborted();
  try {
    return await run();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const message = err instanceof Error ? err.message : String(err);
    const name = typeof engine === 'function' ? engine() : engine;
    throw new Error(`measuring the engines: ${what} (${name}) failed: ${message}`, { cause: err });
  }
}

/** The stage's compute time in ms: see measureEngineProfile for why the smaller of wall and CPU time. */
async function costOf(run: () => Promise<void>): Promise<number> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return Math.min(wallMs, cpuMs);
}

function audioSeconds(audio: readonly Pcm[]): number {
  return audio.reduce((s, p) => s + p.samples.length / p.sampleRate, 0);
}

function resampleTo(pcm: Pcm, rate: number): Pcm {
  if (pcm.sampleRate === rate) return pcm;
  return { samples: createResampler(pcm.sampleRate, rate).process(pcm.samples), sampleRate: rate };
}

/** `p`, or the abort's reason as soon as `signal` aborts (a probe may finish its step first). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
