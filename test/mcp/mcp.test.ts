import { spawn } from 'node:child_process';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMcpHttpHandler } from '../../src/mcp/mcp-http.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

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

const call = async (c: McpClient, name: string, args: Record<string, unknown>) =>
  (await c.callTool({ name, arguments: args })) as ToolResult;

describe('MCP server', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({
      env: { CAP_CALLS_PER_MINUTE: '100', CAP_CONCURRENT_CALLS: '100' },
      tweak: (deps) => ({
        ...deps,
        extraRoutes: (app) => {
          const mcp = createMcpHttpHandler((req) => app.fetch(req));
          app.all('/mcp', (c) => mcp(c.req.raw));
        },
      }),
    });
  });
  afterAll(() => api.close());

  it('over streamable HTTP: lists the five tools and runs them with the caller key', async () => {
    const c = await connectHttp(api.url, api.key);
    try {
      const tools = (await c.listTools()).tools.map((t) => t.name).sort();
      expect(tools).toEqual(['cancel_call', 'get_call', 'list_calls', 'place_call', 'wait_for_call']);
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
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['bin/agentline.js', 'mcp'],
      env: {
        ...(process.env as Record<string, string>),
        AGENTLINE_API_KEY: api.key,
        AGENTLINE_BASE_URL: api.url,
      },
      stderr: 'pipe',
    });
    const c = new McpClient({ name: 'test', version: '1' });
    await c.connect(transport);
    try {
      const placed = await call(c, 'place_call', { to: TEST_DESTINATION, objective: 'Over stdio' });
      const got = await call(c, 'get_call', { callId: placed.structuredContent.callId });
      expect(got.structuredContent).toMatchObject({ objective: 'Over stdio', status: 'queued' });
    } finally {
      await c.close();
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
