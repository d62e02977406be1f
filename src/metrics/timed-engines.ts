import type { DialogueConversation, DialogueEngine } from '../voice/dialogue/types.js';
import type { SpeechToText, SttStream, TextToSpeech } from '../voice/types.js';
import type { Metrics } from './metrics.js';

/**
 * The engines as the call path sees them, timed at their boundary: a synthesis's time over the audio
 * it made (TTS real-time factor), an utterance's decode time over its audio (STT, from what the
 * decoder thread reports with the final text), and each reply of the dialogue model.
 */
export function timedTts(tts: TextToSpeech, metrics: Metrics): TextToSpeech {
  metrics.engineInUse('tts', tts.name);
  return {
    name: tts.name,
    sampleRate: tts.sampleRate,
    voices: tts.voices,
    async synthesize(text, opts) {
      const started = performance.now();
      const pcm = await tts.synthesize(text, opts);
      const audioMs = (pcm.samples.length / pcm.sampleRate) * 1000;
      if (audioMs > 0) metrics.realTimeFactor('tts', (performance.now() - started) / audioMs);
      return pcm;
    },
    close: () => tts.close(),
  };
}

export function timedStt(stt: SpeechToText, metrics: Metrics): SpeechToText {
  metrics.engineInUse('stt', stt.name);
  return {
    name: stt.name,
    sampleRate: stt.sampleRate,
    createStream(): SttStream {
      const stream = stt.createStream();
      return {
        write: (samples) => stream.write(samples),
        partial: () => stream.partial(),
        ...(stream.partialIsFinal ? { partialIsFinal: () => stream.partialIsFinal?.() ?? false } : {}),
        async finish() {
          const result = await stream.finish();
          const t = result.timing;
          if (t && t.audioMs > 0) metrics.realTimeFactor('stt', t.decodeMs / t.audioMs);
          return result;
        },
        close: () => stream.close(),
      };
    },
    ...(stt.backlogMs ? { backlogMs: () => stt.backlogMs?.() ?? 0 } : {}),
    close: () => stt.close(),
  };
}

export function timedDialogue(engine: DialogueEngine, metrics: Metrics): DialogueEngine {
  metrics.engineInUse('dialogue', engine.name);
  const timed = async <T>(work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await work();
    metrics.dialogueReply((performance.now() - started) / 1000);
    return value;
  };
  const conversation = (conv: DialogueConversation): DialogueConversation => ({
    prepare: (messages, opts) => conv.prepare(messages, opts),
    nextAction: (messages, opts) => timed(() => conv.nextAction(messages, opts)),
    ...(conv.tokenUsage ? { tokenUsage: () => conv.tokenUsage!() } : {}),
    close: () => conv.close(),
  });
  return {
    name: engine.name,
    nextAction: (messages, opts) => timed(() => engine.nextAction(messages, opts)),
    completeJson: (messages, schema, opts) => engine.completeJson(messages, schema, opts),
    ...(engine.openConversation ? { openConversation: () => conversation(engine.openConversation!()) } : {}),
    ...(engine.warmUp ? { warmUp: (prefix) => engine.warmUp!(prefix) } : {}),
    close: () => engine.close(),
  };
}
