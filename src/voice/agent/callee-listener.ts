import { createResampler } from '../../audio/resample.js';
import type { Logger } from '../../logger.js';
import type { CallAudio } from '../../telephony/call-session.js';
import type { SttStream, VoiceActivityDetector } from '../types.js';

export interface ListenerOptions {
  /** Speech probability that starts speech (Silero's usual 0.5). */
  positiveThreshold: number;
  /** Below this, inside speech, a window counts as silence (hysteresis). */
  negativeThreshold: number;
  /** Voiced time before a run counts as speech (drops clicks and breaths). */
  minSpeechMs: number;
  /** Silence after speech that ends the callee's utterance. */
  endSilenceMs: number;
  /**
   * The silence that ends it given the STT's text so far (see turn-end.ts), asked at each quiet
   * window; `endSilenceMs` when absent.
   */
  endSilenceFor?: (textSoFar: string) => number;
  /** Audio kept from before the speech onset and given to STT, so the first phoneme is not clipped. */
  prerollMs: number;
  /** An utterance is cut (and transcribed) after this long, so a monologue still gets answered. */
  maxUtteranceMs: number;
}

/** One finished callee utterance; times are `performance.now()` ms. */
export interface CalleeUtterance {
  text: string;
  startMs: number;
  /** End of the last voiced window. */
  endMs: number;
  /** When STT returned the final text. */
  sttFinalMs: number;
}

export interface ListenerEvents {
  /** Speech confirmed (after `minSpeechMs` voiced); `atMs` is the onset of the first voiced window. */
  onSpeechStart(atMs: number): void;
  /**
   * Each analysed window while the callee speaks: voiced time so far in this utterance, audio time since
   * its onset, and whether this window is voiced.
   */
  onSpeechProgress(p: { voicedMs: number; spanMs: number; voicedNow: boolean }): void;
  /** The utterance ended and STT gave its final text (possibly empty for noise). */
  onUtterance(u: CalleeUtterance): void;
  /**
   * Every analysed window, speech or not, after the endpointing state was updated: whether it is voiced
   * (above the start threshold outside speech, above the hysteresis threshold inside it). Barge-in reacts
   * to this, well before `minSpeechMs` confirms speech.
   */
  /** Every VAD window, with its RMS level (16-bit scale), as soon as it is scored. */
  onWindow?(w: { prob: number; voiced: boolean; inSpeech: boolean; windowMs: number; rms: number }): void;
}

export interface CalleeListener {
  /** True from confirmed speech start until its end of utterance. */
  readonly inSpeech: boolean;
  /** Utterances ended but not yet transcribed. */
  readonly pendingFinals: number;
  /** The STT's current partial hypothesis of the utterance in progress. */
  partial(): string;
  /** Whether that partial is already the utterance's final text; null when the STT cannot tell. */
  partialIsFinal(): boolean | null;
  /** Ends an utterance in progress now (the call is ending) and resolves once its final text was delivered. */
  drain(): Promise<void>;
  stop(): void;
}

/**
 * Listens to the callee: call audio (any rate) → 16 kHz → Silero-style VAD windows → endpointing, with
 * the speech (plus pre-roll) streamed to STT and finished at each end of utterance.
 */
