import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One message of the live events wire format (see the events route): `id` only on durable ones. */
export interface WireEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

export interface Connection {
  index: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Last-Event-ID the client sent, or null. */
  lastEventId: string | null;
  res: http.ServerResponse;
  /** Resolves when the client side of this connection has gone (socket closed). */
  closed: Promise<void>;
}

export interface ScriptedServer {
  url: string;
  connections: Connection[];
  /** Resolves with connection number `index` (0-based) once it has arrived. */
  connection(index: number): Promise<Connection>;
  close(): Promise<void>;
}

export const frame = (e: WireEvent) =>
  `${e.id !== undefined ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;

/** Kills the connection once everything written so far has reached the socket. */
export function dropAfterFlush(res: http.ServerResponse, lastChunk = ': bye\n') {
  res.write(lastChunk, () => res.socket?.destroy());
}

export function openStream(res: http.ServerResponse, retryMs?: number) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (retryMs !== undefined) res.write(`retry: ${retryMs}\n\n`);
  else res.write(': open\n\n');
}

/**
 * What a server replays for a resume after `cursor`: every durable message after the one with that id,
 * and the id-less terminal status (it belongs to the `ended` that follows); partials are never replayed.
 */
export function replayAfter(events: WireEvent[], cursor: string | null): WireEvent[] {
  const from = cursor === null ? 0 : events.findIndex((e) => e.id === cursor) + 1;
  return events.slice(from).filter((e) => e.event !== 'partial');
}

export function sendJsonError(res: http.ServerResponse, status: number, code: string) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code, message: `${code} (test server)` } }));
}

/** A loopback HTTP server whose every request goes to `handle`, recorded in `connections`. */
export async function startScriptedServer(handle: (conn: Connection) => unknown): Promise<ScriptedServer> {
  const connections: Connection[] = [];
  const waiters = new Map<number, (c: Connection) => void>();
  const server = http.createServer((req, res) => {
    const header = req.headers['last-event-id'];
    const conn: Connection = {
      index: connections.length,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      lastEventId: typeof header === 'string' ? header : null,
      res,
      closed: new Promise((resolve) => res.on('close', () => resolve())),
    };
    connections.push(conn);
    waiters.get(conn.index)?.(conn);
    Promise.resolve(handle(conn)).catch((err) => {
      res.destroy(err);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    connection: (index) =>
      connections[index]
        ? Promise.resolve(connections[index])
        : new Promise((resolve) => waiters.set(index, resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const CALL = '5b0c5d7e-1111-4222-8333-444455556666';
const at = (s: number) => `2026-12-06T20:00:${String(s).padStart(2, '0')}.000Z`;

/** One whole call as the per-call stream sends it, terminal status without id and `ended` with it. */
export const CALL_ID = CALL;
export const CALL_HISTORY: WireEvent[] = [
  { id: '1.0', event: 'status', data: { callId: CALL, from: null, to: 'queued', reason: null, at: at(0) } },
  {
    id: '2.0',
    event: 'status',
    data: { callId: CALL, from: 'queued', to: 'dialing', reason: null, at: at(1) },
  },
  {
    id: '3.0',
    event: 'status',
    data: { callId: CALL, from: 'dialing', to: 'in_progress', reason: 'answered', at: at(2) },
  },
  { event: 'partial', data: { callId: CALL, speaker: 'callee', text: 'Hello th', at: at(3) } },
  ...[0, 1, 2, 3].map(
    (seq): WireEvent => ({
      id: `3.${seq + 1}`,
      event: 'turn',
      data: {
        callId: CALL,
        seq,
        speaker: seq % 2 ? 'agent' : 'callee',
        text: `turn ${seq} — ünïcødé 👋`,
        startMs: seq * 1000,
        endMs: seq * 1000 + 800,
        interrupted: false,
        latency: null,
        at: at(4 + seq),
      },
    }),
  ),
  {
    event: 'status',
    data: { callId: CALL, from: 'in_progress', to: 'completed', reason: 'objective_met', at: at(9) },
  },
  {
    id: '4.4',
    event: 'ended',
    data: {
      callId: CALL,
      status: 'completed',
      endedReason: 'objective_met',
      summary: 'Open until nine.',
      extracted: { open_sunday: true },
      durationSeconds: 7,
      recordingUrl: null,
      at: at(9),
    },
  },
];

const CALL_B = '5b0c5d7e-2222-4222-8333-444455556666';
const turnOf = (callId: string, seq: number, id: string): WireEvent => ({
  id,
  event: 'turn',
  data: {
    callId,
    seq,
    speaker: 'agent',
    text: `t${seq}`,
    startMs: 0,
    endMs: 1,
    interrupted: false,
    latency: null,
    at: at(10 + seq),
  },
});

/**
 * An account stream that drops after its first three messages; the resume repeats two of them under new
 * ids (its cursor is a watermark), then goes on with new ones.
 */
export const ACCOUNT_FIRST: WireEvent[] = [
  {
    id: '10.0',
    event: 'status',
    data: { callId: CALL, from: 'queued', to: 'dialing', reason: null, at: at(1) },
  },
  turnOf(CALL_B, 0, '10.1'),
  turnOf(CALL, 0, '10.2'),
];
export const ACCOUNT_RESUMED: WireEvent[] = [
  { ...ACCOUNT_FIRST[1], id: '10.3' },
  { ...ACCOUNT_FIRST[2], id: '10.3' },
  turnOf(CALL, 1, '10.4'),
  {
    id: '11.4',
    event: 'status',
    data: { callId: CALL, from: 'dialing', to: 'in_progress', reason: null, at: at(12) },
  },
];
