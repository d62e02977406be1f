import type { Logger } from 'pino';
import { createResampler } from '../audio/resample.js';
import type { SpeechToText, SttStream, TextToSpeech } from '../voice/types.js';
import { ariTimestamp } from './ari-values.js';
import { findNumber, findTime, hasKeyword } from './callee-words.js';
import { FRAME_MS, FRAME_SAMPLES, MIX_RATE } from './media-clock.js';
import type { MediaPort } from './media-port.js';
import { SampleFifo } from './sample-fifo.js';
import type { ParsedScenario, ScenarioAction, ScenarioRule } from './scenario.js';

export interface CalleeLogEntry {
  channelId: string;
  number: string;
  at: string;
  /** heard: STT of the caller's utterance; said: what the callee spoke; dtmf: a key it received;
   * message: a voicemail message's transcript; event: answered / hung up. */
  kind: 'heard' | 'said' | 'dtmf' | 'message' | 'event';
  text: string;
}

export interface CalleeDeps {
  scenario: ParsedScenario;
  /** Another number's scenario, for an IVR's transfer. */
  resolve(number: string): ParsedScenario;
  channelId: string;
  number: string;
  tts: TextToSpeech;
  stt: SpeechToText;
  logger: Logger;
  log(entry: Omit<CalleeLogEntry, 'channelId' | 'number' | 'at'>): void;
  /** The callee hangs up (Normal Clearing). */
  hangup(): void;
  /** The callee presses a key. */
  sendDtmf(digit: string, durationMs: number): void;
}

export interface Callee extends MediaPort {
  answered(): void;
  receiveDtmf(digit: string): void;
}

/** Mean-square level above which a 20 ms frame counts as speech (≈ −36 dBFS). */
const SPEECH_RMS = 520;
const PRE_ROLL_FRAMES = 15;
const MAX_UTTERANCE_MS = 20_000;
const BEEP_HZ = 1000;
const BEEP_MS = 400;

function rms(frame: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
  return Math.sqrt(sum / frame.length);
}

function beep(): Int16Array {
  const n = (MIX_RATE * BEEP_MS) / 1000;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * BEEP_HZ * i) / MIX_RATE));
  return out;
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g, (m, k: string) => values[k] ?? m);
}

/**
 * A scripted person (or machine) on the far end of a call. It speaks through the TTS engine, sends
 * frames continuously while the call is up (silence included, as a phone does), hears the caller
 * through the STT engine, finds the end of each utterance by energy and silence, and reacts
 * according to its scenario.
 */
