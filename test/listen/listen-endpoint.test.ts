import { Hono } from 'hono';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { type RunningServer, startHttpServer } from '../../src/api/http-server.js';
import {
  createListenEndpoint,
  LISTEN_CLOSE,
  type ListenEndpoint,
  listenUrlPath,
  NO_WORKER_REASON,
  NOT_HERE_REASON,
  NOT_LIVE_REASON,
} from '../../src/dashboard/routes/listen.js';
import type { DashboardUser } from '../../src/dashboard/types.js';
import type { CallRow } from '../../src/db/schema.js';
import { ListenHub, type ListenSource } from '../../src/listen/listen-hub.js';
import { silentLogger } from '../../src/logger.js';

/** Waits for what the server does on its own time; generous for a loaded machine. */
const WAIT = { timeout: 20_000, interval: 20 };
const ACCOUNT = '11111111-1111-4111-8111-111111111111';
const OTHER_ACCOUNT = '22222222-2222-4222-8222-222222222222';
const CALL = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const ENDED_CALL = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';

const users: Record<string, DashboardUser> = {
  owner: { id: 'u1', accountId: ACCOUNT, email: 'ann@example.com', role: 'viewer', instanceAdmin: false },
  stranger: {
    id: 'u2',
    accountId: OTHER_ACCOUNT,
    email: 'eve@example.com',
    role: 'owner',
    instanceAdmin: false,
  },
  admin: {
    id: 'u3',
    accountId: OTHER_ACCOUNT,
    email: 'root@example.com',
    role: 'owner',
    instanceAdmin: true,
  },
};

/** A live call whose two parties say one constant level each, one frame a period while asked to. */
function speakingCall() {
  const inbound = new Set<(f: Int16Array) => void>();
  const sent = new Set<(info: { frame?: Int16Array }) => void>();
  const source: ListenSource = {
    sampleRate: 8000,
    onFrame(l) {
      inbound.add(l);
      return () => inbound.delete(l);
    },
    onFrameSent(l) {
      sent.add(l);
      return () => sent.delete(l);
    },
  };
  const timer = setInterval(() => {
    for (const l of inbound) l(new Int16Array(160).fill(1000));
    for (const l of sent) l({ frame: new Int16Array(160).fill(234) });
  }, 20);
  return { source, subscribers: () => inbound.size + sent.size, stop: () => clearInterval(timer) };
}

interface Harness {
  server: RunningServer;
  endpoint: ListenEndpoint;
  notes: string[];
  origin: string;
  close(): Promise<void>;
}

async function start(hub: ListenHub | null): Promise<Harness> {
  const calls = new Map<string, Partial<CallRow>>([
    [CALL, { id: CALL, accountId: ACCOUNT, status: 'in_progress' }],
    [ENDED_CALL, { id: ENDED_CALL, accountId: ACCOUNT, status: 'completed' }],
  ]);
  const notes: string[] = [];
  const endpoint = createListenEndpoint({
    hub,
    calls: {
      get: async (id) => (calls.get(id) as CallRow) ?? null,
      note: async (id, reason) => {
        notes.push(`${id}: ${reason}`);
      },
    },
    resolveUser: async (cookie) => users[/session=(\w+)/.exec(cookie ?? '')?.[1] ?? ''] ?? null,
    logger: silentLogger(),
  });
  const app = new Hono().get('/', (c) => c.text('page'));
  const server = await startHttpServer(app, {
    port: 0,
    host: '127.0.0.1',
    onUpgrade: endpoint.handleUpgrade,
  });
  return {
    server,
    endpoint,
    notes,
    origin: server.url,
    async close() {
      await endpoint.close();
      await server.close();
    },
  };
}

type Outcome =
  | { refused: number; body: string }
  | {
      format: Record<string, unknown>;
      frames: Buffer[];
      closed: Promise<{ code: number; reason: string }>;
      ws: WebSocket;
    };

/** Opens the listen socket as a browser would (Origin, Cookie), and says how the server answered. */
function open(
  h: Harness,
  callId: string,
  opts: { user?: string; origin?: string | null } = {},
): Promise<Outcome> {
  const headers: Record<string, string> = {};
  if (opts.origin !== null) headers.Origin = opts.origin ?? h.origin;
  if (opts.user) headers.Cookie = `other=1; session=${opts.user}`;
  const ws = new WebSocket(`${h.server.url.replace('http', 'ws')}${listenUrlPath(callId)}`, { headers });
  const frames: Buffer[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ refused: res.statusCode ?? 0, body }));
    });
    ws.on('error', (err) => reject(err));
    ws.on('message', (data, binary) => {
      if (binary) frames.push(data as Buffer);
      else resolve({ format: JSON.parse(String(data)), frames, closed, ws });
    });
    // Closed before any message: resolve with what the close said.
    void closed.then((c) => resolve({ format: {}, frames, closed: Promise.resolve(c), ws }));
  });
}

let harness: Harness | null = null;
let call: ReturnType<typeof speakingCall> | null = null;
afterEach(async () => {
  call?.stop();
  await harness?.close();
  harness = null;
  call = null;
});

