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
  // Each stretch of speech still to be heard: its words, and its voiced audio.
  const queue: { words: string[]; voiced: number }[] = [];
  /**
   * Words of `u` covered by `voiced` samples of its audio (speaking time goes roughly by letters): with
   * `by: 'end'` only words said to their end (a partial), with 'mid' words mostly said (a final).
   */
  const wordsIn = (u: { words: string[]; voiced: number }, voiced: number, by: 'end' | 'mid') => {
    const letters = u.words.reduce((n, w) => n + w.length, 0);
    let at = 0;
    let n = 0;
    for (const w of u.words) {
      const point = by === 'end' ? at + w.length : at + w.length / 2;
      if (point * u.voiced > voiced * letters) break;
      at += w.length;
      n++;
    }
    return { n, share: letters > 0 ? at / letters : 1 };
  };
  /** The words `voiced` samples cover, stretch after stretch; `consume` takes the heard ones off the queue. */
  const heardWords = (voiced: number, by: 'end' | 'mid', consume: boolean): string[] => {
    const out: string[] = [];
    // Most of all the speech announced so far heard: all of it (the block count of the audio as
    // written differs a little from that of the audio as said).
    if (by === 'mid' && voiced >= 0.8 * queue.reduce((n, u) => n + u.voiced, 0)) {
      for (const u of queue) out.push(...u.words);
      if (consume) queue.length = 0;
      return out;
    }
    let left = voiced;
    let i = 0;
    while (i < queue.length && left > 0) {
      const u = queue[i];
      // Most of a stretch heard is all of it (the block count of the audio as written differs a little
      // from that of the audio as said).
      if (left >= u.voiced * (by === 'end' ? 1 : 0.8)) {
        out.push(...u.words);
        left -= u.voiced;
        i++;
        continue;
      }
      const { n, share } = wordsIn(u, left, by);
      out.push(...u.words.slice(0, n));
      if (consume && n > 0)
        queue[i] = { words: u.words.slice(n), voiced: Math.max(1, Math.round(u.voiced * (1 - share))) };
      left = 0;
    }
    if (consume) queue.splice(0, i);
    return out;
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
        partial: () => heardWords(voiced, 'end', false).join(' '),
        partialIsFinal: () => quietNow,
        async finish() {
          // The listener may end an utterance inside a stretch (a pause between sentences): the words
          // heard so far are this utterance's, the rest the next one's.
          const words = heardWords(voiced, 'mid', true);
          voiced = 0;
          quietNow = true;
          return { text: words.join(' ') };
        },
        close() {},
      };
    },
    async close() {},
  };
}