export function createCallee(deps: CalleeDeps): Callee {
  let scenario = deps.scenario;
  let stateName = scenario.start;
  const captures: Record<string, string> = {};
  const speech = new SampleFifo();
  const silence = new Int16Array(FRAME_SAMPLES);
  const abort = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  let answered = false;
  let ended = false;
  let pendingSpeech = 0;
  let drainWaiters: (() => void)[] = [];
  let heardThisTick: Int16Array | null = null;
  let chain: Promise<void> = Promise.resolve();

  // Listening: an utterance opens on a loud frame and closes after `endOfSpeechMs` of quiet.
  const preRoll: Int16Array[] = [];
  let utterance: { frames: Int16Array[]; voiced: number; quietMs: number; ms: number } | null = null;
  let message: {
    frames: Int16Array[];
    heardSpeech: boolean;
    quietMs: number;
    ms: number;
    done: () => void;
  } | null = null;

  const later = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ended) return resolve();
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const enqueue = (task: () => Promise<void>) => {
    chain = chain.then(async () => {
      if (ended) return;
      try {
        await task();
      } catch (err) {
        if (!ended) deps.logger.warn({ err }, 'pbx-sim: callee script step failed');
      }
    });
  };

  const drained = () =>
    new Promise<void>((resolve) => {
      if (ended || (pendingSpeech === 0 && speech.length === 0)) resolve();
      else drainWaiters.push(resolve);
    });

  async function say(text: string): Promise<void> {
    const line = fill(text, captures);
    pendingSpeech++;
    try {
      const pcm = await deps.tts.synthesize(line, { voice: scenario.voice, signal: abort.signal });
      if (ended) return;
      deps.log({ kind: 'said', text: line });
      if (pcm.sampleRate === MIX_RATE) {
        speech.push(pcm.samples);
      } else {
        const r = createResampler(pcm.sampleRate, MIX_RATE);
        speech.push(r.process(pcm.samples));
        speech.push(r.process(new Int16Array(Math.ceil((r.delaySamples * pcm.sampleRate) / MIX_RATE) + 1)));
      }
    } finally {
      pendingSpeech--;
    }
    await drained();
  }

  async function transcribe(frames: Int16Array[]): Promise<string> {
    const stream: SttStream = deps.stt.createStream();
    try {
      const r = deps.stt.sampleRate === MIX_RATE ? null : createResampler(MIX_RATE, deps.stt.sampleRate);
      for (const f of frames) stream.write(r ? r.process(f) : f);
      return (await stream.finish()).text.trim();
    } finally {
      stream.close();
    }
  }

  function hangUp(): void {
    if (ended) return;
    deps.log({ kind: 'event', text: 'hung up' });
    deps.hangup();
  }

  async function runAction(a: ScenarioAction): Promise<void> {
    if (a.say) {
      await later(scenario.replyDelayMs);
      await say(a.say);
    }
    if (a.dtmf) {
      for (const d of a.dtmf) {
        deps.sendDtmf(d, 120);
        await later(250);
      }
    }
    if (a.transfer) {
      scenario = deps.resolve(a.transfer);
      await enterState(scenario.start);
    } else if (a.goto) {
      await enterState(a.goto);
    }
    if (a.hangup) hangUp();
  }

  async function enterState(name: string): Promise<void> {
    stateName = name;
    const st = scenario.states[name];
    if (!st) throw new Error(`scenario ${scenario.number}: no state "${name}"`);
    if (st.say) await say(st.say);
    if (st.beep) {
      speech.push(beep());
      await drained();
    }
    if (st.record) {
      const { maxSeconds } = st.record;
      const frames: Int16Array[] = [];
      await new Promise<void>((done) => {
        message = { frames, heardSpeech: false, quietMs: 0, ms: 0, done };
        // The silence limit is checked frame by frame in listen(); the length limit by this timer.
        const t = setTimeout(() => done(), maxSeconds * 1000);
        timers.add(t);
      });
      message = null;
      const text = frames.length ? await transcribe(frames) : '';
      deps.log({ kind: 'message', text });
    }
    if (st.hangup) hangUp();
  }

  function matches(rule: ScenarioRule, heard: string): string | null {
    if (rule.requires?.some((k) => captures[k] === undefined)) return null;
    switch (rule.match) {
      case 'keywords':
        return hasKeyword(heard, rule.keywords ?? []) ? heard : null;
      case 'number': {
        const n = findNumber(heard);
        return n === null ? null : String(n);
      }
      case 'time':
        return findTime(heard);
      case 'anything':
        return heard.length > 0 ? heard : null;
    }
  }

  async function react(heard: string): Promise<void> {
    const st = scenario.states[stateName];
    for (const r of [...(st?.rules ?? []), ...scenario.globalRules]) {
      const value = matches(r, heard);
      if (value === null) continue;
      if (r.capture) captures[r.capture] = value;
      await runAction(r);
      return;
    }
    const fallback = st?.fallback ?? scenario.fallback;
    if (fallback) {
      await later(scenario.replyDelayMs);
      await say(fallback);
    }
  }

  function closeUtterance(): void {
    const u = utterance;
    utterance = null;
    if (!u || u.voiced < 5) return;
    const frames = u.frames;
    // Transcription starts now (in parallel with whatever is being said); reactions stay in order.
    const text = scenario.transcribe ? transcribe(frames) : Promise.resolve('[speech]');
    enqueue(async () => {
      const heard = await text;
      if (ended) return;
      deps.log({ kind: 'heard', text: heard });
      if (heard) await react(heard);
    });
  }

  function listen(frame: Int16Array): void {
    const voiced = rms(frame) >= SPEECH_RMS;
    if (message) {
      const m = message;
      m.frames.push(frame);
      m.ms += FRAME_MS;
      if (voiced) {
        m.heardSpeech = true;
        m.quietMs = 0;
      } else {
        m.quietMs += FRAME_MS;
      }
      const st = scenario.states[stateName];
      const limit = (st?.record?.silenceSeconds ?? 4) * 1000;
      if (m.quietMs >= limit && (m.heardSpeech || m.ms >= limit * 2)) m.done();
      return;
    }
    if (!utterance) {
      preRoll.push(frame);
      if (preRoll.length > PRE_ROLL_FRAMES) preRoll.shift();
      if (!voiced) return;
      utterance = { frames: [...preRoll], voiced: 0, quietMs: 0, ms: 0 };
      preRoll.length = 0;
    } else {
      utterance.frames.push(frame);
    }
    utterance.ms += FRAME_MS;
    if (voiced) {
      utterance.voiced++;
      utterance.quietMs = 0;
    } else {
      utterance.quietMs += FRAME_MS;
    }
    if (utterance.quietMs >= scenario.endOfSpeechMs || utterance.ms >= MAX_UTTERANCE_MS) closeUtterance();
  }

  function end(): void {
    if (ended) return;
    ended = true;
    abort.abort();
    for (const t of timers) clearTimeout(t);
    timers.clear();
    speech.clear();
    const m = message;
    message = null;
    // A voicemail keeps the message even when the caller hangs up mid-way, as voicemail does.
    if (m?.frames.length) {
      transcribe(m.frames)
        .then((text) => deps.log({ kind: 'message', text }))
        .catch((err) => deps.logger.warn({ err }, 'pbx-sim: message transcription failed'));
    }
    for (const w of drainWaiters) w();
    drainWaiters = [];
    utterance = null;
  }

  return {
    answered() {
      if (answered || ended) return;
      answered = true;
      deps.log({ kind: 'event', text: 'answered' });
      if (scenario.hangupAfterSeconds !== undefined) {
        const t = setTimeout(hangUp, scenario.hangupAfterSeconds * 1000);
        timers.add(t);
      }
      enqueue(async () => {
        await later(300);
        await enterState(scenario.start);
      });
    },
    receiveDtmf(digit) {
      if (!answered || ended) return;
      deps.log({ kind: 'dtmf', text: digit });
      const action = scenario.states[stateName]?.dtmf?.[digit];
      if (action) enqueue(() => runAction(action));
    },
    pull() {
      if (!answered || ended) return null;
      listen(heardThisTick ?? silence);
      heardThisTick = null;
      const frame = speech.take(FRAME_SAMPLES);
      if (!frame && speech.length > 0) {
        // The tail of an utterance: pad it to a whole frame.
        const tail = speech.take(speech.length)!;
        const padded = new Int16Array(FRAME_SAMPLES);
        padded.set(tail);
        return padded;
      }
      if (!frame && pendingSpeech === 0 && drainWaiters.length) {
        const waiters = drainWaiters;
        drainWaiters = [];
        for (const w of waiters) w();
      }
      return frame ?? silence;
    },
    push(frame) {
      heardThisTick = frame;
    },
    close: end,
  };
}

export function calleeLogEntry(
  channelId: string,
  number: string,
  e: Omit<CalleeLogEntry, 'channelId' | 'number' | 'at'>,
): CalleeLogEntry {
  return { channelId, number, at: ariTimestamp(), ...e };
}
