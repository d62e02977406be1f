import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { CallAudio, ConversationAgent } from '../../src/telephony/call-session.js';
import { createConversationAgent } from '../../src/voice/agent/conversation-agent.js';
import { createScriptedDialogue } from '../../src/voice/dialogue/scripted.js';
import { createSileroVad } from '../../src/voice/vad/silero.js';
import {
  type Engines,
  expectNoLeakedHandles,
  type Harness,
  handleCounts,
  loadEngines,
  startHarness,
  until,
} from './helpers/harness.js';

/** Long enough (some 15 s of speech) that Asterisk goes down while the agent is still saying it. */
const LONG_LINE =
  'Hello, I am calling on behalf of a customer who would like to book a table for two people tonight at seven, ' +
  'and while I have you I would also like to ask whether you have a quiet table near the window, ' +
  'whether there is parking close by, and whether the kitchen can prepare a dish without nuts for one of the guests.';

/**
 * A person who answers and listens without a word: the agent speaks as soon as it may, whatever a
 * recogniser on a loaded machine makes of a greeting (the test is about the media, not the turn-taking).
 */
const LISTENER = {
  number: '+14155550186',
  outcome: 'answer' as const,
  ringSeconds: 0.5,
  amd: { status: 'HUMAN' as const, analysisMs: 500 },
  transcribe: false,
  states: { start: {} },
};

/**
 * The agent as the controller runs it, with its plays counted and its speech seen. Past `cap` plays
 * the audio stops answering: an agent replaying a closed media path would otherwise starve the event
 * loop for good (the test runner's timeout included); capped, the call hangs and the test times out.
 */
function watchedAgent(inner: ConversationAgent, cap = 500) {
  const state = { plays: 0, voiced: 0, conversations: 0, ended: 0 };
  const agent: ConversationAgent = {
    async converse(session, onTurn) {
      state.conversations++;
      const a = session.audio;
      a.onFrameSent((f) => {
        if (f.voiced) state.voiced++;
      });
      const audio: CallAudio = {
        sampleRate: a.sampleRate,
        onFrame: (l) => a.onFrame(l),
        play(samples) {
          state.plays++;
          return state.plays > cap ? new Promise(() => {}) : a.play(samples);
        },
        flush: () => a.flush(),
        onFrameSent: (l) => a.onFrameSent(l),
      };
      try {
        return await inner.converse({ ...session, audio }, onTurn);
      } finally {
        state.ended++;
      }
    },
    summarize: (c, t, o) => inner.summarize(c, t, o),
  };
  return { agent, state };
}

/** Ticks of a 10 ms timer: they stop while the event loop is starved. */
function heartbeat() {
  let ticks = 0;
  const t = setInterval(() => ticks++, 10);
  return {
    get ticks() {
      return ticks;
    },
    stop: () => clearInterval(t),
  };
}

/**
 * Asterisk restarts (`core restart now`) or crashes while the agent speaks a long line. Real Asterisk
 * 22.10.1 closed the chan_websocket media under the speaking agent, whose turn then replayed its clause
 * on the closed path forever: 56 % CPU, no reconnect, /healthz and SIGTERM unanswered. The call must
 * end with the outcome docs/telephony.md gives, the process stay responsive, and the client reconnect.
 */
describe.each([
  ['chan_websocket', 'websocket'],
  ['RTP', 'rtp'],
] as const)('Asterisk goes down while the agent speaks (%s media)', (_name, transport) => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  let inner: ConversationAgent;
  const beats: { stop(): void }[] = [];
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    inner = createConversationAgent({
      stt: engines.stt,
      tts: engines.tts,
      vad: await createSileroVad(),
      createVad: () => createSileroVad(),
      dialogue: createScriptedDialogue({ deltaDelayMs: 5, fallback: { action: 'speak', say: LONG_LINE } }),
      logger: silentLogger(),
      // The agent speaks as soon as it may, whatever the callee's greeting came to.
      options: { greetingWaitMs: 300 },
    });
    h = await startHarness({
      engines,
      agent: inner,
      env: { MEDIA_TRANSPORT: transport },
      scenarios: [LISTENER],
      // Back quickly once the PBX is.
      reconnectInitialMs: 100,
    });
  }, 120_000);
  afterEach(async () => {
    for (const b of beats.splice(0)) b.stop();
    h.sim.comeBack();
    await until('the client to be connected', () => h.ari.connected, 30_000);
    await until(
      'the PBX to be empty',
      () => h.sim.channels().length === 0 && h.sim.bridges().length === 0,
      10_000,
    );
    await until('the runner to finish its calls', () => h.runner.activeCalls() === 0, 30_000);
  });
  afterAll(async () => {
    await h?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  /** Places a call and waits until the agent's long line is being heard. */
  async function speaking() {
    const watched = watchedAgent(inner);
    h.setAgent(watched.agent);
    const id = await h.place(LISTENER.number);
    await until('the agent to be speaking', () => watched.state.voiced >= 25, 60_000);
    const beat = heartbeat();
    beats.push(beat);
    return { id, ...watched, beat };
  }

  /** The event loop runs timers (and so sockets, signals, the health check) from now on. */
  async function responsive(beat: { readonly ticks: number }) {
    const at = beat.ticks;
    await until('timers to run', () => beat.ticks >= at + 5, 10_000);
  }

  it('a restart: the call ends failed/network_error at once, the agent stops, and the client reconnects when it is back', async () => {
    const s = await speaking();
    await h.sim.goDown('shutdown');
    const call = await h.waitFor(s.id, undefined, 60_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'failed',
      endedReason: 'network_error',
    });
    await until('the agent to stop', () => s.state.ended === 1, 10_000);
    await responsive(s.beat);
    // No turn replayed its clauses on the closed line.
    expect(s.state.plays).toBeLessThan(50);

    h.sim.comeBack();
    await until('the client to reconnect', () => h.ari.connected, 30_000);
    await responsive(s.beat);
  }, 150_000);

  it('a crash (no events): the process stays responsive while the PBX is down, and the call ends failed/network_error at the reconnect', async () => {
    const s = await speaking();
    await h.sim.goDown('crash');
    await until('the client to see the PBX gone', () => !h.ari.connected, 30_000);
    // Down for a while: timers keep running, and nothing replays a turn.
    await responsive(s.beat);
    await responsive(s.beat);
    if (transport === 'websocket') {
      // The media socket closed: the agent stopped, though no hangup event told it.
      await until('the agent to stop', () => s.state.ended === 1, 10_000);
    }
    expect(s.state.plays).toBeLessThan(50);
    // Nothing tells how the call ended until the PBX is back.
    expect((await h.get(s.id)).status).toBe('in_progress');

    h.sim.comeBack();
    await until('the client to reconnect', () => h.ari.connected, 30_000);
    // The reconnect's reconciliation finds the callee and our media channel gone: the PBX cut the
    // call, the callee did not hang up.
    const call = await h.waitFor(s.id, undefined, 60_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'failed',
      endedReason: 'network_error',
    });
    await until('the agent to stop', () => s.state.ended === 1, 10_000);
    await responsive(s.beat);
  }, 150_000);
});
