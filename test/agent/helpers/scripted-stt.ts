import type { SpeechToText, SttStream } from '../../../src/voice/types.js';

/** Peak above which a 20 ms block is speech rather than the quiet around it. */
const VOICED_PEAK = 200;
const BLOCK = 320;

/** Words as a recogniser writes them: lower case, no punctuation. */
export function asRecognised(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}' ]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Samples of `pcm` (16 kHz) in voiced 20 ms blocks. */
function voicedSamples(pcm: Int16Array): number {
  let n = 0;
  for (let i = 0; i < pcm.length; i += BLOCK) {
    const block = pcm.subarray(i, i + BLOCK);
    if (block.some((s) => Math.abs(s) > VOICED_PEAK)) n += block.length;
  }
  return n;
}

export interface ScriptedStt extends SpeechToText {
  /**
   * The next stretch of callee speech says `text`, with this audio (16 kHz): streams give its words as
   * its voiced audio arrives, and the whole as the final text once the listener ends the utterance.
   */
  expect(text: string, pcm16k: Int16Array): void;
}

/**
 * A recogniser that knows the words: the agent's listener (VAD, endpointing, barge-in) runs on the real
 * audio, and the text at the recogniser's boundary is exactly what the callee said. Partials grow with
 * the voiced audio written (the media clock); in a quiet stretch the partial is final (all heard so far
 * is decoded, as pocketsphinx marks it); an utterance the listener ends mid-stretch gets the words heard
 * so far, the next one the rest; audio nobody announced (noise) comes out as no words.
 */
export function createScriptedStt(): ScriptedStt {
  // Each stretch of speech still to be heard: its words, and their voiced audio (weighted by letters,
  // as speaking time roughly is).
  const queue: { words: string[]; voiced: number }[] = [];
  /** Words of `u` covered by `voiced` samples of its audio. */
  const wordsIn = (u: { words: string[]; voiced: number }, voiced: number) => {
    const letters = u.words.reduce((n, w) => n + w.length, 0);
    let at = 0;
    let n = 0;
    for (const w of u.words) {
      // A word is heard once most of it went by.
      if ((at + w.length / 2) * u.voiced > voiced * letters) break;
      at += w.length;
      n++;
    }
    return { n, share: letters > 0 ? at / letters : 1 };
  };
  return {
    name: 'scripted',
    sampleRate: 16_000,
    expect(text, pcm16k) {
      queue.push({
        words: asRecognised(text).split(' ').filter(Boolean),
        voiced: Math.max(1, voicedSamples(pcm16k)),
      });
    },
    createStream(): SttStream {
      let voiced = 0;
      let quietNow = true;
      return {
        write(samples) {
          const v = voicedSamples(samples);
          voiced += v;
          quietNow = v === 0;
        },
        partial() {
          const u = queue[0];
          return u ? u.words.slice(0, wordsIn(u, voiced).n).join(' ') : '';
        },
        partialIsFinal: () => quietNow,
        async finish() {
          const u = queue[0];
          const heard = voiced;
          voiced = 0;
          quietNow = true;
          if (!u) return { text: '' };
          const { n, share } = wordsIn(u, heard);
          // The listener ended the utterance inside the stretch (a pause between sentences): the
          // words heard so far are this utterance's, the rest the next one's.
          if (n === 0) return { text: '' };
          // Most of the stretch heard: the listener ended the utterance at its end (the block count of
          // the audio as written differs a little from that of the audio as said).
          if (n >= u.words.length || share >= 0.8 || heard >= u.voiced * 0.8) {
            queue.shift();
            return { text: u.words.join(' ') };
          }
          const text = u.words.slice(0, n).join(' ');
          queue[0] = { words: u.words.slice(n), voiced: Math.max(1, Math.round(u.voiced * (1 - share))) };
          return { text };
        },
        close() {},
      };
    },
    async close() {},
  };
}
