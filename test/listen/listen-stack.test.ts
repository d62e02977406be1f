import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { isTerminal } from '../../src/calls/status.js';
import { LISTEN_CLOSE, listenUrlPath } from '../../src/dashboard/routes/listen.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { addConsoleUser, type ConsoleUser, startStackConsole } from '../dashboard/helpers/console.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';

// The whole product (startAgentline({ role: 'all' }) with the simulated PBX and this box's engines):
// a signed-in browser session listens to a live call over the dashboard's WebSocket.

const CALLEE = '+14155550177';
/** Talks without a pause for a couple of minutes (no punctuation: flite does not stop), never hangs up. */
const talkingCallee = {
  number: CALLEE,
  description: 'A callee who reads numbers aloud without a pause.',
  outcome: 'answer',
  ringSeconds: 0,
  transcribe: false,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
  states: {
    start: {
      say: Array.from({ length: 40 }, () => 'one two three four five six seven eight nine ten').join(' '),
    },
  },
};
const usePostgres = Boolean(process.env.DATABASE_URL);

let dir: string;
let stack: Awaited<ReturnType<typeof startStackConsole>>;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-listen-'));
  await fs.mkdir(path.join(dir, 'models'));
  await fs.mkdir(path.join(dir, 'scenarios'));
  await fs.writeFile(path.join(dir, 'scenarios', 'talking.json'), JSON.stringify(talkingCallee));
  await writeSyntheticGguf(path.join(dir, 'models', 'tiny.gguf'), { shape: 'tiny', seed: 7 });
  stack = await startStackConsole({
    env: {
      ...TEST_CALL_WINDOW,
      // As the rest of the suite (vitest.config.ts): test/worker/auto-capacity.test.ts covers auto.
      WORKER_CONCURRENCY: '4',
      MODELS_DIR: path.join(dir, 'models'),
      SCENARIOS_DIR: path.join(dir, 'scenarios'),
    },
  });
}, 180_000);
afterAll(async () => {
  await stack?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
}, 120_000);

function api(pathname: string, init: RequestInit = {}) {
  return fetch(`${stack.url}${pathname}`, {
    ...init,
    headers: { Authorization: `Bearer ${stack.key}`, 'Content-Type': 'application/json', ...init.headers },
  });
}

async function callView(id: string): Promise<Record<string, any>> {
  const res = await api(`/v1/agent/calls/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>;
}

/** The session cookie a browser gets from the sign-in form. */
async function signedInCookie(user: ConsoleUser): Promise<string> {
  const form = await fetch(`${stack.url}/sign-in`);
  const csrfCookie = (form.headers.get('set-cookie') ?? '').split(';')[0];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1];
  expect(csrf, 'the sign-in form carries a CSRF token').toBeTruthy();
  const res = await fetch(`${stack.url}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Cookie: csrfCookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf!, email: user.email, password: user.password, next: '/calls' }),
  });
  expect([302, 303]).toContain(res.status);
  const session = res.headers.getSetCookie().find((c) => c.startsWith('agentline_session='));
  expect(session, 'sign-in set the session cookie').toBeTruthy();
  return session!.split(';')[0];
}

interface Listening {
  ws: WebSocket;
  format: Record<string, unknown> | null;
  frames: Buffer[];
  closed: Promise<{ code: number; reason: string }>;
  refused: number | null;
}

/** Opens the listen socket as the dashboard's page does: same Origin, the session cookie. */
function listen(callId: string, cookie: string | null): Promise<Listening> {
  const headers: Record<string, string> = { Origin: stack.url };
  if (cookie) headers.Cookie = cookie;
  const ws = new WebSocket(`${stack.url.replace('http', 'ws')}${listenUrlPath(callId)}`, { headers });
  const got: Listening = {
    ws,
    format: null,
    frames: [],
    refused: null,
    closed: new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
    ),
  };
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => {
      got.refused = res.statusCode ?? 0;
      res.resume();
      resolve(got);
    });
    ws.on('message', (data, binary) => {
      if (binary) got.frames.push(data as Buffer);
      else {
        got.format = JSON.parse(String(data));
        resolve(got);
      }
    });
    void got.closed.then(() => resolve(got));
  });
}

