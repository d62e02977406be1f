import type { Pcm, SpeechToText, TextToSpeech, VoiceActivityDetector } from '../../src/voice/types.js';

/** The callee lines of the bench: the audio every engine is measured on. */
/**
 * The bench callee's lines: its greeting, then questions and statements in turn, so that the voice
 * bench measures replies after both (the agent waits longer after a statement; see turn-end.ts).
 */
export const FLOOR_SENTENCES = [
  'Hello, thank you for calling. How can I help you today?',
  'Sure, for how many people would that be, and at what time?',
  'We have a table free at seven thirty.',
  'Great, what name should I put the booking under?',
  'Okay, the table is booked for you tonight.',
] as const;

export interface RtfResult {
  audioSeconds: number;
  wallSeconds: number;
  /** wall time / audio time: below 1 is faster than real time. */
  rtf: number;
}

const rtf = (audioSeconds: number, wallMs: number): RtfResult => ({
  audioSeconds,
  wallSeconds: wallMs / 1000,
  rtf: wallMs / 1000 / audioSeconds,
});

export async function measureTts(tts: TextToSpeech): Promise<{ result: RtfResult; audio: Pcm[] }> {
  const audio: Pcm[] = [];
  const t0 = performance.now();
  for (const s of FLOOR_SENTENCES) audio.push(await tts.synthesize(s));
  const wall = performance.now() - t0;
  const secs = audio.reduce((a, p) => a + p.samples.length / p.sampleRate, 0);
  return { result: rtf(secs, wall), audio };
}

/** Streams each utterance in 20 ms chunks as fast as the engine takes them, then asks for the final text. */
export async function measureStt(
  stt: SpeechToText,
  audio: Pcm[],
): Promise<{ result: RtfResult; texts: string[] }> {
  const texts: string[] = [];
  const stream = stt.createStream();
  const t0 = performance.now();
  let secs = 0;
  try {
    for (const pcm of audio) {
      if (pcm.sampleRate !== stt.sampleRate)
        throw new Error(`STT wants ${stt.sampleRate} Hz, audio is ${pcm.sampleRate} Hz`);
      const chunk = pcm.sampleRate / 50;
      for (let off = 0; off < pcm.samples.length; off += chunk)
        stream.write(pcm.samples.subarray(off, off + chunk));
      texts.push((await stream.finish()).text);
      secs += pcm.samples.length / pcm.sampleRate;
    }
  } finally {
    stream.close();
  }
  return { result: rtf(secs, performance.now() - t0), texts };
}

export async function measureVad(vad: VoiceActivityDetector, audio: Pcm[]): Promise<RtfResult> {
  vad.reset();
  const t0 = performance.now();
  let secs = 0;
  for (const pcm of audio) {
    for (let off = 0; off + vad.frameSamples <= pcm.samples.length; off += vad.frameSamples) {
      await vad.process(pcm.samples.subarray(off, off + vad.frameSamples));
    }
    secs += pcm.samples.length / pcm.sampleRate;
  }
  return rtf(secs, performance.now() - t0);
}

export interface LlmSpeed {
  promptTokens: number;
  promptTokPerS: number;
  genTokens: number;
  genTokPerS: number;
  /** Prompt evaluation plus the first generated token: the dialogue's share of a turn before streaming starts. */
  firstTokenMs: number;
}

/**
 * llama.cpp's own speed on one sequence: evaluate a prompt of about a turn's size, then generate
 * `genTokens` greedily. Random weights never stop early here, because sampling ignores end-of-text.
 */
export async function measureLlm(
  modelPath: string,
  opts: { genTokens: number; threads?: number },
): Promise<LlmSpeed> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  try {
    const model = await llama.loadModel({ modelPath });
    try {
      const context = await model.createContext({ contextSize: 2048, sequences: 1, threads: opts.threads });
      try {
        const seq = context.getSequence();
        const prompt = FLOOR_SENTENCES.join(' ');
        const tokens = model.tokenize(prompt);
        const t0 = performance.now();
        await seq.evaluateWithoutGeneratingNewTokens(tokens);
        const promptMs = performance.now() - t0;
        let n = 0;
        let firstAt = 0;
        const g0 = performance.now();
        for await (const _tok of seq.evaluate([tokens.at(-1)!], { temperature: 0 })) {
          if (n === 0) firstAt = performance.now();
          if (++n >= opts.genTokens) break;
        }
        const genMs = performance.now() - g0;
        return {
          promptTokens: tokens.length,
          promptTokPerS: tokens.length / (promptMs / 1000),
          genTokens: n,
          genTokPerS: n / (genMs / 1000),
          firstTokenMs: promptMs + (firstAt - g0),
        };
      } finally {
        await context.dispose();
      }
    } finally {
      await model.dispose();
    }
  } finally {
    await llama.dispose();
  }
}
