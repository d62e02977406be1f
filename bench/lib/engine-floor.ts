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
  return withContext(modelPath, 1, opts.threads, async ({ model, context }) => {
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
  });
}

export interface LlmBatchingRow {
  /** Sequences generating (and, before that, reading their prompts) at the same time. */
  sequences: number;
  promptTokPerS: number;
  promptTokPerSPerSequence: number;
  genTokPerS: number;
  genTokPerSPerSequence: number;
  /**
   * llama.cpp decodes per generation step (decode calls / tokens each sequence generated): 1 when
   * node-llama-cpp put every sequence's next token in one batch, `sequences` when each decoded alone.
   */
  decodesPerStep: number;
}

export interface ReplyBesideReadAheadRow {
  /** Tokens another sequence reads (prompt, no output) in each batch while the reply generates; 0: nothing beside it. */
  readAheadChunk: number;
  /** The reply's own speed: generated tokens a second. */
  replyTokPerS: number;
  /** Tokens the other sequence read meanwhile, a second. */
  readAheadTokPerS: number;
}

type Loaded = {
  model: import('node-llama-cpp').LlamaModel;
  context: import('node-llama-cpp').LlamaContext;
  /** llama.cpp decode calls so far (node-llama-cpp's batches). */
  decodes(): number;
};

/** One model, one context of `sequences` sequences, for `fn`; everything is disposed after. */
async function withContext<T>(
  modelPath: string,
  sequences: number,
  threads: number | undefined,
  fn: (l: Loaded) => Promise<T>,
): Promise<T> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  try {
    const model = await llama.loadModel({ modelPath });
    try {
      const context = await model.createContext({ contextSize: 1024 * sequences, sequences, threads });
      // Counting node-llama-cpp's batches needs its internal native binding, whose methods are
      // read-only: a proxy in its place counts the decode calls.
      const holder = context as unknown as { _ctx: Record<string | symbol, unknown> };
      const native = holder._ctx;
      let decodes = 0;
      holder._ctx = new Proxy(native, {
        get(target, key) {
          const v = target[key];
          if (typeof v !== 'function') return v;
          if (key !== 'decodeBatch') return v.bind(target);
          return (...args: unknown[]) => {
            decodes++;
            return v.apply(target, args);
          };
        },
      });
      try {
        return await fn({ model, context, decodes: () => decodes });
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

/** Generates `n` tokens greedily after `tokens` (random weights never stop early: sampling ignores end-of-text). */
async function generateOn(
  seq: import('node-llama-cpp').LlamaContextSequence,
  last: import('node-llama-cpp').Token,
  n: number,
): Promise<number> {
  let made = 0;
  for await (const _tok of seq.evaluate([last], { temperature: 0 })) {
    if (++made >= n) break;
  }
  return made;
}

/**
 * What several calls' dialogue costs together on one context: for each count n, n sequences read
 * their own prompt at the same time, then generate `genTokens` each at the same time. When
 * node-llama-cpp batches the sequences (one decode per step), the aggregate rate grows with n
 * because a CPU step is bound by reading the weights, not by the number of tokens in it.
 */
export async function measureLlmBatching(
  modelPath: string,
  opts: { sequences: number[]; genTokens: number; threads?: number },
): Promise<LlmBatchingRow[]> {
  const most = Math.max(...opts.sequences);
  return withContext(modelPath, most, opts.threads, async ({ model, context, decodes }) => {
    const seqs = Array.from({ length: most }, () => context.getSequence());
    const rows: LlmBatchingRow[] = [];
    for (const n of opts.sequences) {
      const active = seqs.slice(0, n);
      await Promise.all(active.map((s) => s.clearHistory()));
      // A short prompt of its own for each sequence, as each call's words differ.
      const prompts = active.map((_, i) =>
        model.tokenize(`${FLOOR_SENTENCES[i % FLOOR_SENTENCES.length]} ${FLOOR_SENTENCES[(i + 2) % 5]}`),
      );
      const promptTokens = prompts.reduce((a, p) => a + p.length, 0);
      const p0 = performance.now();
      await Promise.all(active.map((s, i) => s.evaluateWithoutGeneratingNewTokens(prompts[i])));
      const promptS = (performance.now() - p0) / 1000;
      const d0 = decodes();
      const g0 = performance.now();
      const made = await Promise.all(active.map((s, i) => generateOn(s, prompts[i].at(-1)!, opts.genTokens)));
      const genS = (performance.now() - g0) / 1000;
      const generated = made.reduce((a, b) => a + b, 0);
      rows.push({
        sequences: n,
        promptTokPerS: promptTokens / promptS,
        promptTokPerSPerSequence: promptTokens / promptS / n,
        genTokPerS: generated / genS,
        genTokPerSPerSequence: generated / genS / n,
        decodesPerStep: (decodes() - d0) / Math.max(...made),
      });
    }
    return rows;
  });
}

/**
 * What reading another call's prompt beside a reply costs the reply: one sequence generates
 * `genTokens` while a second keeps reading prompt tokens in chunks of `chunk` (each chunk queued as
 * soon as the previous one is read, so it lands in the reply's batches). Chunk 0 is the reply alone.
 */
export async function measureReplyBesideReadAhead(
  modelPath: string,
  opts: { chunks: number[]; genTokens: number; threads?: number },
): Promise<ReplyBesideReadAheadRow[]> {
  return withContext(modelPath, 2, opts.threads, async ({ model, context }) => {
    const reply = context.getSequence();
    const reader = context.getSequence();
    const prompt = model.tokenize(FLOOR_SENTENCES.join(' '));
    const text = model.tokenize(FLOOR_SENTENCES.join(' ').repeat(8));
    const rows: ReplyBesideReadAheadRow[] = [];
    for (const chunk of opts.chunks) {
      await reply.clearHistory();
      await reader.clearHistory();
      await reply.evaluateWithoutGeneratingNewTokens(prompt);
      let done = false;
      let read = 0;
      const reading = (async () => {
        for (let at = 0; chunk > 0 && !done && at + chunk <= text.length; at += chunk) {
          await reader.evaluateWithoutGeneratingNewTokens(text.slice(at, at + chunk), {
            evaluationPriority: 1,
          });
          read += chunk;
        }
      })();
      const g0 = performance.now();
      const made = await generateOn(reply, prompt.at(-1)!, opts.genTokens);
      const genS = (performance.now() - g0) / 1000;
      const readDuring = read;
      done = true;
      await reading;
      rows.push({ readAheadChunk: chunk, replyTokPerS: made / genS, readAheadTokPerS: readDuring / genS });
    }
    return rows;
  });
}
