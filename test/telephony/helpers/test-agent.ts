import { createResampler } from '../../../src/audio/resample.js';
import type {
  CallSession,
  ConversationAgent,
  ConversationEnd,
  ConversationTurn,
} from '../../../src/telephony/call-session.js';
import type { TextToSpeech } from '../../../src/voice/types.js';

/** One step of the test agent's script. */
export type AgentStep =
  | { say: string }
  /** A pure tone, so the agent's audio can be found again in the mixed recording. */
  | { tone: { hz: number; ms: number } }
  | { dtmf: string }
  /** Waits until the callee has spoken and then paused, or `maxMs` passed. */
  | { listen: { maxMs: number } }
  /** Waits `ms` (or until the call ends). */
  | { wait: number };

export interface TestAgentOptions {
  tts: TextToSpeech;
  script: AgentStep[];
  /** After the script: end the call with this reason, or keep the line open until the session ends. */
  afterScript: ConversationEnd | 'hold';
  /** Said when the session aborts for max duration (the goodbye of a real agent). */
  goodbye?: string;
  /** Said when the call's owner asks the agent to wrap up (the worker shuts down); default a short goodbye. */
  wrapUpGoodbye?: string;
}

export interface TestAgent extends ConversationAgent {
  /** DTMF digits the callee pressed, as the session reported them. */
  readonly dtmfHeard: string[];
  /** Why converse() returned, and the session's abort reason at that time. */
  readonly ends: { end: ConversationEnd; signalReason: unknown }[];
  readonly summarized: number;
  /** For each call, when (ms after answer) the controller let the agent speak, or the call ended before. */
  readonly mayTalkAt: number[];
}

const SPEECH_RMS = 500;

function rms(f: Int16Array): number {
  let e = 0;
  for (let i = 0; i < f.length; i++) e += f[i] * f[i];
  return Math.sqrt(e / Math.max(1, f.length));
}

/**
 * A scripted ConversationAgent for the telephony tests: speaks through real TTS, plays tones, presses
 * DTMF and listens for the callee's voice by its energy. It ends like a real agent would.
 */
export function createTestAgent(opts: TestAgentOptions): TestAgent {
  const dtmfHeard: string[] = [];
  const ends: { end: ConversationEnd; signalReason: unknown }[] = [];
  const mayTalkAt: number[] = [];
  let summarized = 0;

  async function speak(session: CallSession, text: string, onTurn: (t: ConversationTurn) => void) {
    const pcm = await opts.tts.synthesize(text);
    const samples =
      pcm.sampleRate === session.audio.sampleRate
        ? pcm.samples
        : createResampler(pcm.sampleRate, session.audio.sampleRate).process(pcm.samples);
    const startMs = performance.now() - session.answeredAtMs;
    const r = await session.audio.play(samples);
    onTurn({ speaker: 'agent', text, startMs, endMs: startMs + r.playedMs, interrupted: !r.completed });
  }

  /** Ends a wait: the call ended, or the agent was asked to wrap up (a turn boundary comes then). */
  function interrupter(session: CallSession): AbortSignal {
    return session.wrapUp ? AbortSignal.any([session.signal, session.wrapUp]) : session.signal;
  }

  function until(session: CallSession, ms: number): Promise<void> {
    const stop = interrupter(session);
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        stop.removeEventListener('abort', done);
        resolve();
      }
      if (stop.aborted) return done();
      stop.addEventListener('abort', done, { once: true });
    });
  }

  async function listen(session: CallSession, maxMs: number, onTurn: (t: ConversationTurn) => void) {
    const rate = session.audio.sampleRate;
    const stop = interrupter(session);
    let spokeMs = 0;
    let quietMs = 0;
    let startMs = 0;
    await new Promise<void>((resolve) => {
      const off = session.audio.onFrame((f) => {
        const ms = (f.length * 1000) / rate;
        if (rms(f) >= SPEECH_RMS) {
          if (spokeMs === 0) startMs = performance.now() - session.answeredAtMs;
          spokeMs += ms;
          quietMs = 0;
        } else if (spokeMs > 0) {
          quietMs += ms;
          if (quietMs >= 700) finish();
        }
      });
      const t = setTimeout(finish, maxMs);
      function finish() {
        off();
        clearTimeout(t);
        stop.removeEventListener('abort', finish);
        resolve();
      }
      if (stop.aborted) return finish();
      stop.addEventListener('abort', finish, { once: true });
    });
    if (spokeMs > 0) {
      const endMs = performance.now() - session.answeredAtMs - quietMs;
      onTurn({
        speaker: 'callee',
        text: `(speech, ${Math.round(spokeMs)} ms)`,
        startMs,
        endMs,
        interrupted: false,
      });
    }
  }

  return {
    dtmfHeard,
    ends,
    mayTalkAt,
    get summarized() {
      return summarized;
    },
    async converse(session, onTurn) {
      const offDtmf = session.onDtmf((d) => dtmfHeard.push(d));
      const finish = (end: ConversationEnd) => {
        offDtmf();
        ends.push({ end, signalReason: session.signal.reason });
        return { end };
      };
      const wrappingUp = () => session.wrapUp?.aborted === true && !session.signal.aborted;
      // Started at answer: silent until the controller knows a person (or a waiting machine) is there.
      if (session.mayTalk) {
        const ended = new Promise<void>((resolve) => {
          if (session.signal.aborted) resolve();
          else session.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        await Promise.race([session.mayTalk, ended]);
        mayTalkAt.push(performance.now() - session.answeredAtMs);
      }
      const wrapUp = async () => {
        await speak(
          session,
          opts.wrapUpGoodbye ?? 'Sorry, I have to end the call now. Goodbye.',
          onTurn,
        ).catch(() => {});
        return finish('canceled');
      };
      for (const step of opts.script) {
        if (session.signal.aborted) break;
        if (wrappingUp()) return wrapUp();
        if ('say' in step) await speak(session, step.say, onTurn);
        else if ('tone' in step) {
          const rate = session.audio.sampleRate;
          const n = Math.round((step.tone.ms * rate) / 1000);
          const tone = new Int16Array(n);
          for (let i = 0; i < n; i++)
            tone[i] = Math.round(8000 * Math.sin((2 * Math.PI * step.tone.hz * i) / rate));
          await session.audio.play(tone);
        } else if ('dtmf' in step) await session.sendDtmf(step.dtmf);
        else if ('listen' in step) await listen(session, step.listen.maxMs, onTurn);
        else await until(session, step.wait);
      }
      if (session.signal.aborted) {
        const reason = session.signal.reason as ConversationEnd;
        if (reason === 'max_duration' && opts.goodbye)
          await speak(session, opts.goodbye, onTurn).catch(() => {});
        return finish(reason);
      }
      if (wrappingUp()) return wrapUp();
      if (opts.afterScript === 'hold') {
        await until(session, 3_600_000);
        if (wrappingUp()) return wrapUp();
        const reason = session.signal.reason as ConversationEnd;
        if (reason === 'max_duration' && opts.goodbye)
          await speak(session, opts.goodbye, onTurn).catch(() => {});
        return finish(reason);
      }
      return finish(opts.afterScript);
    },
    async summarize(call, turns) {
      summarized++;
      const names = call.fields.map((f) => f.name);
      return {
        summary: `${turns.length} turns about: ${call.objective}`,
        extracted: Object.fromEntries(names.map((n) => [n, null])),
      };
    },
  };
}
