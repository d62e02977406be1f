import { spawn } from 'node:child_process';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { DEFAULT_REQUEST_TIMEOUT_MSEC } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calls } from '../../src/db/schema.js';
import { createMcpHttpHandler } from '../../src/mcp/mcp-http.js';
import { WAIT_DEFAULT_SECONDS } from '../../src/mcp/tool-schemas.js';
import {
  type StartTestApiOptions,
  startTestApi,
  TEST_DESTINATION,
  type TestApi,
} from '../helpers/api-fixtures.js';

type ToolResult = { isError?: boolean; structuredContent?: any; content: { type: string; text: string }[] };

async function connectHttp(url: string, key: string) {
  const client = new McpClient({ name: 'test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

async function connectStdio(url: string, key: string) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['bin/agentline.js', 'mcp'],
    env: { ...(process.env as Record<string, string>), AGENTLINE_API_KEY: key, AGENTLINE_BASE_URL: url },
    stderr: 'pipe',
  });
  const client = new McpClient({ name: 'test', version: '1' });
  await client.connect(transport);
  return client;
}

const call = async (c: McpClient, name: string, args: Record<string, unknown>) =>
  (await c.callTool({ name, arguments: args })) as ToolResult;

/** The real API with /mcp mounted as src/main.ts mounts it. */
const startMcpApi = (opts: StartTestApiOptions = {}) =>
  startTestApi({
    ...opts,
    env: { CAP_CALLS_PER_MINUTE: '100', CAP_CONCURRENT_CALLS: '100', ...opts.env },
    tweak: (deps) => ({
      ...deps,
      extraRoutes: (app) => {
        const mcp = createMcpHttpHandler((req) => app.fetch(req));
        app.all('/mcp', (c) => mcp(c.req.raw));
      },
    }),
  });

