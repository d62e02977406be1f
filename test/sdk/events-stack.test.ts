import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallStreamEvent, Client } from '../../sdk/node/agentline.js';
import { isTerminal } from '../../src/calls/status.js';
import { type Agentline, startAgentline } from '../../src/main.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

// The SDKs' event iterators and MCP's wait_for_call against the real events routes: the whole product
// (startAgentline, role all) with the simulated PBX and this box's engines runs a real call.

const run = promisify(execFile);
const CALLEE = '+14155550195';
/** Greets, then listens without a word: the agent ends the call, so it has turns of both parties. */
const listeningCallee = {
  number: CALLEE,
  description: 'A shop assistant who greets, then only listens.',
  outcome: 'answer',
  ringSeconds: 0,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
  states: { start: { say: 'Hello, thank you for calling the corner shop. How can I help you today?' } },
};

let dir: string;
let tdb: TestDatabase | null = null;
let app: Agentline;
let key: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-sdk-events-'));
  const modelsDir = path.join(dir, 'models');
  const scenariosDir = path.join(dir, 'scenarios');
  await fs.mkdir(modelsDir);
  await fs.mkdir(scenariosDir);
  await fs.writeFile(path.join(scenariosDir, 'listening-callee.json'), JSON.stringify(listeningCallee));
  await writeSyntheticGguf(path.join(modelsDir, 'tiny.gguf'), { shape: 'tiny', seed: 7 });
  if (process.env.DATABASE_URL) tdb = await createTestDatabase();
  const dataDir = path.join(dir, 'data');
  app = await startAgentline({
    role: 'all',
    env: {
      ...TEST_CALL_WINDOW,
      WORKER_CONCURRENCY: '4',
      MODELS_DIR: modelsDir,
      MODELS_AUTO_FETCH: 'false',
      SCENARIOS_DIR: scenariosDir,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      ...(tdb?.url ? { DATABASE_URL: tdb.url } : {}),
    },
  });
  key = (JSON.parse(await fs.readFile(path.join(dataDir, 'first-api-key.json'), 'utf8')) as { key: string })
    .key;
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await tdb?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
}, 60_000);

/** Python's call_events and wait_for_call on the same call, in one process; prints one JSON object. */
function pythonFollows(callId: string) {
  const code = `
import json, os
from agentline import Client
c = Client(os.environ["KEY"], os.environ["URL"])
events = [{"type": e.type, "id": e.id, "data": e.data} for e in c.call_events(os.environ["CALL"])]
call = c.wait_for_call(os.environ["CALL"], timeout=30, interval=30)
print(json.dumps({"events": events, "call": call}))
`;
  return run('python3', ['-c', code], {
    env: { ...process.env, PYTHONPATH: path.resolve('sdk/python'), KEY: key, URL: app.url!, CALL: callId },
    timeout: 170_000,
    maxBuffer: 16 * 1024 * 1024,
  }).then(({ stdout }) => JSON.parse(stdout.trim().split('\n').pop()!));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

type Stored = { speaker: string; text: string };
type Seen = { type: string; id: string | null; data: any };

/** Every stored turn once and in order, each status change up to the end, and `ended` last. */
function expectWholeCall(
  events: Seen[],
  call: { callId: string; status: string; turns: Stored[] },
  who: string,
) {
  const context = `${who}: ${events.map((e) => e.type).join(' ')}`;
  expect(events.at(-1)?.type, context).toBe('ended');
  expect(events.at(-1)?.data, context).toMatchObject({ callId: call.callId, status: call.status });
  const turns = events
    .filter((e) => e.type === 'turn')
    .map((e) => ({ speaker: e.data.speaker, text: e.data.text }));
  expect(turns, context).toEqual(call.turns.map((t) => ({ speaker: t.speaker, text: t.text })));
  const statuses = events.filter((e) => e.type === 'status').map((e) => e.data.to);
  expect(statuses, context).toEqual(expect.arrayContaining(['dialing', 'in_progress', call.status]));
  expect(new Set(statuses).size, context).toBe(statuses.length);
  const ids = events.map((e) => e.id).filter((id) => id !== null);
  expect(new Set(ids).size, context).toBe(ids.length);
  expect(
    events.every((e) => e.data.callId === call.callId),
    context,
  ).toBe(true);
}

describe('SDKs and MCP on the live events of a real call', () => {
  it('the Node iterator and the Python generator see every turn and ended; waitForCall and MCP wait_for_call return the final call', async () => {
    const client = new Client(key, app.url!);
    const accountCtl = new AbortController();
    const accountSeen: CallStreamEvent[] = [];
    const account = (async () => {
      for await (const e of client.accountEvents({ signal: accountCtl.signal })) {
        accountSeen.push(e);
        if (e.type === 'ended') return;
      }
    })();
    const { callId } = await client.placeCall({
      to: CALLEE,
      objective: 'Ask whether the shop is open today.',
      maxDurationSeconds: 30,
    });

    const mcp = new McpClient({ name: 'sdk-events-test', version: '1' });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(`${app.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    const progress: Progress[] = [];
    try {
      const [nodeEvents, pythonOut, waited, mcpResult] = await Promise.all([
        collect(client.callEvents(callId)),
        pythonFollows(callId),
        // A poll interval beyond the test's limit: the stream ends this wait.
        client.waitForCall(callId, { timeoutSeconds: 170, intervalSeconds: 600 }),
        mcp.callTool(
          { name: 'wait_for_call', arguments: { callId, timeoutSeconds: 170, intervalSeconds: 60 } },
          undefined,
          { resetTimeoutOnProgress: true, timeout: 175_000, onprogress: (p) => void progress.push(p) },
        ) as Promise<{ structuredContent?: any; isError?: boolean }>,
      ]);
      await account;

      const call = await client.getCall(callId);
      expect(isTerminal(call.status as never), call.status).toBe(true);
      expect(call.turns.length).toBeGreaterThan(0);
      expectWholeCall(nodeEvents as Seen[], call, 'node');
      expectWholeCall(pythonOut.events, call, 'python');
      expect(pythonOut.call).toMatchObject({ callId, status: call.status, endedReason: call.endedReason });
      expect(waited).toMatchObject({ callId, status: call.status, endedReason: call.endedReason });
      expect(mcpResult.isError, JSON.stringify(mcpResult)).toBeFalsy();
      expect(mcpResult.structuredContent).toMatchObject({
        callId,
        done: true,
        status: call.status,
        summary: call.summary,
      });
      // MCP progress told the turns as they were stored (only the event stream tells turns).
      const told = progress.map((p) => p.message ?? '');
      for (const t of call.turns) {
        const start = `${t.speaker}: ${t.text.slice(0, 200)}`;
        expect(
          told.some((m) => m.startsWith(start)),
          `${start}\n--- told:\n${told.join('\n')}`,
        ).toBe(true);
      }
      // The account stream saw this call end too.
      expect(accountSeen.some((e) => e.type === 'ended' && e.data.callId === callId)).toBe(true);
    } finally {
      accountCtl.abort();
      await account.catch(() => {});
      await mcp.close();
    }
  }, 180_000);
});
