import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { FRAME_SAMPLES } from '../../src/pbx-sim/media-clock.js';
import { createWsMediaPort } from '../../src/pbx-sim/ws-media-port.js';
import { getCodec } from '../../src/telephony/media/codec.js';
import type { PlayoutResult } from '../../src/telephony/media/playout.js';
import { createRtpCallAudio } from '../../src/telephony/media/rtp-media.js';
import { createWebSocketCallAudio } from '../../src/telephony/media/websocket-media.js';
import { createManualClock } from './manual-clock.js';
import { speechLike } from './signals.js';

// drain(): the media path's answer to "has the far end played everything we queued?", which the call
// controller waits on before it hangs up after the agent's last words.

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function until(cond: () => boolean, what: string, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A promise's outcome so far, without waiting for it. */
function track<T>(p: Promise<T>): { value: T | undefined; settled: boolean } {
  const s = { value: undefined as T | undefined, settled: false };
  p.then((v) => {
    s.value = v;
    s.settled = true;
  });
  return s;
}

/** A chan_websocket endpoint that answers MARK_MEDIA at once (`marks: 'answer'`) or never. */
async function chanWebsocket(opts: { marks: 'answer' | 'never'; json?: boolean }) {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, handleProtocols: () => 'media' });
  const texts: string[] = [];
  const sockets: WsSocket[] = [];
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.send(
      opts.json
        ? JSON.stringify({ event: 'MEDIA_START', connection_id: 'c1', format: 'slin16', ptime: 20 })
        : 'MEDIA_START connection_id:c1 channel:WebSocket/c1 format:slin16 optimal_frame_size:640 ptime:20',
    );
    ws.on('message', (data: Buffer, binary) => {
      if (binary) return;
      const text = data.toString();
      texts.push(text);
      if (opts.marks !== 'answer') return;
      if (opts.json) {
        const cmd = JSON.parse(text);
        if (cmd.command === 'MARK_MEDIA')
          ws.send(JSON.stringify({ event: 'MEDIA_MARK_PROCESSED', correlation_id: cmd.correlation_id }));
      } else if (text.startsWith('MARK_MEDIA ')) {
        ws.send(`MEDIA_MARK_PROCESSED ${text.slice('MARK_MEDIA '.length)}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/media/c1`;
  cleanup.push(async () => {
    for (const s of sockets) s.terminate();
    wss.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { url, texts, sockets };
}

async function wsAudio(url: string, clock = createManualClock()) {
  const audio = await createWebSocketCallAudio({ url, format: 'slin16', clock });
  cleanup.push(() => audio.close());
  return { audio, clock };
}

describe('chan_websocket drain', () => {
  for (const json of [false, true]) {
    it(`sends a mark behind the last frame and resolves when Asterisk reports it (${json ? 'JSON' : 'plain text'})`, async () => {
      const pbx = await chanWebsocket({ marks: 'answer', json });
      const { audio, clock } = await wsAudio(pbx.url);
      const play = audio.play(speechLike(16000, 0.2));
      const drain = track(audio.drain());
      // Nothing is marked while our own pacer still holds audio.
      clock.advance(100);
      expect(audio.stats().sent.audioFrames).toBe(5);
      expect(pbx.texts).toEqual([]);
      clock.advance(100);
      expect((await play).completed).toBe(true);
      await until(() => drain.settled, 'the drain to resolve');
      expect(drain.value).toBe('played');
      expect(pbx.texts).toHaveLength(1);
      const mark = json ? JSON.parse(pbx.texts[0]) : pbx.texts[0];
      if (json) expect(mark).toEqual({ command: 'MARK_MEDIA', correlation_id: expect.any(String) });
      else expect(mark).toMatch(/^MARK_MEDIA correlation_id:\S+$/);
    });
  }

  it('is bounded when Asterisk never reports the mark: the queued audio plus the margin', async () => {
    const pbx = await chanWebsocket({ marks: 'never' });
    const { audio, clock } = await wsAudio(pbx.url);
    void audio.play(speechLike(16000, 0.2));
    const drain = track(audio.drain({ marginMs: 2000 }));
    clock.advance(200);
    await until(() => pbx.texts.length === 1, 'the mark to reach the PBX');
    clock.advance(1900);
    await new Promise((r) => setImmediate(r));
    expect(drain.settled).toBe(false);
    clock.advance(400);
    await until(() => drain.settled, 'the drain to give up');
    expect(drain.value).toBe('timeout');
  });

  it('ends at once when the connection closes (the callee hung up) or a flush drops the audio', async () => {
    const pbx = await chanWebsocket({ marks: 'never' });
    const { audio, clock } = await wsAudio(pbx.url);
    void audio.play(speechLike(16000, 1));
    const flushed = track(audio.drain());
    clock.advance(100);
    audio.flush();
    await new Promise((r) => setImmediate(r));
    expect(flushed.value).toBe('flushed');

    void audio.play(speechLike(16000, 1));
    const closed = track(audio.drain());
    clock.advance(100);
    pbx.sockets[0].close(1000, 'hangup');
    await until(() => closed.settled, 'the drain to end with the connection');
    expect(closed.value).toBe('closed');
    expect(await audio.drain()).toBe('closed');
  });
});

describe('RTP drain', () => {
  async function rtpAudio() {
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const clock = createManualClock();
    const audio = await createRtpCallAudio({
      socket,
      remote: { address: '127.0.0.1', port: sink.address().port },
      format: 'ulaw',
      clock,
    });
    cleanup.push(async () => {
      await audio.close();
      await new Promise<void>((r) => sink.close(() => r()));
    });
    return { audio, clock };
  }

  it('resolves once the last frame has played on the media clock, a burst after a stall included', async () => {
    const { audio, clock } = await rtpAudio();
    const start = clock.now();
    void audio.play(speechLike(8000, 0.2));
    const drain = track(audio.drain());
    clock.advance(100);
    // The loop stalls 60 ms: the three frames due meanwhile go out at once and queue at the far end.
    clock.stall(60);
    clock.advance(40);
    await new Promise((r) => setImmediate(r));
    expect(audio.stats().sent.queuedMs).toBe(0);
    // All ten frames are sent by now, but the far end still plays the burst's tail.
    expect(drain.settled).toBe(false);
    let settledAt = 0;
    while (!drain.settled) {
      clock.advance(5);
      await new Promise((r) => setImmediate(r));
      settledAt = clock.now();
    }
    expect(drain.value).toBe('played');
    // Frames go out from slot 0 (at start): ten frames on the far end's 20 ms clock, the burst
    // delaying the last ones, then two periods for its mixing tick and arrival.
    // Frame n (1-10) is due at n·20 ms. The stall holds frames 6-8 until 160 ms, when they leave at
    // once; the far end plays them at 160, 180 and 200 ms, frame 9 (sent at 180) at 220, frame 10
    // (sent at 200) at 240 to 260 ms; then two periods for its mixing tick and the arrival.
    expect(settledAt - start).toBe(300);
  });

  it('ends at once when the media is closed', async () => {
    const { audio, clock } = await rtpAudio();
    void audio.play(speechLike(8000, 1));
    const drain = track<PlayoutResult>(audio.drain());
    clock.advance(100);
    await audio.close();
    await new Promise((r) => setImmediate(r));
    expect(drain.value).toBe('closed');
  });
});

describe("the simulated PBX's chan_websocket marks", () => {
  /** A port with a socket stand-in that records what the PBX sends back. */
  function port() {
    const sent: (string | Buffer)[] = [];
    const socket = Object.assign(new EventEmitter(), {
      OPEN: 1,
      readyState: 1,
      send: (m: string | Buffer) => sent.push(m),
      close: () => {},
    });
    const p = createWsMediaPort({
      connectionId: 'c1',
      channelName: 'WebSocket/c1',
      channelId: 'ch1',
      logger: pino({ level: 'silent' }),
      onPeerClosed: () => {},
    });
    p.attach(socket as never);
    const texts = () => sent.filter((m): m is string => typeof m === 'string').slice(1);
    const frame = () =>
      Buffer.from(getCodec('slin16', 'websocket').encode(new Int16Array(FRAME_SAMPLES).fill(1000)));
    return {
      p,
      texts,
      audio: (frames: number) => {
        for (let i = 0; i < frames; i++) socket.emit('message', frame(), true);
      },
      command: (text: string) => socket.emit('message', Buffer.from(text), false),
    };
  }

  it('reports a mark on the tick after the last frame before it was played, echoing its argument', () => {
    const { p, texts, audio, command } = port();
    audio(3);
    command('MARK_MEDIA goodbye-1');
    expect(p.pull()).not.toBeNull();
    expect(p.pull()).not.toBeNull();
    expect(texts()).toEqual([]);
    expect(p.pull()).not.toBeNull();
    expect(texts()).toEqual([]);
    // The third frame was played on the previous tick; the mark is at the head now.
    expect(p.pull()).toBeNull();
    expect(texts()).toEqual(['MEDIA_MARK_PROCESSED goodbye-1']);
  });

  it('reports a mark sent on an empty queue at the next tick, and a flush drops marks with the audio', () => {
    const { p, texts, audio, command } = port();
    command('MARK_MEDIA correlation_id:a');
    expect(p.pull()).toBeNull();
    expect(texts()).toEqual(['MEDIA_MARK_PROCESSED correlation_id:a']);
    audio(2);
    command('MARK_MEDIA b');
    command('FLUSH_MEDIA');
    for (let i = 0; i < 3; i++) expect(p.pull()).toBeNull();
    expect(texts()).toEqual(['MEDIA_MARK_PROCESSED correlation_id:a']);
  });
});
