import os from 'node:os';
import { describe, expect, it } from 'vitest';
import type { DialogueEngine } from '../voice/dialogue/types.js';
import { createPocketsphinxStt } from '../voice/stt/pocketsphinx.js';
import { createFliteTts } from '../voice/tts/flite.js';
import type { SpeechToText, SttStream, TextToSpeech, VoiceActivityDetector } from '../voice/types.js';
import { createSileroVad } from '../voice/vad/silero.js';
import { measureEngineProfile, type ProfiledEngines } from './engine-profile.js';

/** Engines that record what they were given; the TTS speaks 1 s of 8 kHz tone per sentence. */
function fakes(
  over: { finish?: () => Promise<never>; synthesize?: TextToSpeech['synthesize']; vadFails?: boolean } = {},
) {
  const seen = {
    sentences: 0,
    chunks: [] as number[],
    finishes: 0,
    sttClosed: 0,
    vadFrames: 0,
    vadsCreated: 0,
    vadsClosed: 0,
  };
  const tts: TextToSpeech = {
    name: 'fake-tts',
    sampleRate: 8000,
    voices: ['x'],
    synthesize:
      over.synthesize ??
      (async () => {
        seen.sentences++;
        const samples = new Int16Array(8000);
        for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin(i / 3));
        return { samples, sampleRate: 8000 };
      }),
    close: async () => {},
  };
  const stt: SpeechToText = {
    name: 'fake-stt',
    sampleRate: 16_000,
    createStream(): SttStream {
      return {
        write: (s) => void seen.chunks.push(s.length),
        partial: () => '',
        finish:
          over.finish ??
          (async () => {
            seen.finishes++;
            return { text: 'words' };
          }),
        close: () => void seen.sttClosed++,
      };
    },
    close: async () => {},
  };
  const createVad = async (): Promise<VoiceActivityDetector> => {
    seen.vadsCreated++;
    return {
      name: 'fake-vad',
      sampleRate: 16_000,
      frameSamples: 512,
      process: async (s) => {
        if (s.length !== 512) throw new Error(`frame of ${s.length}`);
        if (over.vadFails) throw new Error('onnx session lost');
        seen.vadFrames++;
        return 0.5;
      },
      reset() {},
      close: async () => void seen.vadsClosed++,
    };
  };
  return { seen, engines: { stt, tts, createVad, dialogue: null } as ProfiledEngines };
}

const dialogue = (extra: object = {}): DialogueEngine =>
  ({
    name: 'fake-llm',
    nextAction: async () => ({ action: 'speak', say: '' }),
    completeJson: async () => ({}),
    close: async () => {},
    ...extra,
  }) as DialogueEngine;