describe('MCP server', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startMcpApi();
  });
  afterAll(() => api.close());

  it('over streamable HTTP: lists the five call tools (and the outbound ones) and runs them with the caller key', async () => {
    const c = await connectHttp(api.url, api.key);
    try {
      const tools = (await c.listTools()).tools.map((t) => t.name).sort();
      // The batch and do-not-call tools are tested in mcp-outbound.test.ts.
      expect(tools).toEqual([
        'add_do_not_call',
        'cancel_batch',
        'cancel_call',
        'check_do_not_call',
        'create_batch',
        'get_batch',
        'get_call',
        'list_calls',
        'pause_batch',
        'place_call',
        'remove_do_not_call',
        'resume_batch',
        'wait_for_call',
      ]);
      const placed = await call(c, 'place_call', {
        to: TEST_DESTINATION,
        objective: 'Confirm the delivery slot',
      });
      expect(placed.isError).toBeFalsy();
      const callId = placed.structuredContent.callId;
      expect((await call(c, 'get_call', { callId })).structuredContent).toMatchObject({
        callId,
        status: 'queued',
      });
      const listed = await call(c, 'list_calls', { limit: 10 });
      expect(listed.structuredContent.calls.map((x: any) => x.callId)).toContain(callId);
      expect((await call(c, 'cancel_call', { callId })).structuredContent).toMatchObject({
        status: 'failed',
      });
      const waited = await call(c, 'wait_for_call', { callId, timeoutSeconds: 5, intervalSeconds: 0.1 });
      expect(waited.structuredContent).toMatchObject({ status: 'failed', endedReason: 'canceled' });
    } finally {
      await c.close();
    }
  });

  it('returns API errors as tool errors with the spec code', async () => {
    const c = await connectHttp(api.url, api.key);
    try {
      const bad = await call(c, 'place_call', { to: '+999', objective: 'x' });
      expect(bad.isError).toBe(true);
      expect(JSON.parse(bad.content[0].text).error.code).toMatch(/invalid_request|invalid_number/);
      const again = await call(c, 'cancel_call', { callId: '00000000-0000-4000-8000-000000000000' });
      expect(JSON.parse(again.content[0].text).error).toMatchObject({ code: 'not_found', status: 404 });
    } finally {
      await c.close();
    }
  });

  it('refuses a missing or unknown key with 401', async () => {
    const none = await fetch(`${api.url}/mcp`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    await expect(connectHttp(api.url, 'ak_unknownunknownunknownunknown')).rejects.toThrow();
  });

  it('over stdio (npx agentline mcp): the same tools against the HTTP API', async () => {
    const c = await connectStdio(api.url, api.key);
    try {
      const placed = await call(c, 'place_call', { to: TEST_DESTINATION, objective: 'Over stdio' });
      const got = await call(c, 'get_call', { callId: placed.structuredContent.callId });
      expect(got.structuredContent).toMatchObject({ objective: 'Over stdio', status: 'queued' });
    } finally {
      await c.close();
    }
  });

  it('describes every tool for a model: each input with its limits, an output schema and annotations', async () => {
    const c = await connectHttp(api.url, api.key);
    try {
      const { tools } = await c.listTools();
      for (const t of tools) {
        expect(t.outputSchema?.type, t.name).toBe('object');
        for (const [field, schema] of Object.entries(t.inputSchema.properties ?? {}))
          expect((schema as { description?: string }).description, `${t.name}.${field}`).toBeTruthy();
      }
      const tool = Object.fromEntries(tools.map((t) => [t.name, t]));
      for (const name of ['get_call', 'list_calls', 'wait_for_call'])
        expect(tool[name].annotations, name).toMatchObject({ readOnlyHint: true, idempotentHint: true });
      expect(tool.cancel_call.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
      expect(tool.place_call.annotations).toMatchObject({ readOnlyHint: false, idempotentHint: false });
      const place = tool.place_call.inputSchema.properties as Record<string, { description: string }>;
      expect(place.objective.description).toContain('1–2000 characters');
      expect(place.maxDurationSeconds.description).toContain('30–3600');
      expect(place.to.description).toContain('E.164');
      const wait = tool.wait_for_call.inputSchema.properties as Record<string, { description: string }>;
      expect(wait.timeoutSeconds.description).toContain(`default ${WAIT_DEFAULT_SECONDS}`);
      expect(tool.wait_for_call.outputSchema?.properties).toHaveProperty('done');
    } finally {
      await c.close();
    }
  });

  it('list_calls takes the same comma list of statuses as REST', async () => {
    const c = await connectHttp(api.url, api.key);
    try {
      const place = async () =>
        (await call(c, 'place_call', { to: TEST_DESTINATION, objective: 'Status filter' })).structuredContent
          .callId as string;
      const queued = await place();
      const canceled = await place();
      await call(c, 'cancel_call', { callId: canceled });
      const ids = async (status: string) =>
        (await call(c, 'list_calls', { status, limit: 100 })).structuredContent.calls.map(
          (x: { callId: string }) => x.callId,
        );
      const failed = await ids('failed');
      expect(failed).toContain(canceled);
      expect(failed).not.toContain(queued);
      const both = await ids('queued, failed');
      expect(both).toEqual(expect.arrayContaining([queued, canceled]));
      const rest = (await (await api.request('/v1/agent/calls?status=queued,failed&limit=100')).json()) as {
        calls: { callId: string }[];
      };
      expect(both).toEqual(rest.calls.map((x) => x.callId));
      expect((await call(c, 'list_calls', { status: 'queued,ringing' })).isError).toBe(true);
    } finally {
      await c.close();
    }
  });

  it('answers recordingUrl with the public URL over /mcp, as REST does', async () => {
    const other = await startMcpApi({ db: api.db, env: { PUBLIC_BASE_URL: 'https://calls.example.com/' } });
    try {
      for (const [server, base] of [
        [api, api.url],
        [other, 'https://calls.example.com'],
      ] as const) {
        const c = await connectHttp(server.url, server.key);
        try {
          const placed = await call(c, 'place_call', { to: TEST_DESTINATION, objective: 'Recorded' });
          const callId = placed.structuredContent.callId as string;
          await api.db.db
            .update(calls)
            .set({ recordingFile: `${callId}.wav` })
            .where(eq(calls.id, callId));
          const rest = (await (await server.request(`/v1/agent/calls/${callId}`)).json()) as {
            recordingUrl: string;
          };
          const got = await call(c, 'get_call', { callId });
          expect(got.structuredContent.recordingUrl).toBe(`${base}/v1/agent/calls/${callId}/recording`);
          expect(got.structuredContent.recordingUrl).toBe(rest.recordingUrl);
        } finally {
          await c.close();
        }
      }
    } finally {
      await other.close();
    }
  });

  it("wait_for_call returns the call as it stands, done: false, inside the official client's default timeout", {
    timeout: 180_000,
  }, async () => {
    // The call is never dialled (no worker): it outlasts any wait, as a long real call would.
    expect(WAIT_DEFAULT_SECONDS * 1000).toBeLessThan(DEFAULT_REQUEST_TIMEOUT_MSEC);
    const overHttp = await connectHttp(api.url, api.key);
    const overStdio = await connectStdio(api.url, api.key);
    try {
      const placed = await call(overHttp, 'place_call', { to: TEST_DESTINATION, objective: 'Long call' });
      const callId = placed.structuredContent.callId as string;
      // Default client options (60 s timeout, no progress token); over stdio the model asks for more
      // than a silent request may take, and the wait stays inside the default anyway.
      const results = await Promise.all([
        call(overHttp, 'wait_for_call', { callId }),
        call(overStdio, 'wait_for_call', { callId, timeoutSeconds: 120 }),
      ]);
      for (const r of results) {
        expect(r.isError).toBeFalsy();
        expect(r.structuredContent).toMatchObject({ callId, status: 'queued', done: false });
        expect(r.content[0].text).toContain('call wait_for_call again');
      }
    } finally {
      await Promise.all([overHttp.close(), overStdio.close()]);
    }
  });

  it('wait_for_call sends progress (status changes and heartbeats) and ends done: true with the call', {
    timeout: 120_000,
  }, async () => {
    const overHttp = await connectHttp(api.url, api.key);
    const overStdio = await connectStdio(api.url, api.key);
    try {
      await Promise.all(
        [overHttp, overStdio].map(async (c) => {
          const placed = await call(c, 'place_call', { to: TEST_DESTINATION, objective: 'Progress' });
          const callId = placed.structuredContent.callId as string;
          const seen: Progress[] = [];
          const heard = new Map<string, () => void>();
          const hear = (text: string) => new Promise<void>((r) => heard.set(text, r));
          const heartbeat = hear('call still queued');
          const dialing = hear('call dialing');
          const waiting = c.callTool(
            { name: 'wait_for_call', arguments: { callId, timeoutSeconds: 120, intervalSeconds: 0.2 } },
            undefined,
            {
              resetTimeoutOnProgress: true,
              onprogress: (p) => {
                seen.push(p);
                for (const [text, resolve] of heard) if (p.message?.startsWith(text)) resolve();
              },
            },
          ) as Promise<ToolResult>;
          // The worker's side of the call, written as the worker writes it. (The last notification, for
          // the terminal status, may reach the client after the result, which ends its progress handler.)
          await heartbeat;
          expect((await api.deps.calls.transition(callId, 'dialing')).ok).toBe(true);
          await dialing;
          const ended = await api.deps.calls.transition(callId, 'no_answer', { reason: 'no_answer_timeout' });
          expect(ended.ok).toBe(true);
          const r = await waiting;
          expect(r.structuredContent).toMatchObject({ callId, status: 'no_answer', done: true });
          expect(seen[0]).toMatchObject({ message: 'call queued', total: 120 });
          for (let i = 1; i < seen.length; i++)
            expect(seen[i].progress).toBeGreaterThan(seen[i - 1].progress);
        }),
      );
    } finally {
      await Promise.all([overHttp.close(), overStdio.close()]);
    }
  });

  it('stdio refuses to start without AGENTLINE_API_KEY', async () => {
    const env = { ...process.env };
    delete env.AGENTLINE_API_KEY;
    const child = spawn(process.execPath, ['bin/agentline.js', 'mcp'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).not.toBe(0);
    expect(err).toContain('AGENTLINE_API_KEY');
  });
});
