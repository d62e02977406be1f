import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { silentLogger } from '../logger.js';
import { FRAME_SAMPLES } from './media-clock.js';
import { createWsMediaPort } from './ws-media-port.js';

/** A media socket stand-in: what the app sends is emitted as binary messages; what the port sends is kept. */
function socket() {
  const ws = Object.assign(new EventEmitter(), {
    OPEN: 1,
    readyState: 1,
    sent: [] as unknown[],
    send(data: unknown) {
      ws.sent.push(data);
    },
    close() {},
  });
  return ws;
}

function frameOf(value: number): Buffer {
  const b = Buffer.alloc(FRAME_SAMPLES * 2);
  for (let i = 0; i < FRAME_SAMPLES; i++) b.writeInt16LE(value, i * 2);
  return b;
}

function port() {
  const p = createWsMediaPort({
    connectionId: 'c',
    channelName: 'WebSocket/c',
    channelId: 'ch',
    logger: silentLogger(),
    onPeerClosed: () => {},
  });
  const ws = socket();
  p.attach(ws as unknown as WebSocket);
  const send = (value: number, n = 1) => {
    for (let i = 0; i < n; i++) ws.emit('message', frameOf(value), true);
  };
  return { p, ws, send };
}

describe('the simulated chan_websocket queue behind a stall of the simulator', () => {
  it('skips a backlog of idle silence, so a sender that never stops sending is not delayed for good', () => {
    const { p, send } = port();
    // 1.2 s of silence queued behind real time (the process stalled), then speech.
    send(0, 60);
    send(1000);
    let pulls = 0;
    for (;;) {
      const f = p.pull();
      pulls++;
      if (f?.[0] === 1000) break;
      expect(pulls).toBeLessThan(60);
    }
    // The speech came once the backlog was down to 200 ms, not 1.2 s later.
    expect(pulls).toBeLessThanOrEqual(11);
  });

  it('never skips speech, nor silence while the backlog is short', () => {
    const { p, send } = port();
    send(500, 30);
    for (let i = 0; i < 30; i++) expect(p.pull()?.[0]).toBe(500);
    expect(p.pull()).toBeNull();
    send(0, 5);
    send(700);
    for (let i = 0; i < 5; i++) expect(p.pull()?.[0]).toBe(0);
    expect(p.pull()?.[0]).toBe(700);
  });
});
