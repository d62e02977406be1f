import { afterEach, describe, expect, it } from 'vitest';
import { AgentlineError, Client } from '../../sdk/node/agentline.js';
import {
  ACCOUNT_FIRST,
  ACCOUNT_RESUMED,
  CALL_HISTORY,
  CALL_ID,
  type Connection,
  dropAfterFlush,
  frame,
  openStream,
  replayAfter,
  type ScriptedServer,
  sendJsonError,
  startScriptedServer,
  type WireEvent,
} from './sse-test-server.js';

// The Node SDK's event iterator against a loopback server that speaks the events wire format, so each
// drop, replay and error happens exactly where the test puts it.

const KEY = 'ak_testtesttesttesttesttest';
let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const asEvents = (list: WireEvent[]) => list.map((e) => ({ type: e.event, id: e.id ?? null, data: e.data }));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('Client.callEvents', () => {
  it('resumes with Last-Event-ID after drops mid-message and between the terminal status and ended: every event once, then stops', async () => {
    const turn1 = CALL_HISTORY.findIndex((e) => e.id === '3.1');
    server = await startScriptedServer((c) => {
      openStream(c.res, 10);
      if (c.index === 0) {
        for (const e of CALL_HISTORY.slice(0, turn1 + 1)) c.res.write(frame(e));
        // Half of the next message, then the connection dies.
        dropAfterFlush(c.res, frame(CALL_HISTORY[turn1 + 1]).slice(0, 25));
      } else if (c.index === 1) {
        // A sloppy server replays the event at the cursor too; the client drops the copy.
        const rest = [CALL_HISTORY[turn1], ...replayAfter(CALL_HISTORY, c.lastEventId)];
        for (const e of rest.slice(0, -1)) c.res.write(frame(e)); // up to the terminal status, no `ended`
        dropAfterFlush(c.res);
      } else {
        for (const e of replayAfter(CALL_HISTORY, c.lastEventId)) c.res.write(frame(e));
        // Left open: the client must close it after `ended`.
      }
    });
    const client = new Client(KEY, server.url);
    const got = await collect(client.callEvents(CALL_ID));
    expect(got).toEqual(asEvents(CALL_HISTORY));
    expect(server.connections.map((c) => c.lastEventId)).toEqual([null, '3.1', '3.4']);
    expect(server.connections[0].path).toBe(`/v1/agent/calls/${CALL_ID}/events`);
    expect(server.connections[0].headers).toMatchObject({
      authorization: `Bearer ${KEY}`,
      accept: 'text/event-stream',
    });
    await server.connections[2].closed;
  });

  it('reconnects when the server ends the body early and retries a 503, from the caller’s lastEventId', async () => {
    server = await startScriptedServer((c) => {
      if (c.index === 1) return sendJsonError(c.res, 503, 'service_unavailable');
      openStream(c.res, 5);
      const rest = replayAfter(CALL_HISTORY, c.lastEventId);
      if (c.index === 0) {
        for (const e of rest.slice(0, 2)) c.res.write(frame(e));
        c.res.end();
      } else for (const e of rest) c.res.write(frame(e));
    });
    const got = await collect(new Client(KEY, server.url).callEvents(CALL_ID, { lastEventId: '1.0' }));
    const after = CALL_HISTORY.slice(1).filter((e) => e.event !== 'partial');
    expect(got).toEqual(asEvents(after));
    expect(server.connections.map((c) => c.lastEventId)).toEqual(['1.0', '3.0', '3.0']);
  });

  it('waits the server’s retry before a reconnect, then backs off exponentially up to maxBackoffMs', async () => {
    server = await startScriptedServer((c) => {
      if (c.index >= 1 && c.index <= 4) return sendJsonError(c.res, 503, 'service_unavailable');
      openStream(c.res, 1234);
      const rest = replayAfter(CALL_HISTORY, c.lastEventId);
      if (c.index === 0) dropAfterFlush(c.res, frame(rest[0]));
      else for (const e of rest) c.res.write(frame(e));
    });
    const waits: number[] = [];
    const _sleep = async (ms: number) => void waits.push(ms);
    const options = { maxBackoffMs: 5000, _sleep } as { maxBackoffMs: number };
    const got = await collect(new Client(KEY, server.url).callEvents(CALL_ID, options));
    expect(got.at(-1)?.type).toBe('ended');
    expect(waits).toHaveLength(5);
    expect(waits[0]).toBe(1234);
    const bounds = [1234 * 2, 1234 * 4, 5000, 5000];
    waits.slice(1).forEach((w, i) => {
      expect(w, `wait ${i + 2}: ${waits}`).toBeGreaterThanOrEqual(bounds[i] / 2);
      expect(w, `wait ${i + 2}: ${waits}`).toBeLessThanOrEqual(bounds[i]);
    });
  });

  it('reconnects when nothing, not even a heartbeat, arrives within idleTimeoutMs', async () => {
    server = await startScriptedServer((c) => {
      openStream(c.res, 1);
      const rest = replayAfter(CALL_HISTORY, c.lastEventId);
      if (c.index === 0) c.res.write(frame(rest[0]));
      else for (const e of rest) c.res.write(frame(e));
    });
    const got = await collect(new Client(KEY, server.url).callEvents(CALL_ID, { idleTimeoutMs: 1000 }));
    expect(got).toEqual(asEvents(CALL_HISTORY.filter((e, i) => i === 0 || e.event !== 'partial')));
    expect(server.connections[1].lastEventId).toBe('1.0');
    await server.connections[0].closed;
  });

  it('answers the API’s typed errors before the stream starts: 404, 401, a non-stream answer, no server', async () => {
    server = await startScriptedServer((c) => {
      if (c.index === 0) return sendJsonError(c.res, 404, 'not_found');
      if (c.index === 1) return sendJsonError(c.res, 401, 'unauthorized');
      c.res.writeHead(200, { 'content-type': 'application/json' });
      c.res.end('{}');
    });
    const client = new Client(KEY, server.url);
    const fail = (it: AsyncIterable<unknown>) => collect(it).catch((e) => e);
    for (const [code, status] of [
      ['not_found', 404],
      ['unauthorized', 401],
      ['invalid_response', 200],
    ] as const) {
      const err = await fail(client.callEvents(CALL_ID));
      expect(err).toBeInstanceOf(AgentlineError);
      expect([err.code, err.status]).toEqual([code, status]);
    }
    const down = await fail(new Client(KEY, 'http://127.0.0.1:9').accountEvents());
    expect([down.code, down.status]).toEqual(['network_error', 0]);
  });

  it('stops with the API error when a reconnect is refused (key revoked)', async () => {
    server = await startScriptedServer((c) => {
      if (c.index === 1) return sendJsonError(c.res, 401, 'unauthorized');
      openStream(c.res, 1);
      c.res.write(frame(CALL_HISTORY[0]));
      c.res.end();
    });
    const got: unknown[] = [];
    const err = await (async () => {
      for await (const e of new Client(KEY, server.url).callEvents(CALL_ID)) got.push(e);
    })().catch((e) => e);
    expect(got).toEqual(asEvents(CALL_HISTORY.slice(0, 1)));
    expect([err.code, err.status]).toEqual(['unauthorized', 401]);
  });
});

