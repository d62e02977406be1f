import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type SseItem, SseParser } from '../../sdk/node/sse-parser.js';
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

// The Python SDK's event generator (run by python3, standard library only) against a loopback server
// that speaks the events wire format.

const run = promisify(execFile);
const SDK_DIR = path.resolve('sdk/python');
const KEY = 'ak_testtesttesttesttesttest';
const pyEnv = (env: Record<string, string>) => ({ ...process.env, PYTHONPATH: SDK_DIR, ...env });

/** Runs a Python snippet with the SDK importable; it prints one JSON value on its last line. */
async function py(code: string, env: Record<string, string>) {
  const { stdout } = await run('python3', ['-c', code], { env: pyEnv(env), timeout: 25_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const asEvents = (list: WireEvent[]) => list.map((e) => ({ type: e.event, id: e.id ?? null, data: e.data }));

const COLLECT = `
import itertools, json, os
from agentline import Client, AgentlineError
c = Client(os.environ["KEY"], os.environ["URL"])
out = []
try:
    for ev in STREAM:
        out.append({"type": ev.type, "id": ev.id, "data": ev.data})
    err = None
except AgentlineError as e:
    err = [e.code, e.status]
print(json.dumps({"events": out, "error": err}))
`;
const collect = (stream: string, url: string) => py(COLLECT.replace('STREAM', stream), { KEY, URL: url });

describe('Python SDK: call_events / account_events', () => {
  it('resumes with Last-Event-ID after drops mid-message and between the terminal status and ended: every event once, then stops', async () => {
    const turn1 = CALL_HISTORY.findIndex((e) => e.id === '3.1');
    server = await startScriptedServer((c) => {
      openStream(c.res, 10);
      if (c.index === 0) {
        for (const e of CALL_HISTORY.slice(0, turn1 + 1)) c.res.write(frame(e));
        dropAfterFlush(c.res, frame(CALL_HISTORY[turn1 + 1]).slice(0, 25));
      } else if (c.index === 1) {
        const rest = [CALL_HISTORY[turn1], ...replayAfter(CALL_HISTORY, c.lastEventId)];
        for (const e of rest.slice(0, -1)) c.res.write(frame(e));
        dropAfterFlush(c.res);
      } else if (c.index === 2) {
        c.res.destroy(); // a reset before any answer: retried too
      } else {
        for (const e of replayAfter(CALL_HISTORY, c.lastEventId)) c.res.write(frame(e));
      }
    });
    const out = await collect(`c.call_events("${CALL_ID}")`, server.url);
    expect(out).toEqual({ events: asEvents(CALL_HISTORY), error: null });
    expect(server.connections.map((c) => c.lastEventId)).toEqual([null, '3.1', '3.4', '3.4']);
    expect(server.connections[0].headers).toMatchObject({
      authorization: `Bearer ${KEY}`,
      accept: 'text/event-stream',
    });
    await server.connections[3].closed;
  });

  it('reconnects after a silent connection (idle_timeout) and a 503, resuming from last_event_id', async () => {
    server = await startScriptedServer((c) => {
      if (c.index === 1) return sendJsonError(c.res, 503, 'service_unavailable');
      openStream(c.res, 1);
      const rest = replayAfter(CALL_HISTORY, c.lastEventId);
      if (c.index === 0) c.res.write(frame(rest[0]));
      else for (const e of rest) c.res.write(frame(e));
    });
    const out = await collect(
      `c.call_events("${CALL_ID}", last_event_id="1.0", idle_timeout=1.5)`,
      server.url,
    );
    expect(out.events).toEqual(asEvents(CALL_HISTORY.slice(1).filter((e) => e.event !== 'partial')));
    expect(server.connections.map((c) => c.lastEventId)).toEqual(['1.0', '2.0', '2.0']);
  });

  it('raises AgentlineError before the stream starts (404, 401, not a stream, no server) and on a refused reconnect', async () => {
    server = await startScriptedServer((c) => {
      if (c.index === 0) return sendJsonError(c.res, 404, 'not_found');
      if (c.index === 1) return sendJsonError(c.res, 401, 'unauthorized');
      if (c.index === 2) {
        c.res.writeHead(200, { 'content-type': 'application/json' });
        return c.res.end('{}');
      }
      if (c.index === 4) return sendJsonError(c.res, 401, 'unauthorized');
      openStream(c.res, 1);
      c.res.end(frame(CALL_HISTORY[0]));
    });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await collect(`c.call_events("${CALL_ID}")`, server.url));
    expect(results.map((r) => r.error)).toEqual([
      ['not_found', 404],
      ['unauthorized', 401],
      ['invalid_response', 200],
      ['unauthorized', 401],
    ]);
    expect(results[3].events).toEqual(asEvents(CALL_HISTORY.slice(0, 1)));
    expect(server.connections[4].lastEventId).toBe('1.0');
    const down = await collect('c.account_events()', 'http://127.0.0.1:9');
    expect(down.error).toEqual(['network_error', 0]);
  });

  it('waits the server’s retry before a reconnect, then backs off exponentially up to max_backoff', async () => {
    server = await startScriptedServer((c) => {
      if (c.index >= 1 && c.index <= 4) return sendJsonError(c.res, 503, 'service_unavailable');
      openStream(c.res, 1234);
      const rest = replayAfter(CALL_HISTORY, c.lastEventId);
      if (c.index === 0) dropAfterFlush(c.res, frame(rest[0]));
      else for (const e of rest) c.res.write(frame(e));
    });
    const out = await py(
      `
import json, os
from agentline import Client
from agentline.events import stream_events
waits = []
c = Client(os.environ["KEY"], os.environ["URL"])
evs = [e.type for e in stream_events(c, "/v1/agent/calls/x/events", stop_after_ended=True, max_backoff=5.0, _sleep=waits.append)]
print(json.dumps({"last": evs[-1], "waits": waits}))
`,
      { KEY, URL: server.url },
    );
    expect(out.last).toBe('ended');
    const waits = out.waits as number[];
    expect(waits).toHaveLength(5);
    expect(waits[0]).toBeCloseTo(1.234, 6);
    const bounds = [1.234 * 2, 1.234 * 4, 5, 5];
    waits.slice(1).forEach((w, i) => {
      expect(w, `wait ${i + 2}: ${waits}`).toBeGreaterThanOrEqual(bounds[i] / 2);
      expect(w, `wait ${i + 2}: ${waits}`).toBeLessThanOrEqual(bounds[i]);
    });
  });

  it('drops what a resume repeats under new ids (the account cursor is a watermark)', async () => {
    server = await startScriptedServer((c) => {
      openStream(c.res, 1);
      if (c.index === 0) dropAfterFlush(c.res, ACCOUNT_FIRST.map(frame).join(''));
      else c.res.write(ACCOUNT_RESUMED.map(frame).join(''));
    });
    const out = await collect('itertools.islice(c.account_events(), 5)', server.url);
    expect(out.events).toEqual(asEvents([...ACCOUNT_FIRST, ...ACCOUNT_RESUMED.slice(2)]));
    expect(server.connections[1].lastEventId).toBe('10.2');
  });

  it('asks before_reconnect (wait_for_call’s poll) before each reconnect, and stops when it says so', async () => {
    server = await startScriptedServer((c) => {
      openStream(c.res, 1);
      c.res.end(frame(CALL_HISTORY[0]));
    });
    const out = await py(
      `
import json, os
from agentline import Client
from agentline.events import stream_events
asked = []
def ended():
    asked.append(True)
    return len(asked) >= 2
evs = [e.id for e in stream_events(Client(os.environ["KEY"], os.environ["URL"]), "/v1/agent/events", before_reconnect=ended)]
print(json.dumps({"events": evs, "asked": len(asked)}))
`,
      { KEY, URL: server.url },
    );
    // Connection 1 gives the event, connection 2 replays nothing new (the id is known), then it stops.
    expect(out).toEqual({ events: ['1.0'], asked: 2 });
    expect(server.connections.map((c) => c.lastEventId)).toEqual([null, '1.0']);
  });

  it('`break` closes the connection while the process lives on', async () => {
    server = await startScriptedServer((c: Connection) => {
      openStream(c.res);
      c.res.write(frame(CALL_HISTORY[0]));
    });
    const child = spawn(
      'python3',
      [
        '-c',
        `
import os, sys
from agentline import Client
for ev in Client(os.environ["KEY"], os.environ["URL"]).account_events():
    print(ev.id, flush=True)
    break
sys.stdin.readline()
`,
      ],
      { env: pyEnv({ KEY, URL: server.url }), stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const first = await new Promise<string>((resolve) =>
        child.stdout.once('data', (d) => resolve(String(d))),
      );
      expect(first.trim()).toBe('1.0');
      expect(server.connections[0].path).toBe('/v1/agent/events');
      await server.connections[0].closed;
      expect(child.exitCode).toBeNull();
    } finally {
      child.stdin.end('\n');
      await exited;
    }
  });
});

describe('Python SDK: wait_for_call', () => {
  const callBody = (status: string) => JSON.stringify({ id: CALL_ID, callId: CALL_ID, status });

  it('returns as soon as the stream says ended, without waiting for the next poll', async () => {
    let ended = false;
    let gets = 0;
    let stream: Connection | undefined;
    const before = CALL_HISTORY.filter((e) => e.event !== 'ended' && !(e.event === 'status' && !e.id));
    const endWhenStreaming = () => {
      if (ended || !stream) return;
      ended = true;
      for (const e of CALL_HISTORY.slice(before.length)) stream.res.write(frame(e));
    };
    server = await startScriptedServer((c) => {
      if (c.path.endsWith('/events')) {
        openStream(c.res);
        for (const e of before) c.res.write(frame(e));
        stream = c;
        endWhenStreaming();
        return;
      }
      gets++;
      c.res.writeHead(200, { 'content-type': 'application/json' });
      c.res.end(callBody(ended ? 'completed' : 'in_progress'));
    });
    // A poll interval far beyond the test's timeout: only the stream can end this wait in time.
    const out = await py(
      `
import json, os
from agentline import Client
call = Client(os.environ["KEY"], os.environ["URL"]).wait_for_call("${CALL_ID}", timeout=3600, interval=3600)
print(json.dumps(call))
`,
      { KEY, URL: server.url },
    );
    expect(out.status).toBe('completed');
    expect(gets).toBe(2);
  });

  it('polls where the server has no event stream, and times out as before', async () => {
    let gets = 0;
    server = await startScriptedServer((c) => {
      if (c.path.endsWith('/events')) return sendJsonError(c.res, 404, 'not_found');
      if (c.path.includes('stuck')) {
        c.res.writeHead(200, { 'content-type': 'application/json' });
        return c.res.end(callBody('queued'));
      }
      gets++;
      c.res.writeHead(200, { 'content-type': 'application/json' });
      c.res.end(callBody(gets >= 3 ? 'voicemail' : 'dialing'));
    });
    const out = await py(
      `
import json, os
from agentline import Client, AgentlineError
c = Client(os.environ["KEY"], os.environ["URL"])
done = c.wait_for_call("${CALL_ID}", interval=0.01)["status"]
try:
    c.wait_for_call("stuck", timeout=0.2, interval=0.05)
    late = None
except AgentlineError as e:
    late = [e.code, e.status]
print(json.dumps({"done": done, "late": late}))
`,
      { KEY, URL: server.url },
    );
    expect(out).toEqual({ done: 'voicemail', late: ['timeout', 0] });
  });
});

describe('Python SDK: SseParser', () => {
  it('gives the Node parser’s items for random streams cut at random points', async () => {
    const line = fc.string({ unit: 'binary', maxLength: 10 }).map((s) => s.replace(/[\r\n\0]/g, ''));
    const field = fc.oneof(
      { arbitrary: line.map((d) => `data: ${d}`), weight: 4 },
      line.map((d) => `data:${d}`),
      fc.constant('data'),
      fc.stringMatching(/^[0-9]{1,3}\.[0-9]{1,3}$/).map((id) => `id: ${id}`),
      fc.constant('id'),
      fc.constantFrom('event: turn', 'event: ended', 'event:partial', 'retry: 2000', 'retry: x1'),
      line.map((c) => `:${c}`),
      { arbitrary: fc.constant(''), weight: 6 },
    );
    const stream = fc.tuple(
      fc.array(fc.tuple(field, fc.constantFrom('\n', '\r', '\r\n')), { maxLength: 25 }),
      fc.array(fc.nat(), { maxLength: 12 }),
    );
    const cases = fc.sample(stream, { numRuns: 150, seed: 42 }).map(([lines, cuts]) => {
      const bytes = Buffer.from(lines.map(([l, eol]) => l + eol).join(''), 'utf8');
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      return { b64: bytes.toString('base64'), cuts: points };
    });
    const expected = cases.map(({ b64 }) => {
      const p = new SseParser();
      const items: SseItem[] = p.feed(Buffer.from(b64, 'base64'));
      return items;
    });
    const got = await py(
      `
import base64, json, os
from agentline import SseParser
out = []
for case in json.loads(os.environ["CASES"]):
    raw = base64.b64decode(case["b64"])
    p = SseParser()
    items = []
    at = 0
    for cut in case["cuts"] + [len(raw)]:
        items += p.feed(raw[at:cut])
        at = cut
    out.append(items)
print(json.dumps(out))
`,
      { CASES: JSON.stringify(cases) },
    );
    expect(got).toEqual(expected);
    expect(expected.flat().filter((i) => i.kind === 'event').length).toBeGreaterThan(50);
  });
});