export function createCalleeListener(deps: {
  audio: CallAudio;
  vad: VoiceActivityDetector;
  stt: SttStream;
  sttRate: number;
  logger: Logger;
  options: ListenerOptions;
  events: ListenerEvents;
}): CalleeListener {
  const { audio, vad, stt, logger, options: o, events } = deps;
  if (vad.sampleRate !== deps.sttRate) {
    throw new Error(`VAD rate ${vad.sampleRate} Hz differs from STT rate ${deps.sttRate} Hz`);
  }
  const rate = vad.sampleRate;
  const win = vad.frameSamples;
  const winMs = (win / rate) * 1000;
  const resampler = createResampler(audio.sampleRate, rate);

  // Samples waiting for a full VAD window, with the arrival time of the frame that brought the latest ones.
  let acc = new Int16Array(win * 4);
  let accLen = 0;
  const windows: { samples: Int16Array; endAt: number }[] = [];
  const preroll: Int16Array[] = [];
  const prerollWindows = Math.ceil((o.prerollMs + o.minSpeechMs) / winMs);

  let inSpeech = false;
  let candidateStart: number | null = null;
  let candidateMs = 0;
  let speechStart = 0;
  let voicedMs = 0;
  // Audio time since the onset, counted in windows so a stalled event loop cannot stretch it.
  let spanMs = 0;
  let silenceMs = 0;
  let lastVoicedEnd = 0;
  let pendingFinals = 0;
  let stopped = false;
  let processing = false;
  let finalsTail: Promise<void> = Promise.resolve();

  // The required silence for the words so far, worked out again only when the STT's text changes.
  let silenceFor: { text: string; ms: number } | null = null;
  function endSilence(): number {
    if (!o.endSilenceFor) return o.endSilenceMs;
    const text = stt.partial();
    if (silenceFor?.text !== text) silenceFor = { text, ms: o.endSilenceFor(text) };
    return silenceFor.ms;
  }

  function endUtterance(): void {
    inSpeech = false;
    candidateStart = null;
    candidateMs = 0;
    pendingFinals++;
    const startMs = speechStart;
    const endMs = lastVoicedEnd;
    const p = stt.finish().then(
      (r) => ({ text: r.text.trim(), at: performance.now() }),
      (err: Error) => {
        logger.warn({ err }, 'stt final failed');
        return { text: '', at: performance.now() };
      },
    );
    finalsTail = finalsTail.then(async () => {
      const r = await p;
      pendingFinals--;
      if (!stopped) events.onUtterance({ text: r.text, startMs, endMs, sttFinalMs: r.at });
    });
  }

  function analyse(samples: Int16Array, endAt: number, prob: number): void {
    preroll.push(samples);
    if (preroll.length > prerollWindows) preroll.shift();
    if (!inSpeech) {
      if (prob >= o.positiveThreshold) {
        candidateStart ??= endAt - winMs;
        candidateMs += winMs;
        if (candidateMs >= o.minSpeechMs) {
          inSpeech = true;
          speechStart = candidateStart;
          voicedMs = candidateMs;
          silenceMs = 0;
          lastVoicedEnd = endAt;
          for (const w of preroll) stt.write(w);
          preroll.length = 0;
          events.onSpeechStart(speechStart);
          spanMs = candidateMs;
          events.onSpeechProgress({ voicedMs, spanMs, voicedNow: true });
        }
      } else {
        candidateStart = null;
        candidateMs = 0;
      }
      return;
    }
    stt.write(samples);
    const voicedNow = prob >= o.negativeThreshold;
    if (voicedNow) {
      voicedMs += winMs;
      silenceMs = 0;
      lastVoicedEnd = endAt;
    } else {
      silenceMs += winMs;
    }
    spanMs += winMs;
    events.onSpeechProgress({ voicedMs, spanMs, voicedNow });
    if (endAt - speechStart >= o.maxUtteranceMs || (!voicedNow && silenceMs >= endSilence())) endUtterance();
  }

  async function pump(): Promise<void> {
    if (processing) return;
    processing = true;
    try {
      while (windows.length > 0 && !stopped) {
        const w = windows.shift()!;
        const prob = await vad.process(w.samples);
        if (stopped) return;
        analyse(w.samples, w.endAt, prob);
        events.onWindow?.({
          rms: rmsOf(w.samples),
          prob,
          voiced: prob >= (inSpeech ? o.negativeThreshold : o.positiveThreshold),
          inSpeech,
          windowMs: winMs,
        });
      }
    } catch (err) {
      if (!stopped) logger.error({ err }, 'vad failed; the agent no longer hears the callee');
      stopped = true;
    } finally {
      processing = false;
    }
  }

  const unsubscribe = audio.onFrame((frame) => {
    if (stopped) return;
    const at = performance.now();
    const pcm = resampler.process(frame);
    if (accLen + pcm.length > acc.length) {
      const bigger = new Int16Array((accLen + pcm.length) * 2);
      bigger.set(acc.subarray(0, accLen));
      acc = bigger;
    }
    acc.set(pcm, accLen);
    accLen += pcm.length;
    let off = 0;
    while (accLen - off >= win) {
      windows.push({ samples: acc.slice(off, off + win), endAt: at });
      off += win;
    }
    if (off > 0) {
      acc.copyWithin(0, off, accLen);
      accLen -= off;
    }
    void pump();
  });

  return {
    get inSpeech() {
      return inSpeech;
    },
    get pendingFinals() {
      return pendingFinals;
    },
    partial: () => (inSpeech ? stt.partial() : ''),
    partialIsFinal: () => (stt.partialIsFinal ? inSpeech && stt.partialIsFinal() : null),
    async drain() {
      if (inSpeech && !stopped) endUtterance();
      await finalsTail;
    },
    stop() {
      stopped = true;
      unsubscribe();
    },
  };
}

function rmsOf(samples: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}
