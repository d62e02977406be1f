import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMcpHttpHandler } from '../../src/mcp/mcp-http.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

type ToolResult = { isError?: boolean; structuredContent?: any; content: { type: string; text: string }[] };

const N = (i: number) => `+1415555${5000 + i}`;

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
  const client = new McpClient({ name: 'test', version: '1' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: ['bin/agentline.js', 'mcp'],
      env: { ...(process.env as Record<string, string>), AGENTLINE_API_KEY: key, AGENTLINE_BASE_URL: url },
      stderr: 'pipe',
    }),
  );
  return client;
}

const call = async (c: McpClient, name: string, args: Record<string, unknown>) =>
  (await c.callTool({ name, arguments: args })) as ToolResult;
const errorOf = (r: ToolResult) => JSON.parse(r.content[0].text).error;

const NEW_TOOLS = [
  'add_do_not_call',
  'cancel_batch',
  'check_do_not_call',
  'create_batch',
  'get_batch',
  'pause_batch',
  'remove_do_not_call',
  'resume_batch',
];

describe('MCP: batch and do-not-call tools, and the outbound fields of place_call', () => {
  let api: TestApi;
  let c: McpClient;
  beforeAll(async () => {
    api = await startTestApi({
      env: { CAP_CALLS_PER_MINUTE: '1000', CAP_CONCURRENT_CALLS: '100' },
      tweak: (deps) => ({
        ...deps,
        extraRoutes: (app) => {
          const mcp = createMcpHttpHandler((req) => app.fetch(req));
          app.all('/mcp', (ctx) => mcp(ctx.req.raw));
        },
      }),
    });
    c = await connectHttp(api.url, api.key);
  });
  afterAll(async () => {
    await c?.close();
    await api.close();
  });

  it('lists the new tools with described inputs, output schemas and fitting annotations', async () => {
    const { tools } = await c.listTools();
    const tool = Object.fromEntries(tools.map((t) => [t.name, t]));
    for (const name of NEW_TOOLS) {
      expect(tool[name], name).toBeDefined();
      expect(tool[name].outputSchema?.type, name).toBe('object');
      for (const [field, schema] of Object.entries(tool[name].inputSchema.properties ?? {}))
        expect((schema as { description?: string }).description, `${name}.${field}`).toBeTruthy();
    }
    for (const name of ['get_batch', 'check_do_not_call'])
      expect(tool[name].annotations, name).toMatchObject({ readOnlyHint: true });
    for (const name of ['cancel_batch', 'remove_do_not_call'])
      expect(tool[name].annotations, name).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    const place = tool.place_call.inputSchema.properties as Record<string, { description: string }>;
    for (const field of ['callWindow', 'startAt', 'expiresAt', 'retry'])
      expect(place[field], field).toBeDefined();
    expect(place.callWindow.description).toContain('local time');
    expect(place.retry.description).toContain('attempts');
    const create = tool.create_batch.inputSchema.properties as Record<string, { description: string }>;
    expect(create.rows.description).toContain('10000');
    expect(create.template.description).toContain('variable');
  });

  it('creates a batch, reads it, pauses, resumes and cancels it; an ended batch is an error', async () => {
    const created = await call(c, 'create_batch', {
      name: 'mcp batch',
      template: { objective: 'Ask {{name}} about {{topic}}' },
      rows: [
        { to: N(1), variables: { name: 'Ada', topic: 'lunch' } },
        { to: N(2), variables: { name: 'Bo' } },
        { to: N(3), variables: { name: 'Cy', topic: 'dinner' } },
      ],
      concurrency: 1,
    });
    expect(created.isError).toBeFalsy();
    const res = created.structuredContent;
    expect(res).toMatchObject({ totalRows: 3, acceptedRows: 2, refusedRows: 1 });
    expect(res.refused[0]).toMatchObject({ row: 2, code: 'invalid_request' });
    expect(created.content[0].text).toContain('1 of 3 rows were refused');

    const got = await call(c, 'get_batch', { batchId: res.batchId, limit: 1 });
    expect(got.structuredContent).toMatchObject({
      batchId: res.batchId,
      name: 'mcp batch',
      status: 'running',
      progress: { ended: 0, total: 2 },
    });
    expect(got.structuredContent.calls).toEqual([
      expect.objectContaining({ row: 1, to: N(1), status: 'queued' }),
    ]);
    const next = await call(c, 'get_batch', {
      batchId: res.batchId,
      cursor: got.structuredContent.nextCursor,
    });
    expect(next.structuredContent.calls.map((x: { row: number }) => x.row)).toEqual([3]);
    const first = await call(c, 'get_call', { callId: res.accepted[0].callId });
    expect(first.structuredContent).toMatchObject({ objective: 'Ask Ada about lunch', batchId: res.batchId });

    expect((await call(c, 'pause_batch', { batchId: res.batchId })).structuredContent.status).toBe('paused');
    expect((await call(c, 'resume_batch', { batchId: res.batchId })).structuredContent.status).toBe(
      'running',
    );
    expect((await call(c, 'cancel_batch', { batchId: res.batchId })).structuredContent.status).toBe(
      'canceled',
    );
    const after = await call(c, 'get_batch', { batchId: res.batchId });
    for (const x of after.structuredContent.calls)
      expect(x).toMatchObject({ status: 'failed', endedReason: 'canceled' });
    const again = await call(c, 'pause_batch', { batchId: res.batchId });
    expect(again.isError).toBe(true);
    expect(errorOf(again)).toMatchObject({ code: 'batch_already_ended', status: 409 });
    const missing = await call(c, 'get_batch', { batchId: '00000000-0000-4000-8000-000000000000' });
    expect(errorOf(missing)).toMatchObject({ code: 'not_found', status: 404 });
  });

  it('create_batch takes CSV text and replays an idempotency key; every row refused is an error with the rows', async () => {
    const args = {
      template: { objective: 'Confirm {{what}}' },
      csv: `to,what,metadata.ref\n${N(10)},the order,A1\n`,
      idempotencyKey: 'mcp-batch-key-1',
    };
    const a = await call(c, 'create_batch', args);
    const b = await call(c, 'create_batch', args);
    expect(a.structuredContent.acceptedRows).toBe(1);
    expect(b.structuredContent.batchId).toBe(a.structuredContent.batchId);
    const bad = await call(c, 'create_batch', { template: { objective: 'x' }, rows: [{ to: '+999' }] });
    expect(bad.isError).toBe(true);
    const e = errorOf(bad);
    expect(e).toMatchObject({ code: 'invalid_request', status: 422 });
    expect(e.details.refused[0]).toMatchObject({ row: 1, code: 'invalid_number' });
  });

  it('adds, checks and removes do-not-call numbers; place_call to a listed number is refused', async () => {
    const added = await call(c, 'add_do_not_call', { numbers: [N(20), N(21)], note: 'asked' });
    expect(added.structuredContent).toMatchObject({ added: 2, alreadyListed: 0, invalid: [] });
    const checked = await call(c, 'check_do_not_call', { number: N(20) });
    expect(checked.structuredContent).toMatchObject({ number: N(20), listed: true, list: 'account' });
    const blocked = await call(c, 'place_call', { to: N(20), objective: 'No' });
    expect(errorOf(blocked)).toMatchObject({
      code: 'destination_blocked',
      status: 422,
      details: { category: 'do_not_call', list: 'account' },
    });
    const batch = await call(c, 'create_batch', {
      template: { objective: 'Hi' },
      rows: [{ to: N(21) }, { to: N(22) }],
    });
    expect(batch.structuredContent.refused).toEqual([
      expect.objectContaining({
        row: 1,
        code: 'destination_blocked',
        details: expect.objectContaining({ category: 'do_not_call' }),
      }),
    ]);
    const removed = await call(c, 'remove_do_not_call', { number: N(20) });
    expect(removed.structuredContent).toEqual({ number: N(20), removed: true });
    expect((await call(c, 'check_do_not_call', { number: N(20) })).structuredContent.listed).toBe(false);
    const twice = await call(c, 'remove_do_not_call', { number: N(20) });
    expect(errorOf(twice)).toMatchObject({ code: 'not_found', status: 404 });
    const malformed = await call(c, 'check_do_not_call', { number: '415 555 0100' });
    expect(errorOf(malformed)).toMatchObject({ code: 'invalid_number', status: 422 });
  });

  it('place_call carries callWindow, startAt, expiresAt and retry to the call, over stdio too', async () => {
    const stdio = await connectStdio(api.url, api.key);
    try {
      const startAt = new Date(Date.now() + 7_200_000);
      startAt.setUTCSeconds(0, 0);
      for (const client of [c, stdio]) {
        const placed = await call(client, 'place_call', {
          to: TEST_DESTINATION,
          objective: 'Scheduled',
          callWindow: {
            start: '00:00',
            end: '00:00',
            days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
          },
          startAt: startAt.toISOString(),
          expiresAt: new Date(startAt.getTime() + 3_600_000).toISOString(),
          retry: { maxAttempts: 2, delaySeconds: 300 },
        });
        expect(placed.isError).toBeFalsy();
        expect(Date.parse(placed.structuredContent.scheduledFor)).toBe(startAt.getTime());
        const got = await call(client, 'get_call', { callId: placed.structuredContent.callId });
        expect(got.structuredContent).toMatchObject({
          retryPolicy: { maxAttempts: 2, delaySeconds: 300 },
          callWindow: { start: '00:00', end: '00:00' },
        });
        expect(Date.parse(got.structuredContent.startAt)).toBe(startAt.getTime());
      }
      const bad = await call(c, 'place_call', {
        to: TEST_DESTINATION,
        objective: 'x',
        retry: { maxAttempts: 2, delaySeconds: 300, on: ['declined/rejected'] },
      });
      expect(errorOf(bad)).toMatchObject({ code: 'invalid_request', status: 400 });
    } finally {
      await stdio.close();
    }
  });
});