describe('the live listen WebSocket', () => {
  it('streams the format, then the mixed PCM of both parties, and closes with a reason when the call ends', async () => {
    const hub = new ListenHub();
    call = speakingCall();
    const unregister = hub.register(CALL, call.source);
    harness = await start(hub);
    const got = await open(harness, CALL, { user: 'owner' });
    if (!('format' in got)) throw new Error(`refused: ${JSON.stringify(got)}`);
    expect(got.format).toEqual({
      type: 'format',
      callId: CALL,
      sampleRate: 8000,
      channels: 1,
      encoding: 's16le',
    });
    await vi.waitFor(() => expect(got.frames.some((f) => f.readInt16LE(0) === 1234)).toBe(true), WAIT);
    expect(got.frames.every((f) => f.length === 320)).toBe(true);
    await vi.waitFor(
      () => expect(harness!.notes).toEqual([`${CALL}: listen_started: ann@example.com`]),
      WAIT,
    );

    // Read-only: what the browser sends changes nothing.
    got.ws.send('stop the call');
    got.ws.send(Buffer.alloc(64));
    const before = got.frames.length;
    await vi.waitFor(() => expect(got.frames.length).toBeGreaterThan(before + 3), WAIT);
    expect(got.ws.readyState).toBe(WebSocket.OPEN);

    unregister();
    expect(await got.closed).toEqual({ code: LISTEN_CLOSE.ended, reason: 'call ended' });
    await vi.waitFor(
      () => expect(harness!.notes.at(-1)).toBe(`${CALL}: listen_stopped: ann@example.com`),
      WAIT,
    );
    expect(call.subscribers()).toBe(0);
  });

  it('stops tapping the call when the last browser leaves', async () => {
    const hub = new ListenHub();
    call = speakingCall();
    hub.register(CALL, call.source);
    harness = await start(hub);
    const got = await open(harness, CALL, { user: 'admin' });
    if (!('format' in got)) throw new Error('refused');
    expect(hub.inspect(CALL)).toEqual({ listeners: 1, mixing: true });
    got.ws.close();
    await got.closed;
    await vi.waitFor(() => expect(hub.inspect(CALL)).toEqual({ listeners: 0, mixing: false }), WAIT);
    expect(call.subscribers()).toBe(0);
    // An instance admin may listen to any account's call; the note names them.
    await vi.waitFor(
      () =>
        expect(harness!.notes).toEqual([
          `${CALL}: listen_started: root@example.com`,
          `${CALL}: listen_stopped: root@example.com`,
        ]),
      WAIT,
    );
  });

  it('refuses a browser without a session, from another site, or of another account, before the upgrade', async () => {
    const hub = new ListenHub();
    call = speakingCall();
    hub.register(CALL, call.source);
    harness = await start(hub);
    const noSession = await open(harness, CALL, {});
    expect(noSession).toMatchObject({ refused: 401 });
    expect(JSON.parse((noSession as { body: string }).body)).toEqual({
      error: { code: 'unauthorized', message: expect.any(String) },
    });
    expect(await open(harness, CALL, { user: 'owner', origin: 'http://evil.example' })).toMatchObject({
      refused: 403,
    });
    expect(await open(harness, CALL, { user: 'owner', origin: null })).toMatchObject({ refused: 403 });
    const stranger = await open(harness, CALL, { user: 'stranger' });
    expect(stranger).toMatchObject({ refused: 404 });
    expect(JSON.parse((stranger as { body: string }).body).error.code).toBe('not_found');
    expect(await open(harness, 'cccccccc-cccc-4ccc-8ccc-cccccccccccc', { user: 'owner' })).toMatchObject({
      refused: 404,
    });
    expect(harness.notes).toEqual([]);
    expect(call.subscribers()).toBe(0);
  });

  it('closes with a clear reason for a call that is not live, and for a process without a worker', async () => {
    harness = await start(new ListenHub());
    const ended = await open(harness, ENDED_CALL, { user: 'owner' });
    if (!('closed' in ended)) throw new Error('refused');
    expect(await ended.closed).toEqual({ code: LISTEN_CLOSE.notLive, reason: NOT_LIVE_REASON });
    // In progress, but not a call of this process's worker (or its media is not up yet).
    const elsewhere = await open(harness, CALL, { user: 'owner' });
    if (!('closed' in elsewhere)) throw new Error('refused');
    expect(await elsewhere.closed).toEqual({ code: LISTEN_CLOSE.notLive, reason: NOT_HERE_REASON });
    await harness.close();

    harness = await start(null);
    const apiOnly = await open(harness, CALL, { user: 'owner' });
    if (!('closed' in apiOnly)) throw new Error('refused');
    expect(await apiOnly.closed).toEqual({ code: LISTEN_CLOSE.noWorker, reason: NO_WORKER_REASON });
    expect(harness.notes).toEqual([]);
  });

  it('answers other WebSocket paths 404, and closes listening sockets when the server stops', async () => {
    const hub = new ListenHub();
    call = speakingCall();
    hub.register(CALL, call.source);
    harness = await start(hub);
    const other = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${harness!.server.url.replace('http', 'ws')}/ui/somewhere`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', reject);
    });
    expect(other).toBe(404);

    const got = await open(harness, CALL, { user: 'owner' });
    if (!('format' in got)) throw new Error('refused');
    await harness.close();
    harness = null;
    expect(await got.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(call.subscribers()).toBe(0);
  });
});
