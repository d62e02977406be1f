import { createResampler } from '../../../src/audio/resample.js';
import type { SpeechToText, SttStream, TextToSpeech } from '../../../src/voice/types.js';
import type { LoopbackCall } from './loopback-call.js';

const VOICED_PEAK = 200;
/** Agent silence that ends one agent utterance, as the callee hears it. */
const END_SILENCE_MS = 800;

export interface HeardUtterance {
  text: string;
  startAt: number;
  endAt: number;
}

export interface ScriptedCallee {
  /** Everything the callee heard the agent say, transcribed by its own STT. */
  readonly heard: readonly HeardUtterance[];
  /**
   * The end of the next agent utterance not yet returned by this method (by energy, without waiting
   * for the callee's own transcription, so a slow STT never delays the callee's reply).
   */
  agentFinished(timeoutMs?: number): Promise<number>;
  /** Every agent utterance heard so far, once all their transcriptions are done. */
  transcripts(): Promise<HeardUtterance[]>;
  /** Resolves at the onset of the next agent speech (frames heard from now on), with its time. */
  agentSpeechStart(timeoutMs?: number): Promise<number>;
  /** Speaks `text` (flite) into the call; resolves once it went out, with the first/last voiced frame times. */
  say(text: string): Promise<{ firstVoicedAt: number | null; lastVoicedAt: number | null }>;
  close(): void;
}

/**
 * The far end of a loopback call: a person-like callee that speaks with real TTS and listens with real
 * STT, endpointing the agent's speech by energy (agent audio is clean, so energy is enough here).
 */
export function createScriptedCallee(deps: {
  call: LoopbackCall;
  tts: TextToSpeech;
  /** The callee's ears; without one it tells the agent's utterances apart by energy only (no transcripts). */
  stt?: SpeechToText;
  /** Told of each line the callee says, with its audio at 16 kHz, before it goes out (a recogniser that knows the words). */
  onSay?: (text: string, pcm16k: Int16Array) => void;
  /** Agent silence that ends an agent utterance (ms, default END_SILENCE_MS). */
  endSilenceMs?: number;
}): ScriptedCallee {
  const { call, tts, stt } = deps;
  const endSilenceMs = deps.endSilenceMs ?? END_SILENCE_MS;
  const rate = call.audio.sampleRate;
  const up = stt ? createResampler(rate, stt.sampleRate) : null;
  const stream: SttStream | null = stt ? stt.createStream() : null;
  const heard: HeardUtterance[] = [];
  const ends: number[] = [];
  let endCursor = 0;
  let speaking = false;
  let startAt = 0;
  let lastVoicedAt = 0;
  const changed = new Set<() => void>();
  const onsetWaiters = new Set<(at: number) => void>();
  let finals: Promise<void> = Promise.resolve();

  const unsubscribe = call.callee.onHear((frame, at) => {
    let p = 0;
    for (let i = 0; i < frame.length; i++) p = Math.max(p, Math.abs(frame[i]));
    const voiced = p > VOICED_PEAK;
    if (voiced && !speaking) {
      speaking = true;
      startAt = at;
      for (const w of [...onsetWaiters]) w(at);
      onsetWaiters.clear();
    }
    if (!speaking) return;
    if (stream && up) stream.write(up.process(frame));
    if (voiced) lastVoicedAt = at;
    else if (at - lastVoicedAt >= endSilenceMs) {
      speaking = false;
      const u = { startAt, endAt: lastVoicedAt };
      ends.push(lastVoicedAt);
      for (const w of [...changed]) w();
      const text = stream ? stream.finish() : Promise.resolve({ text: '' });
      finals = finals.then(async () => {
        heard.push({ text: (await text).text, ...u });
        for (const w of [...changed]) w();
      });
    }
  });

  return {
    heard,
    agentFinished(timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (endCursor < ends.length) {
            changed.delete(check);
            clearTimeout(timer);
            resolve(ends[endCursor++]);
          }
        };
        const timer = setTimeout(() => {
          changed.delete(check);
          reject(new Error(`the agent did not finish an utterance within ${timeoutMs} ms`));
        }, timeoutMs);
        changed.add(check);
        check();
      });
    },
    async transcripts() {
      await finals;
      return [...heard];
    },
    agentSpeechStart(timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const w = (at: number) => {
          clearTimeout(timer);
          resolve(at);
        };
        const timer = setTimeout(() => {
          onsetWaiters.delete(w);
          reject(new Error(`the agent did not start speaking within ${timeoutMs} ms`));
        }, timeoutMs);
        onsetWaiters.add(w);
      });
    },
    async say(text) {
      const pcm = await tts.synthesize(text);
      const samples =
        pcm.sampleRate === rate ? pcm.samples : createResampler(pcm.sampleRate, rate).process(pcm.samples);
      deps.onSay?.(text, rate === 16_000 ? samples : createResampler(rate, 16_000).process(samples));
      return call.callee.speak(samples);
    },
    close() {
      unsubscribe();
      stream?.close();
    },
  };
}
