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
  /** Words of `u` mostly said within `voiced` samples of its audio (speaking time goes roughly by letters). */
  const wordsIn = (u: { words: string[]; voiced: number }, voiced: number) => {
    const letters = u.words.reduce((n, w) => n + w.length, 0);
    let at = 0;
    let n = 0;
    for (const w of u.words) {
      if ((at + w.length / 2) * u.voiced > voiced * letters) break;
      at += w.length;
      n++;
    }
    return { n, share: letters > 0 ? at / letters : 1 };
  };
  /**
   * The words `voiced` samples cover, stretch after stretch (a stretch heard to `complete` of its audio is
   * all heard: the block count of the audio as written differs a little from that of the audio as said);
   * `consume` takes the heard words off the queue (a final).
   */
  const heardWords = (voiced: number, complete: number, consume: boolean): string[] => {
    const out: string[] = [];
    // Most of all the speech announced so far heard at the end of an utterance: all of it.
    if (consume && voiced >= complete * queue.reduce((n, u) => n + u.voiced, 0)) {
      for (const u of queue) out.push(...u.words);
      if (consume) queue.length = 0;
      return out;
    }
    let left = voiced;
    let i = 0;
    while (i < queue.length && left > 0) {
      const u = queue[i];
      if (left >= u.voiced * complete) {
        out.push(...u.words);
        left -= u.voiced;
        i++;
        continue;
      }
      const { n, share } = wordsIn(u, left);
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
        partial: () => heardWords(voiced, 0.9, false).join(' '),
        partialIsFinal: () => quietNow,
        async finish() {
          // The listener may end an utterance inside a stretch (a pause between sentences): the words
          // heard so far are this utterance's, the rest the next one's.
          const words = heardWords(voiced, 0.8, true);
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