describe('measureEngineProfile', () => {
  it("runs each engine on the synthesised sentences, resampled to the engine's rate, and reads the model's speed", async () => {
    const { seen, engines } = fakes();
    const measureSpeed = async () => ({ genTokensPerSecond: 15.9, promptTokensPerSecond: 99 });
    const p = await measureEngineProfile({ ...engines, dialogue: dialogue({ measureSpeed }) });
    expect(seen.sentences).toBe(2);
    // 2 s of 8 kHz speech reach the 16 kHz recogniser as 20 ms chunks (320 samples), each sentence finished.
    expect(seen.chunks.reduce((a, b) => a + b, 0)).toBeGreaterThan(2 * 16_000 - 10);
    expect(Math.max(...seen.chunks)).toBe(320);
    expect(seen.finishes).toBe(2);
    expect(seen.sttClosed).toBe(1);
    // A fresh VAD judges every whole 32 ms frame, and is closed.
    expect(seen.vadsCreated).toBe(1);
    expect(seen.vadFrames).toBeGreaterThanOrEqual(2 * 31 - 1);
    expect(seen.vadsClosed).toBe(1);
    expect(p.llm).toEqual({ genTokensPerSecond: 15.9, promptTokensPerSecond: 99 });
    expect(p.cores).toBe(os.availableParallelism());
    for (const rtf of [p.vadRtf, p.sttRtf, p.ttsRtf]) {
      expect(Number.isFinite(rtf)).toBe(true);
      expect(rtf).toBeGreaterThanOrEqual(0);
    }
    expect(Number.isNaN(Date.parse(p.measuredAt))).toBe(false);
  });

  it('has no model speed for a dialogue without a probe (LLM_URL) or without a dialogue', async () => {
    const { engines } = fakes();
    expect((await measureEngineProfile({ ...engines, dialogue: dialogue() })).llm).toBeNull();
    expect((await measureEngineProfile(engines)).llm).toBeNull();
  });

  it('names the engine that failed, and closes its stream', async () => {
    const { seen, engines } = fakes({ finish: () => Promise.reject(new Error('decoder crashed')) });
    await expect(measureEngineProfile(engines)).rejects.toThrow(/STT \(fake-stt\) failed: decoder crashed/);
    expect(seen.sttClosed).toBe(1);
    expect(seen.vadsCreated).toBe(0);
  });

  it('names a failing VAD by its name, and closes it', async () => {
    const { seen, engines } = fakes({ vadFails: true });
    await expect(measureEngineProfile(engines)).rejects.toThrow(/VAD \(fake-vad\) failed: onnx session lost/);
    expect(seen.vadsClosed).toBe(1);
  });

  it('rejects when the model probe fails or gives no speed', async () => {
    const { engines } = fakes();
    const failing = dialogue({ measureSpeed: () => Promise.reject(new Error('no sequence')) });
    await expect(measureEngineProfile({ ...engines, dialogue: failing })).rejects.toThrow(
      /dialogue \(fake-llm\) failed: no sequence/,
    );
    const zero = dialogue({
      measureSpeed: async () => ({ genTokensPerSecond: 0, promptTokensPerSecond: 99 }),
    });
    await expect(measureEngineProfile({ ...engines, dialogue: zero })).rejects.toThrow(/dialogue/);
  });

  it('stops when the signal aborts, with its reason, while an engine is still at work', async () => {
    const controller = new AbortController();
    let started!: () => void;
    const synthesizing = new Promise<void>((r) => {
      started = r;
    });
    const { seen, engines } = fakes({
      // A slow engine: it only ends when aborted.
      synthesize: (_text, o) =>
        new Promise((_resolve, reject) => {
          started();
          o?.signal?.addEventListener('abort', () => reject(o.signal?.reason));
        }),
    });
    const measuring = measureEngineProfile(engines, { signal: controller.signal });
    await synthesizing;
    const reason = new Error('worker stopping');
    controller.abort(reason);
    await expect(measuring).rejects.toBe(reason);
    expect(seen.vadsCreated).toBe(0);
  });

  it('stops waiting for a model probe that does not stop when aborted', async () => {
    const controller = new AbortController();
    let probing!: () => void;
    const probed = new Promise<void>((r) => {
      probing = r;
    });
    const { engines } = fakes();
    let given: AbortSignal | undefined;
    const slow = dialogue({
      measureSpeed: (o?: { signal?: AbortSignal }) => {
        given = o?.signal;
        probing();
        return new Promise(() => {});
      },
    });
    const measuring = measureEngineProfile({ ...engines, dialogue: slow }, { signal: controller.signal });
    await probed;
    // The probe is asked to stop too (llama.cpp's stops at its next step), but the profile does not wait.
    expect(given).toBe(controller.signal);
    controller.abort(new Error('stop'));
    await expect(measuring).rejects.toThrow('stop');
  });

  it('measures the real engines (flite, pocketsphinx, Silero) as finite, positive figures', async () => {
    const tts = await createFliteTts();
    const stt = await createPocketsphinxStt({ threads: 1 });
    try {
      const p = await measureEngineProfile({ stt, tts, createVad: () => createSileroVad(), dialogue: null });
      for (const rtf of [p.vadRtf, p.sttRtf, p.ttsRtf]) {
        expect(Number.isFinite(rtf)).toBe(true);
        expect(rtf).toBeGreaterThan(0);
      }
      // Recognising speech costs more than detecting it, on any machine.
      expect(p.sttRtf).toBeGreaterThan(p.vadRtf);
      expect(p.llm).toBeNull();
    } finally {
      await stt.close();
      await tts.close();
    }
  }, 120_000);
});
