import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { getCodec } from '../../src/telephony/media/codec.js';
import { isVoiced } from '../../src/telephony/media/pacer.js';
import {
  createWebSocketCallAudio,
  MediaWebSocketError,
  parseControlMessage,
  type WebSocketCallAudio,
} from '../../src/telephony/media/websocket-media.js';
import { createManualClock } from './manual-clock.js';
import { concat, dbRatio, locate, rms, speechLike } from './signals.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, what: string, ms = 5000) {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
const codec = getCodec('slin16', 'websocket');

interface Received {
  kind: 'binary' | 'text';
  data: Buffer;
}

/**
 * Behaves like Asterisk's chan_websocket on /media/<id>: insists on the `media` subprotocol,
 * sends MEDIA_START first, queues the app's audio and plays it back (echo) at 20 ms a frame,
 * and drops that queue on FLUSH_MEDIA.
 */
async function fakeChanWebsocket(opts: { json?: boolean; start?: string | null; auth?: string } = {}) {
  const server = http.createServer();
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has('media') ? 'media' : false),
  });
  const received: Received[] = [];
  const sockets: WsSocket[] = [];
  const timers: NodeJS.Timeout[] = [];
  const seenHeaders: string[] = [];
  wss.on('connection', (ws, req) => {
    sockets.push(ws);
    seenHeaders.push(String(req.headers.authorization ?? ''));
    if (!req.url?.startsWith('/media/') || (opts.auth && req.headers.authorization !== opts.auth)) {
      ws.close(1008, 'no such connection');
      return;
    }
    const id = req.url.slice('/media/'.length);
    if (opts.start !== null) {
      ws.send(
        opts.start ??
          (opts.json
            ? JSON.stringify({
                event: 'MEDIA_START',
                connection_id: id,
                channel: `WebSocket/${id}/0x1`,
                channel_id: '1761245643.1',
                format: 'slin16',
                optimal_frame_size: 640,
                ptime: 20,
              })
            : `MEDIA_START connection_id:${id} channel:WebSocket/${id}/0x5140001a0040 format:slin16 optimal_frame_size:640 ptime:20`),
      );
    }
    let queue: Buffer[] = [];
    ws.on('message', (data: Buffer, isBinary) => {
      received.push({ kind: isBinary ? 'binary' : 'text', data });
      if (isBinary) queue.push(data);
      else {
        const text = data.toString();
        if (text === 'FLUSH_MEDIA' || text.includes('"FLUSH_MEDIA"')) queue = [];
      }
    });
    const t = setInterval(() => {
      const next = queue.shift();
      if (next && ws.readyState === ws.OPEN) ws.send(next, { binary: true });
    }, 20);
    timers.push(t);
    ws.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (id = 'media_connection1') => `ws://127.0.0.1:${port}/media/${id}`,
    received,
    sockets,
    seenHeaders,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(opts: Parameters<typeof fakeChanWebsocket>[0] = {}) {
  const server = await fakeChanWebsocket(opts);
  cleanup.push(() => server.close());
  return server;
}

async function connect(url: string, extra: Partial<Parameters<typeof createWebSocketCallAudio>[0]> = {}) {
  const audio: WebSocketCallAudio = await createWebSocketCallAudio({ url, format: 'slin16', ...extra });
  cleanup.push(() => audio.close());
  return audio;
}

describe('chan_websocket call audio', () => {
  it('parses MEDIA_START and echoes speech-like audio back intact', async () => {
    const server = await setup({ auth: 'Basic YXJpOmFyaQ==' });
    const audio = await connect(server.url(), { headers: { Authorization: 'Basic YXJpOmFyaQ==' } });
    expect(audio.mediaStart).toMatchObject({
      connectionId: 'media_connection1',
      format: 'slin16',
      optimalFrameSize: 640,
      ptime: 20,
      controlFormat: 'plain-text',
    });
    expect(audio.sampleRate).toBe(16000);
    const got: Int16Array[] = [];
    audio.onFrame((f) => {
      expect(f.length).toBe(320);
      got.push(f);
    });
    const signal = speechLike(16000, 1);
    expect(await audio.play(signal)).toEqual({ completed: true, playedMs: 1000 });
    // Silence frames go out while nothing is queued (chan_websocket makes none of its own): the
    // speech is the frames that are not all zero.
    const audible = (f: Int16Array) => f.some((v) => v !== 0);
    await waitFor(() => got.filter(audible).length >= 50, 'the echo of all 50 frames');
    // Every binary message is one 20 ms frame of little-endian slin16.
    const bins = server.received.filter((r) => r.kind === 'binary' && r.data.some((b) => b !== 0));
    expect(bins.length).toBe(50);
    expect(bins.every((b) => b.data.length === 640)).toBe(true);
    expect(bins[0].data.readInt16LE(2)).toBe(signal[1]);
    const heard = concat(got);
    const { corr, lag } = locate(signal, heard);
    expect(corr).toBeGreaterThan(0.9999);
    expect(Math.abs(dbRatio(rms(heard.subarray(lag, lag + signal.length)), rms(signal)))).toBeLessThan(0.1);
    // Little-endian both ways and nothing lost: the echo is bit-exact.
    expect(Array.from(heard.subarray(lag, lag + signal.length))).toEqual(Array.from(signal));
  });

  it('sends FLUSH_MEDIA on flush and no voiced audio after it', async () => {
    const server = await setup();
    const audio = await connect(server.url());
    const play = audio.play(speechLike(16000, 3));
    await waitFor(() => server.received.length >= 10, 'some speech to reach the server');
    audio.flush();
    const result = await play;
    expect(result.completed).toBe(false);
    expect(result.playedMs).toBeGreaterThan(0);
    // A frame of constant 1s (far below speech, and unlike the idle silence of all zeros) played after
    // the flush marks the end of what the flush let through.
    expect(await audio.play(new Int16Array(320).fill(1))).toEqual({ completed: true, playedMs: 20 });
    const isSentinel = (r: Received) =>
      r.kind === 'binary' && codec.decode(r.data).every((v: number) => v === 1);
    const isIdle = (r: Received) => r.kind === 'binary' && r.data.every((b) => b === 0);
    await waitFor(() => server.received.some(isSentinel), 'the silent frame sent after the flush');
    const flushAt = server.received.findIndex(
      (r) => r.kind === 'text' && r.data.toString() === 'FLUSH_MEDIA',
    );
    expect(flushAt).toBeGreaterThan(0);
    const after = server.received.slice(flushAt + 1);
    expect(after.filter((r) => r.kind === 'binary' && isVoiced(codec.decode(r.data))).length).toBe(0);
    expect(after.filter(isSentinel).length).toBe(1);
    // Exactly the frames the play promise says were played reached the server (besides idle silence).
    const bins = server.received.slice(0, flushAt).filter((r) => r.kind === 'binary' && !isIdle(r));
    expect(bins.length * 20).toBe(result.playedMs);
  });

  it('speaks JSON control messages when Asterisk does', async () => {
    const server = await setup({ json: true });
    const audio = await connect(server.url('abc'));
    expect(audio.mediaStart).toMatchObject({
      connectionId: 'abc',
      channelId: '1761245643.1',
      controlFormat: 'json',
    });
    audio.flush();
    await waitFor(() => server.received.some((r) => r.kind === 'text'), 'the command');
    const texts = server.received.filter((r) => r.kind === 'text').map((r) => JSON.parse(r.data.toString()));
    expect(texts).toEqual([{ command: 'FLUSH_MEDIA' }]);
  });

  it('holds audio on MEDIA_XOFF and sends all of it after MEDIA_XON', async () => {
    const server = await setup();
    // On a clock the test moves, "nothing was sent while held" is a count, not a wait.
    const clock = createManualClock();
    const audio = await connect(server.url(), { clock });
    const play = audio.play(speechLike(16000, 0.6));
    clock.advance(100);
    const sentBeforeXoff = audio.stats().sent.messages;
    expect(sentBeforeXoff).toBeGreaterThan(0);
    server.sockets[0].send('MEDIA_XOFF');
    await waitFor(() => audio.stats().xoff, 'the client to see MEDIA_XOFF');
    clock.advance(1000);
    expect(audio.stats().sent.messages).toBe(sentBeforeXoff);
    server.sockets[0].send('MEDIA_XON');
    await waitFor(() => !audio.stats().xoff, 'the client to see MEDIA_XON');
    clock.advance(600);
    expect(await play).toEqual({ completed: true, playedMs: 600 });
    // The audio's frames, not the idle silence sent around them.
    const audioFrames = () =>
      server.received.filter((r) => r.kind === 'binary' && r.data.some((b) => b !== 0)).length;
    await waitFor(() => audioFrames() >= 30, 'all 30 frames to arrive');
    expect(audioFrames()).toBe(30);
  });

  it('passes other control events on and reports the close', async () => {
    const server = await setup();
    const audio = await connect(server.url());
    const events: unknown[] = [];
    audio.onEvent((e) => events.push(e));
    const closed = new Promise<{ code: number }>((r) => audio.onClose(r));
    server.sockets[0].send('DTMF_END digit:5');
    await waitFor(() => events.length > 0, 'the event');
    expect(events).toEqual([{ event: 'DTMF_END', fields: { digit: '5' } }]);
    server.sockets[0].close(1000, 'hangup');
    expect((await closed).code).toBe(1000);
    // A closed path answers every play at once, and says it is closed (a caller must stop playing).
    expect(await audio.play(new Int16Array(320))).toEqual({ completed: false, playedMs: 0, closed: true });
  });

  it('fails clearly when no MEDIA_START comes, the format differs, or the server refuses', async () => {
    const silent = await setup({ start: null });
    await expect(createWebSocketCallAudio({ url: silent.url(), connectTimeoutMs: 300 })).rejects.toThrow(
      /no MEDIA_START .*media\/… within 300 ms/,
    );
    const ulaw = await setup({ start: 'MEDIA_START connection_id:x format:ulaw optimal_frame_size:160' });
    await expect(createWebSocketCallAudio({ url: ulaw.url(), format: 'slin16' })).rejects.toThrow(
      /announced ulaw/,
    );
    const locked = await setup({ auth: 'Basic right' });
    await expect(
      createWebSocketCallAudio({ url: locked.url(), headers: { Authorization: 'Basic wrong' } }),
    ).rejects.toThrow(MediaWebSocketError);
    await expect(createWebSocketCallAudio({ url: 'ws://127.0.0.1:1/media/x' })).rejects.toThrow(
      /media websocket failed/,
    );
  });

  it('parses plain-text and JSON control messages', () => {
    expect(
      parseControlMessage('MEDIA_START connection_id:a channel:WebSocket/a/0x1 optimal_frame_size:640'),
    ).toEqual({
      event: 'MEDIA_START',
      fields: { connection_id: 'a', channel: 'WebSocket/a/0x1', optimal_frame_size: '640' },
      json: false,
    });
    expect(parseControlMessage('{"event":"QUEUE_DRAINED","channel_id":"1"}')).toEqual({
      event: 'QUEUE_DRAINED',
      fields: { channel_id: '1' },
      json: true,
    });
    expect(() => parseControlMessage('{"nope":1}')).toThrow(/no "event"/);
    expect(() => parseControlMessage('{bad')).toThrow(/unparseable/);
  });
});