describe('Client.accountEvents: closing', () => {
  const liveServer = () =>
    startScriptedServer((c: Connection) => {
      openStream(c.res);
      c.res.write(frame(CALL_HISTORY[0]));
    });

  it('drops what a resume repeats under new ids (the account cursor is a watermark)', async () => {
    server = await startScriptedServer((c) => {
      openStream(c.res, 1);
      if (c.index === 0) dropAfterFlush(c.res, ACCOUNT_FIRST.map(frame).join(''));
      else c.res.write(ACCOUNT_RESUMED.map(frame).join(''));
    });
    const got: unknown[] = [];
    for await (const e of new Client(KEY, server.url).accountEvents()) {
      got.push(e);
      if (got.length === 5) break;
    }
    expect(got).toEqual(asEvents([...ACCOUNT_FIRST, ...ACCOUNT_RESUMED.slice(2)]));
    expect(server.connections[1].lastEventId).toBe('10.2');
  });

  it('`break` closes the connection and leaves no timer behind', async () => {
    server = await liveServer();
    const before = timers();
    for await (const e of new Client(KEY, server.url).accountEvents()) {
      expect(e.id).toBe('1.0');
      break;
    }
    await server.connections[0].closed;
    expect(server.connections[0].path).toBe('/v1/agent/events');
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('an aborted signal rejects the pending next() and closes the connection', async () => {
    server = await liveServer();
    const before = timers();
    const ctl = new AbortController();
    const it = new Client(KEY, server.url).accountEvents({ signal: ctl.signal });
    expect((await it.next()).value).toMatchObject({ type: 'status', id: '1.0' });
    const pending = it.next();
    ctl.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await server.connections[0].closed;
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('an abort while the caller holds an event stops before the rest of the same chunk', async () => {
    server = await startScriptedServer((c) => {
      openStream(c.res);
      c.res.write(CALL_HISTORY.map(frame).join(''));
    });
    const ctl = new AbortController();
    const got: unknown[] = [];
    const err = await (async () => {
      for await (const e of new Client(KEY, server!.url).accountEvents({ signal: ctl.signal })) {
        got.push(e);
        ctl.abort();
      }
    })().catch((e) => e);
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(got).toHaveLength(1);
    await server.connections[0].closed;
  });

  it('closes the stream also through a fetch that ignores the abort signal (as an in-process one does)', async () => {
    server = await liveServer();
    const deaf = ((input: string, init: RequestInit) =>
      fetch(input, { ...init, signal: undefined })) as typeof fetch;
    const ctl = new AbortController();
    const it = new Client(KEY, server.url, { fetch: deaf }).accountEvents({ signal: ctl.signal });
    expect((await it.next()).value).toMatchObject({ id: '1.0' });
    const pending = it.next();
    ctl.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await server.connections[0].closed;
  });

  it('an abort during the wait before a reconnect ends at once (the server asked for 10 minutes)', async () => {
    server = await startScriptedServer((c) => {
      openStream(c.res, 600_000);
      dropAfterFlush(c.res, frame(CALL_HISTORY[0]));
    });
    const before = timers();
    const ctl = new AbortController();
    const it = new Client(KEY, server.url).accountEvents({ signal: ctl.signal });
    await it.next();
    const pending = it.next();
    await server.connections[0].closed;
    ctl.abort(new Error('enough'));
    await expect(pending).rejects.toThrow('enough');
    expect(server.connections).toHaveLength(1);
    expect(timers()).toBeLessThanOrEqual(before);
  });
});

describe('Client.waitForCall', () => {
  const callBody = (status: string) => JSON.stringify({ id: CALL_ID, callId: CALL_ID, status });

  it('returns as soon as the stream says ended, without waiting for the next poll', async () => {
    let ended = false;
    let gets = 0;
    let stream: Connection | undefined;
    const before = CALL_HISTORY.filter((e) => e.event !== 'ended' && !(e.event === 'status' && !e.id));
    // The call ends once the client both streams and has seen it in progress.
    const endWhenBothArrived = () => {
      if (ended || !stream || gets < 1) return;
      ended = true;
      for (const e of CALL_HISTORY.slice(before.length)) stream.res.write(frame(e));
    };
    server = await startScriptedServer((c) => {
      if (c.path.endsWith('/events')) {
        openStream(c.res);
        for (const e of before) c.res.write(frame(e));
        stream = c;
      } else {
        gets++;
        c.res.writeHead(200, { 'content-type': 'application/json' });
        c.res.end(callBody(ended ? 'completed' : 'in_progress'));
      }
      endWhenBothArrived();
    });
    // A poll interval far beyond the test's timeout: only the stream can end this wait in time.
    const call = await new Client(KEY, server.url).waitForCall(CALL_ID, {
      intervalSeconds: 3600,
      timeoutSeconds: 3600,
    });
    expect(call.status).toBe('completed');
    expect(gets).toBe(2);
  });

  it('still polls, every streamPollSeconds, while the stream stays silent, and closes it at the end', async () => {
    let gets = 0;
    server = await startScriptedServer((c) => {
      if (c.path.endsWith('/events')) return openStream(c.res);
      gets++;
      c.res.writeHead(200, { 'content-type': 'application/json' });
      c.res.end(callBody(gets >= 3 ? 'completed' : 'in_progress'));
    });
    const call = await new Client(KEY, server.url).waitForCall(CALL_ID, {
      intervalSeconds: 0.01,
      streamPollSeconds: 0.02,
    });
    expect(call.status).toBe('completed');
    const stream = server.connections.find((c) => c.path.endsWith('/events'))!;
    await stream.closed;
  });

  it('polls where the server has no event stream (404 on the route)', async () => {
    let gets = 0;
    server = await startScriptedServer((c) => {
      if (c.path.endsWith('/events')) return sendJsonError(c.res, 404, 'not_found');
      gets++;
      c.res.writeHead(200, { 'content-type': 'application/json' });
      c.res.end(callBody(gets >= 3 ? 'no_answer' : 'dialing'));
    });
    const call = await new Client(KEY, server.url).waitForCall(CALL_ID, { intervalSeconds: 0.01 });
    expect(call.status).toBe('no_answer');
    expect(server.connections.filter((c) => c.path.endsWith('/events'))).toHaveLength(1);
  });

  it('reports an unknown call as not_found, and closes its stream on timeout', async () => {
    server = await startScriptedServer((c) => {
      if (c.path.includes('missing')) return sendJsonError(c.res, 404, 'not_found');
      if (c.path.endsWith('/events')) return openStream(c.res);
      c.res.writeHead(200, { 'content-type': 'application/json' });
      c.res.end(callBody('queued'));
    });
    const client = new Client(KEY, server.url);
    const missing = await client.waitForCall('missing').catch((e) => e);
    expect([missing.code, missing.status]).toEqual(['not_found', 404]);
    const before = timers();
    const late = await client.waitForCall(CALL_ID, { timeoutSeconds: 0.2 }).catch((e) => e);
    expect(late.code).toBe('timeout');
    const stream = server.connections.find((c) => c.path === `/v1/agent/calls/${CALL_ID}/events`)!;
    await stream.closed;
    expect(timers()).toBeLessThanOrEqual(before);
  });
});