const rms = (frame: Buffer) => {
  let e = 0;
  for (let i = 0; i + 1 < frame.length; i += 2) e += frame.readInt16LE(i) ** 2;
  return Math.sqrt(e / (frame.length / 2));
};

describe('live listen on the whole stack', () => {
  it('streams a live call to a signed-in user of its account, notes it, refuses others, and closes when the call ends', async () => {
    const res = await api('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: CALLEE, objective: 'Listen to the numbers.', maxDurationSeconds: 120 }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { callId } = (await res.json()) as { callId: string };
    const cookie = await signedInCookie(stack.owner);

    // Answered: the status says in_progress, and the media path is up a moment later.
    let listening: Listening | null = null;
    await vi.waitFor(
      async () => {
        const call = await callView(callId);
        if (isTerminal(call.status))
          throw new Error(`the call ended before it was heard: ${call.endedReason}`);
        const attempt = await listen(callId, cookie);
        if (!attempt.format) {
          attempt.ws.terminate();
          throw new Error(`not listening yet: ${JSON.stringify(await attempt.closed)}`);
        }
        listening = attempt;
      },
      { timeout: 90_000, interval: 250 },
    );
    const heard = listening as unknown as Listening;
    // chan_websocket carries slin16: the mix is 16 kHz mono.
    expect(heard.format).toEqual({
      type: 'format',
      callId,
      sampleRate: 16000,
      channels: 1,
      encoding: 's16le',
    });
    await vi.waitFor(
      () =>
        expect(
          heard.frames.some((f) => rms(f) > 300),
          `${heard.frames.length} frames, loudest ${Math.max(0, ...heard.frames.map(rms))}`,
        ).toBe(true),
      { timeout: 60_000 },
    );
    expect(heard.frames.every((f) => f.length === 640)).toBe(true);

    // The listening is on the call's record (its timeline and event stream).
    await vi.waitFor(
      async () =>
        expect((await callView(callId)).events.map((e: { reason: string }) => e.reason)).toContain(
          `listen_started: ${stack.owner.email}`,
        ),
      { timeout: 30_000, interval: 250 },
    );

    // Nobody else hears it: no session, or a user of another account.
    expect((await listen(callId, null)).refused).toBe(401);
    if (usePostgres) {
      const accounts = new AccountService(stack.db, SecretBox.fromKey(stack.app.config.SECRET_KEY!));
      const other = await accounts.createAccount('elsewhere');
      const stranger = await addConsoleUser(stack.db, other.accountId, { role: 'owner' });
      expect((await listen(callId, await signedInCookie(stranger))).refused).toBe(404);
    }

    // The call ends: the socket closes with the reason, and the stop is noted.
    const cancel = await api(`/v1/agent/calls/${callId}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    expect(await heard.closed).toEqual({ code: LISTEN_CLOSE.ended, reason: 'call ended' });
    await vi.waitFor(
      async () =>
        expect((await callView(callId)).events.map((e: { reason: string }) => e.reason)).toContain(
          `listen_stopped: ${stack.owner.email}`,
        ),
      { timeout: 30_000, interval: 250 },
    );
    // The start is an event of the call's live stream too (replayed from the start, closed after `ended`;
    // the stop of a listener that the call's end closed is stored after that, so only the timeline has it).
    const stream = await api(`/v1/agent/calls/${callId}/events`, { signal: AbortSignal.timeout(90_000) });
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const notes = (await stream.text())
      .split('\n\n')
      .filter((m) => m.includes('event: note'))
      .map((m) => JSON.parse(m.slice(m.indexOf('data: ') + 6)).reason);
    expect(notes).toContain(`listen_started: ${stack.owner.email}`);

    const after = await listen(callId, cookie);
    expect(after.format).toBeNull();
    expect(await after.closed).toEqual({ code: LISTEN_CLOSE.notLive, reason: 'the call is not live' });
  }, 180_000);
});
