import { createResampler } from '../../../src/audio/resample.js';
import type { Pcm, SpeechToText, SttStream, TextToSpeech } from '../../../src/voice/types.js';

const RATE = 16_000;
const BLOCK = 320; // 20 ms
/** Log-energy below this (RMS ~30) is the quiet between words. */
const QUIET = Math.log(30);
/** How alike a line's energy contour and the heard audio must be to count as that line. */
const MATCH = 0.8;

/** Words as a recogniser writes them: lower case, no punctuation. */
function asRecognised(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}' ]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Log-RMS per 20 ms block. */
function envelope(samples: Int16Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + BLOCK <= samples.length; i += BLOCK) {
    let sum = 0;
    for (let j = i; j < i + BLOCK; j++) sum += samples[j] * samples[j];
    out.push(Math.log(Math.sqrt(sum / BLOCK) + 1));
  }
  return out;
}

/**
 * The voiced blocks of an envelope, quiet ones dropped: a gap the media path filled with silence (a late
 * frame under load) then does not shift the rest of the line against its learnt copy.
 */
function voicedPart(env: number[]): number[] {
  return env.filter((v) => v >= QUIET);
}

/**
 * Best Pearson correlation of `line` against `heard` over every lag where the two overlap by most of the
 * shorter one (a heard fragment may be part of a line, a heard utterance may hold several lines).
 */
function bestMatch(line: number[], heard: number[]): { score: number; at: number } {
  let best = { score: -1, at: 0 };
  const n = line.length;
  const minOverlap = Math.max(8, Math.ceil(Math.min(n, heard.length) * 0.8));
  for (let lag = -(n - minOverlap); lag <= heard.length - minOverlap; lag++) {
    const from = Math.max(0, -lag);
    const to = Math.min(n, heard.length - lag);
    const m = to - from;
    if (m < minOverlap) continue;
    let sx = 0;
    let sy = 0;
    for (let i = from; i < to; i++) {
      sx += line[i];
      sy += heard[i + lag];
    }
    const mx = sx / m;
    const my = sy / m;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = from; i < to; i++) {
      const dx = line[i] - mx;
      const dy = heard[i + lag] - my;
      sxy += dx * dy;
      sxx += dx * dx;
      syy += dy * dy;
    }
    const score = sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : -1;
    if (score > best.score) best = { score, at: lag };
  }
  return best;
}

/** About how long a word takes to say, in letters ("1" is said "one"). */
const spokenLength = (w: string) => (/^\d+$/.test(w) ? 3 * w.length : w.length);

/** The words of `words` spoken in the share [a, b] of the line (speaking time goes roughly by letters). */
function wordsBetween(words: string[], a: number, b: number): string[] {
  // Near either end is the whole line: the quiet edges were cut on both sides, and a weak onset or
  // fading last syllable of the heard copy can sit below the quiet level.
  const from = a < 0.15 ? 0 : a;
  const to = b > 0.85 ? 1 : b;
  const letters = words.reduce((n, w) => n + spokenLength(w), 0);
  let at = 0;
  const out: string[] = [];
  for (const w of words) {
    const mid = (at + spokenLength(w) / 2) / letters;
    if (mid >= from && mid <= to) out.push(w);
    at += spokenLength(w);
  }
  return out;
}

export interface KnownWordsStt extends SpeechToText {
  /** A TTS that teaches this recogniser every line it synthesizes. */
  teach(tts: TextToSpeech): TextToSpeech;
}

/**
 * A recogniser for the end-to-end tests that knows the words: it learns every line a TTS engine speaks
 * (text and audio), and transcribes a heard utterance as the lines whose energy contour it contains,
 * in order. The audio still crosses the real media path (codecs, resampling, pacing, the simulated
 * PBX's mixing); only the words do not hang on a statistical recogniser's luck. Partials are empty
 * (the agent's barge-in then goes by speech length alone, and no early reply starts).
 */
export function createKnownWordsStt(): KnownWordsStt {
  const lines: { text: string; env: number[] }[] = [];
  const learn = (text: string, pcm: Pcm) => {
    const samples =
      pcm.sampleRate === RATE ? pcm.samples : createResampler(pcm.sampleRate, RATE).process(pcm.samples);
    const env = voicedPart(envelope(samples));
    if (env.length >= 5 && asRecognised(text)) lines.push({ text: asRecognised(text), env });
  };
  return {
    name: 'known-words',
    sampleRate: RATE,
    teach(tts) {
      return {
        name: tts.name,
        sampleRate: tts.sampleRate,
        voices: tts.voices,
        async synthesize(text, opts) {
          const pcm = await tts.synthesize(text, opts);
          learn(text, pcm);
          return pcm;
        },
        close: () => tts.close(),
      };
    },
    createStream(): SttStream {
      let heard: Int16Array[] = [];
      return {
        write(samples) {
          heard.push(samples.slice());
        },
        partial: () => '',
        async finish() {
          const all = new Int16Array(heard.reduce((n, s) => n + s.length, 0));
          let off = 0;
          for (const s of heard) {
            all.set(s, off);
            off += s.length;
          }
          heard = [];
          const env = voicedPart(envelope(all));
          if (env.length < 8) return { text: '' };
          // The heard audio, line by line: the best-matching line, then again in what is left of it.
          const found: { words: string[]; at: number }[] = [];
          const taken = new Array<boolean>(env.length).fill(false);
          for (;;) {
            // The line that explains the most of the heard audio wins: a short line ("hello") fits some
            // stretch of almost anything.
            let best: { line: (typeof lines)[number]; weight: number; at: number } | null = null;
            for (const l of lines) {
              const m = bestMatch(l.env, env);
              if (m.score < MATCH) continue;
              const from = Math.max(0, m.at);
              const to = Math.min(env.length, m.at + l.env.length);
              const weight = (to - from) * m.score;
              if (best && weight <= best.weight) continue;
              // A stretch already explained by a line is not heard twice.
              if (taken.slice(from, to).filter(Boolean).length > (to - from) / 3) continue;
              best = { line: l, weight, at: m.at };
            }
            if (!best) {
              if (process.env.KW_DEBUG)
                console.log(
                  'known-words:',
                  env.length,
                  found.map((f) => f.words.join(' ')),
                  lines
                    .map((l) => ({ t: l.text, n: l.env.length, ...bestMatch(l.env, env) }))
                    .sort((x, y) => y.score - x.score)
                    .slice(0, 3),
                );
              break;
            }
            const n = best.line.env.length;
            const from = Math.max(0, best.at);
            const to = Math.min(env.length, best.at + n);
            for (let i = from; i < to; i++) taken[i] = true;
            const words = best.line.text.split(' ');
            found.push({ words: wordsBetween(words, (from - best.at) / n, (to - best.at) / n), at: from });
          }
          return {
            text: found
              .sort((x, y) => x.at - y.at)
              .flatMap((f) => f.words)
              .join(' '),
          };
        },
        close() {
          heard = [];
        },
      };
    },
    async close() {},
  };
}
