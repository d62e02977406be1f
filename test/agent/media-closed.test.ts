import dgram from 'node:dgram';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { silentLogger } from '../../src/logger.js';
import type { CallAudio, CallSession, ConversationTurn } from '../../src/telephony/call-session.js';
import { createRtpCallAudio } from '../../src/telephony/media/rtp-media.js';
import { createWebSocketCallAudio } from '../../src/telephony/media/websocket-media.js';
import { AgentTurn } from '../../src/voice/agent/agent-turn.js';
import { createConversationAgent } from '../../src/voice/agent/conversation-agent.js';
import { createScriptedDialogue } from '../../src/voice/dialogue/scripted.js';
import type { VoiceActivityDetector } from '../../src/voice/types.js';
import { createSileroVad } from '../../src/voice/vad/silero.js';
import { createFakeTts } from './helpers/fake-line.js';
import { createScriptedStt } from './helpers/scripted-stt.js';
import { makeCallRow } from './helpers/test-session.js';

/**
 * Asterisk restarting (or crashing) under a call closes the media path while the agent speaks, and its
 * hangup events may die with the events socket, so nothing aborts the agent. A closed path answers
 * every play at once: a turn that played the unplayed rest again span the event loop forever (real
 * Asterisk 22.10.1: 56 % CPU, /healthz and SIGTERM unanswered). The turn, and the conversation, must
 * end on it.
 */

/** 40 words of fake TTS: 8 s of tone, so the media closes mid-clause. */
const LONG_LINE = `${Array.from({ length: 39 }, (_, i) => `word${i}`).join(' ')} end.`;

