/**
 * The decision AMD() makes (apps/app_amd.c, isAnsweringMachine, Asterisk 22) on a stream of 20 ms audio
 * frames, so a test can see what a given amd.conf concludes on a given greeting without an Asterisk. The
 * silence test is ast_dsp_silence's: a frame is silent when its mean absolute sample is below the threshold,
 * and silence is counted across consecutive silent frames.
 */

export interface AmdSettings {
  initialSilence: number;
  greeting: number;
  afterGreetingSilence: number;
  totalAnalysisTime: number;
  minimumWordLength: number;
  betweenWordsSilence: number;
  maximumNumberOfWords: number;
  silenceThreshold: number;
  maximumWordLength: number;
}

/** app_amd's built-in defaults (those of amd.conf.sample). */
export const ASTERISK_AMD_DEFAULTS: AmdSettings = {
  initialSilence: 2500,
  greeting: 1500,
  afterGreetingSilence: 800,
  totalAnalysisTime: 5000,
  minimumWordLength: 100,
  betweenWordsSilence: 50,
  maximumNumberOfWords: 2,
  silenceThreshold: 256,
  maximumWordLength: 5000,
};

/** amd.conf's option names for each setting. */
const AMD_CONF_KEYS: Record<string, keyof AmdSettings> = {
  initial_silence: 'initialSilence',
  greeting: 'greeting',
  after_greeting_silence: 'afterGreetingSilence',
  total_analysis_time: 'totalAnalysisTime',
  min_word_length: 'minimumWordLength',
  between_words_silence: 'betweenWordsSilence',
  maximum_number_of_words: 'maximumNumberOfWords',
  silence_threshold: 'silenceThreshold',
  maximum_word_length: 'maximumWordLength',
};

/** The settings AMD() without arguments runs with, given amd.conf's [general] variables (atoi, like app_amd). */
export function amdSettingsFromConf(vars: ReadonlyArray<[string, string]>): AmdSettings {
  const s = { ...ASTERISK_AMD_DEFAULTS };
  for (const [key, v] of vars) {
    const field = AMD_CONF_KEYS[key];
    if (field) s[field] = Number.parseInt(v, 10) || 0;
  }
  return s;
}

export interface AmdVerdict {
  status: 'HUMAN' | 'MACHINE' | 'NOTSURE';
  /** AMDCAUSE's kind: HUMAN, LONGGREETING, MAXWORDS, MAXWORDLENGTH, INITIALSILENCE, TOOLONG. */
  cause: string;
  /** Milliseconds of audio heard when AMD decided. */
  atMs: number;
}

const FRAME_MS = 20;

/** What AMD() concludes on `samples` (signed 16-bit mono at `sampleRate`), fed in real-time 20 ms frames. */
export function amdVerdict(samples: Int16Array, sampleRate: number, s: AmdSettings): AmdVerdict {
  const frameLen = (sampleRate * FRAME_MS) / 1000;
  let inInitialSilence = true;
  let inGreeting = false;
  let voiceDuration = 0;
  let silenceDuration = 0;
  let totalTime = 0;
  let words = 0;
  let inWord = true; // app_amd starts in STATE_IN_WORD: the first word counts only after a silence
  let consecutiveVoice = 0;
  let dspSilence = 0;
  for (let at = 0; at + frameLen <= samples.length; at += frameLen) {
    totalTime += FRAME_MS;
    if (totalTime >= s.totalAnalysisTime) return { status: 'NOTSURE', cause: 'TOOLONG', atMs: totalTime };
    let sum = 0;
    for (let i = at; i < at + frameLen; i++) sum += Math.abs(samples[i]);
    const silent = Math.trunc(sum / frameLen) < s.silenceThreshold;
    dspSilence = silent ? dspSilence + FRAME_MS : 0;
    if (silent) {
      silenceDuration = dspSilence;
      if (silenceDuration >= s.betweenWordsSilence) {
        inWord = false;
        consecutiveVoice = 0;
      }
      if (inInitialSilence && silenceDuration >= s.initialSilence) {
        return { status: 'MACHINE', cause: 'INITIALSILENCE', atMs: totalTime };
      }
      if (silenceDuration >= s.afterGreetingSilence && inGreeting) {
        return { status: 'HUMAN', cause: 'HUMAN', atMs: totalTime };
      }
    } else {
      consecutiveVoice += FRAME_MS;
      voiceDuration += FRAME_MS;
      if (consecutiveVoice >= s.minimumWordLength && !inWord) {
        words++;
        inWord = true;
      }
      if (consecutiveVoice >= s.maximumWordLength) {
        return { status: 'MACHINE', cause: 'MAXWORDLENGTH', atMs: totalTime };
      }
      if (words > s.maximumNumberOfWords) return { status: 'MACHINE', cause: 'MAXWORDS', atMs: totalTime };
      if (inGreeting && voiceDuration >= s.greeting) {
        return { status: 'MACHINE', cause: 'LONGGREETING', atMs: totalTime };
      }
      if (voiceDuration >= s.minimumWordLength) silenceDuration = 0;
      if (consecutiveVoice >= s.minimumWordLength && !inGreeting) {
        inInitialSilence = false;
        inGreeting = true;
      }
    }
  }
  // The audio ran out before a verdict: AMD would still be waiting on a live line.
  return { status: 'NOTSURE', cause: 'TOOLONG', atMs: totalTime };
}