async function until(what: string, fn: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The call audio as the controller hands it to the agent (no `onClose`: the agent learns of the close
 * only from its plays), counting plays. Past `cap` plays it stops answering: a turn that replays a
 * closed path would otherwise starve the event loop for good, and the test runner's own timeout with
 * it; capped, the turn hangs instead and the test fails on its timeout.
 */
function counted(audio: CallAudio, cap = 200) {
  let plays = 0;
  const wrapped: CallAudio = {
    sampleRate: audio.sampleRate,
    onFrame: (l) => audio.onFrame(l),
    play(samples) {
      plays++;
      return plays > cap ? new Promise(() => {}) : audio.play(samples);
    },
    flush: () => audio.flush(),
    onFrameSent: (l) => audio.onFrameSent(l),
  };
  return {
    audio: wrapped,
    get plays() {
      return plays;
    },
  };
}

/** Ticks of a 5 ms timer: they stop while the event loop is starved by a chain of promise callbacks. */
function heartbeat() {
  let ticks = 0;
  const t = setInterval(() => ticks++, 5);
  return {
    get ticks() {
      return ticks;
    },
    stop: () => clearInterval(t),
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A media path of each transport, and how the far end (or the teardown) closes it under the agent. */
interface OpenMedia {
  audio: CallAudio;
  /** Voiced frames that went out so far. */
  voiced(): number;
  /** Closes the path with no hangup event anywhere. */
  closeUnderneath(): Promise<void> | void;
}

/** chan_websocket as Asterisk runs it: MEDIA_START, then it takes our frames; a restart drops the socket. */
async function websocketMedia(): Promise<OpenMedia> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, handleProtocols: () => 'media' });
  const sockets: WsSocket[] = [];
  wss.on('connection', (ws, req) => {
    sockets.push(ws);
    const id = (req.url ?? '').split('/').at(-1);
    ws.send(
      `MEDIA_START connection_id:${id} channel:WebSocket/${id}/0x1 format:slin16 optimal_frame_size:640 ptime:20`,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const audio = await createWebSocketCallAudio({ url: `ws://127.0.0.1:${port}/media/m1`, format: 'slin16' });
  cleanups.push(async () => {
    await audio.close();
    for (const s of sockets) s.terminate();
    wss.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
  let voiced = 0;
  audio.onFrameSent((f) => {
    if (f.voiced) voiced++;
  });
  return {
    audio,
    voiced: () => voiced,
    // Asterisk going down: the connection is cut, no close handshake, no event before it.
    closeUnderneath: () => {
      for (const s of sockets) s.terminate();
    },
  };
}

/** RTP to a sink that never answers; the pacer stopped under the agent (the call's media closed). */
async function rtpMedia(): Promise<OpenMedia> {
  const bind = async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    return s;
  };
  const sink = await bind();
  const socket = await bind();
  const audio = await createRtpCallAudio({
    socket,
    remote: { address: '127.0.0.1', port: sink.address().port },
    format: 'ulaw',
  });
  cleanups.push(async () => {
    await audio.close();
    await new Promise<void>((r) => sink.close(() => r()));
  });
  let voiced = 0;
  audio.onFrameSent((f) => {
    if (f.voiced) voiced++;
  });
  return { audio, voiced: () => voiced, closeUnderneath: () => audio.close() };
}

const transports = [
  ['chan_websocket', websocketMedia],
  ['RTP', rtpMedia],
] as const;

describe.each(transports)(
  'the %s media closes while the agent speaks, with no hangup event',
  (_name, open) => {
    it('the turn ends at once, reports the close, and the event loop keeps running', async () => {
      const media = await open();
      const line = counted(media.audio);
      const tts = createFakeTts(media.audio.sampleRate);
      const turn = new AgentTurn(
        {
          audio: line.audio,
          tts,
          log: silentLogger(),
          resumeBackupMs: 0,
          pauseTimeoutMs: 2000,
          onPauseTimeout: () => {},
        },
        // Two clauses, both queued on the line when it closes.
        { source: { fixed: `Hello there, this is the assistant. ${LONG_LINE}` }, interruptible: true },
      );
      const playout = turn.waitForPlayout();
      await until('the agent to be heard', () => media.voiced() >= 10);
      const beat = heartbeat();
      cleanups.push(beat.stop);
      await media.closeUnderneath();
      const p = await playout;
      const ticks = beat.ticks;
      await until('the event loop to run timers after the turn ended', () => beat.ticks > ticks + 2, 10_000);

      expect(p.mediaClosed).toBe(true);
      expect(p.interrupted).toBe(true);
      expect(p.failed).toBe(false);
      expect(turn.done).toBe(true);
      // What the callee heard was cut where the line closed; each clause was played once, never again.
      expect(p.spoken.length).toBeGreaterThan(0);
      expect(p.spoken.length).toBeLessThan(`Hello there, this is the assistant. ${LONG_LINE}`.length);
      expect(line.plays).toBeLessThanOrEqual(tts.said.length);
    }, 60_000);

    describe('the conversation', () => {
      const vads: VoiceActivityDetector[] = [];
      beforeAll(async () => {
        vads.push(await createSileroVad());
      });
      afterAll(async () => {
        for (const v of vads.splice(0)) await v.close();
      });

      it('ends, and the agent stops talking, though its session was never aborted', async () => {
        const media = await open();
        const line = counted(media.audio);
        const tts = createFakeTts(media.audio.sampleRate);
        const agent = createConversationAgent({
          stt: createScriptedStt(),
          tts,
          vad: vads[0],
          dialogue: createScriptedDialogue({
            deltaDelayMs: 5,
            fallback: { action: 'speak', say: LONG_LINE },
          }),
          logger: silentLogger(),
          options: { greetingWaitMs: 200 },
        });
        // No hangup event will come: this session's signal is never aborted.
        const never = new AbortController();
        const session: CallSession = {
          call: makeCallRow(),
          audio: line.audio,
          answeredAtMs: performance.now(),
          signal: never.signal,
          sendDtmf: async () => {},
          onDtmf: () => () => {},
        };
        const turns: ConversationTurn[] = [];
        const done = agent.converse(session, (t) => turns.push(t));
        await until('the agent to be heard', () => media.voiced() >= 10);
        const beat = heartbeat();
        cleanups.push(beat.stop);
        await media.closeUnderneath();
        const result = await done;
        const ticks = beat.ticks;
        await until(
          'the event loop to run timers after the agent stopped',
          () => beat.ticks > ticks + 2,
          10_000,
        );

        // The call's owner says how the call ended; for the agent, it could not go on.
        expect(result).toEqual({ end: 'internal_error' });
        const agentTurns = turns.filter((t) => t.speaker === 'agent');
        expect(agentTurns).toHaveLength(1);
        expect(agentTurns[0].interrupted).toBe(true);
        // One reply, not a reprompt or a goodbye into a dead line; each of its clauses played once at most.
        expect(tts.said.length).toBeGreaterThan(0);
        for (const text of tts.said) expect(LONG_LINE).toContain(text.trim());
        expect(line.plays).toBeLessThanOrEqual(tts.said.length);
        expect(never.signal.aborted).toBe(false);
      }, 60_000);
    });
  },
);

describe('a media path that answers every play at once, unplayed, without saying it closed', () => {
  it('the turn plays again at most once per turn of the event loop, timers keep running, and stopping it ends it', async () => {
    let plays = 0;
    // Plays since a timer last ran. A turn replaying in a chain of promise callbacks makes thousands
    // with no timer between them: past the cap the path stops answering, so that the test fails (the
    // turn hangs) rather than starving the runner. Retried once per turn of the loop, it never gets close.
    let burst = 0;
    let reset: NodeJS.Timeout | null = null;
    cleanups.push(() => clearTimeout(reset ?? undefined));
    // Not a path of ours (they say `closed`): one that cannot play, and says nothing about why.
    const audio: CallAudio = {
      sampleRate: 8000,
      onFrame: () => () => {},
      play() {
        plays++;
        burst++;
        reset ??= setTimeout(() => {
          burst = 0;
          reset = null;
        }, 0);
        if (burst > 10_000) return new Promise(() => {});
        return Promise.resolve({ completed: false, playedMs: 0 });
      },
      flush: () => {},
      onFrameSent: () => () => {},
    };
    const turn = new AgentTurn(
      {
        audio,
        tts: createFakeTts(8000),
        log: silentLogger(),
        resumeBackupMs: 0,
        pauseTimeoutMs: 2000,
        onPauseTimeout: () => {},
      },
      { source: { fixed: LONG_LINE }, interruptible: true },
    );
    const playout = turn.waitForPlayout();
    await until('the turn to play', () => plays > 0);
    const beat = heartbeat();
    cleanups.push(beat.stop);
    // A 5 ms timer fires while the turn keeps retrying: the loop is not starved.
    await until('timers to run while the turn retries', () => beat.ticks >= 3, 10_000);
    const retried = plays;
    await until('the turn to retry', () => plays > retried);
    turn.stop('call ended');
    const p = await playout;
    expect(p.interrupted).toBe(true);
    expect(p.mediaClosed).toBe(false);
    const after = plays;
    await until('timers to run after the turn', () => beat.ticks >= 6, 10_000);
    expect(plays).toBe(after);
  }, 60_000);
});
