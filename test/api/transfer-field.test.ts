import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../sdk/node/agentline.js';
import { createMcpHttpHandler } from '../../src/mcp/mcp-http.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// The `transfer` extension of POST /v1/agent/calls: validation (400 naming the field, 422 for a
// number the guardrails refuse), storage and the call view, and the same field through MCP and the SDKs.

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
afterAll(async () => {
  await api?.close();
});

const base = { to: TEST_DESTINATION, objective: 'Ask whether the shop is open on Sunday.' };
const post = (body: unknown) =>
  api.request('/v1/agent/calls', { method: 'POST', body: JSON.stringify(body) });

async function errorOf(res: Response, status: number) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return (JSON.parse(text) as { error: { code: string; message: string; details: any } }).error;
}

async function getCall(id: string) {
  const res = await api.request(`/v1/agent/calls/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>;
}

describe('transfer on POST /v1/agent/calls', () => {
  it('stores an E.164 target with its defaults and shows it on the call', async () => {
    const res = await post({ ...base, transfer: { to: '+14155550120' } });
    expect(res.status).toBe(201);
    const { callId } = (await res.json()) as { callId: string };
    const call = await getCall(callId);
    expect(call.transfer).toEqual({
      to: '+14155550120',
      mode: 'cold',
      when: 'the callee asks to speak with a person',
    });
  });

  it('stores a SIP target, warm mode and a trimmed condition', async () => {
    const res = await post({
      ...base,
      transfer: {
        to: 'sip:frontdesk@pbx.example.com:5070',
        mode: 'warm',
        when: '  the callee wants a refund ',
      },
    });
    expect(res.status).toBe(201);
    const call = await getCall(((await res.json()) as { callId: string }).callId);
    expect(call.transfer).toEqual({
      to: 'sip:frontdesk@pbx.example.com:5070',
      mode: 'warm',
      when: 'the callee wants a refund',
    });
  });

  it('shows transfer: null on a call without one', async () => {
    const res = await post(base);
    expect((await getCall(((await res.json()) as { callId: string }).callId)).transfer).toBeNull();
  });

  it.each([
    ['transfer.to', { to: '4155550120' }],
    ['transfer.to', { to: '+1 415 555 0120' }],
    ['transfer.to', { to: 'sip:bob' }],
    ['transfer.to', { to: 'sip:bob@pbx.example.com,Local/x' }],
    ['transfer.to', { to: 'sip:bob@pbx.example.com&PJSIP/evil' }],
    ['transfer.to', { to: 'sip:bob alice@pbx.example.com' }],
    ['transfer.to', { to: 'sip:bob@pbx.example.com:70000' }],
    ['transfer.to', { to: 'http://pbx.example.com' }],
    [
      'transfer.to',
      { to: `sip:${'a'.repeat(60)}@${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example.com` },
    ],
    ['transfer.to', { mode: 'warm' }],
    ['transfer.mode', { to: '+14155550120', mode: 'blind' }],
    ['transfer.when', { to: '+14155550120', when: '   ' }],
    ['transfer.when', { to: '+14155550120', when: 'x'.repeat(501) }],
    ['transfer.extra', { to: '+14155550120', extra: true }],
  ])('refuses a bad value with a 400 naming %s', async (field, transfer) => {
    const error = await errorOf(await post({ ...base, transfer }), 400);
    expect(error.code).toBe('invalid_request');
    expect(error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
  });

  it('refuses a transfer that is not an object', async () => {
    const error = await errorOf(await post({ ...base, transfer: '+14155550120' }), 400);
    expect(error.details.fields.map((f: { field: string }) => f.field)).toContain('transfer');
  });

  it('applies the destination guardrails to a transfer number (422 naming transfer.to)', async () => {
    const premium = await errorOf(await post({ ...base, transfer: { to: '+19005550123' } }), 422);
    expect(premium.code).toBe('destination_blocked');
    expect(premium.details.field).toBe('transfer.to');
    expect(premium.message).toMatch(/^transfer\.to: /);
    const country = await errorOf(await post({ ...base, transfer: { to: '+33142685300' } }), 422);
    expect(country.code).toBe('destination_not_allowed');
    expect(country.details.field).toBe('transfer.to');
    // Nothing was stored for either refusal.
    const list = (await (await api.request('/v1/agent/calls?limit=100')).json()) as { calls: unknown[] };
    const before = list.calls.length;
    await post({ ...base, transfer: { to: '+19005550123' } });
    const after = (await (await api.request('/v1/agent/calls?limit=100')).json()) as { calls: unknown[] };
    expect(after.calls.length).toBe(before);
  });

  it('is in the OpenAPI document as an object with the three fields', async () => {
    const doc = (await (await api.request('/openapi.json')).json()) as any;
    const body = doc.components.schemas.PlaceCallRequest;
    expect(body.properties.transfer.$ref).toBe('#/components/schemas/Transfer');
    const t = doc.components.schemas.Transfer;
    expect(Object.keys(t.properties).sort()).toEqual(['mode', 'to', 'when']);
    expect(t.properties.mode.enum).toEqual(['cold', 'warm']);
    expect(t.required).toEqual(['to']);
    expect(doc.components.schemas.Call.properties.transfer).toBeDefined();
  });
});

describe('transfer through MCP and the SDKs', () => {
  it('place_call describes transfer and passes it to the API', async () => {
    const client = new McpClient({ name: 'test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${api.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${api.key}` } },
      }),
    );
    try {
      const { tools } = await client.listTools();
      const place = tools.find((t) => t.name === 'place_call')!;
      const transfer = (place.inputSchema.properties as Record<string, any>).transfer;
      expect(transfer.type).toBe('object');
      expect(Object.keys(transfer.properties).sort()).toEqual(['mode', 'to', 'when']);
      expect(transfer.properties.mode.enum).toEqual(['cold', 'warm']);
      expect(transfer.description).toMatch(/transferred/);

      const placed = (await client.callTool({
        name: 'place_call',
        arguments: {
          ...base,
          transfer: { to: '+14155550120', mode: 'warm', when: 'they ask for a manager' },
        },
      })) as { isError?: boolean; structuredContent?: any };
      expect(placed.isError).toBeFalsy();
      const call = await getCall(placed.structuredContent.callId);
      expect(call.transfer).toEqual({ to: '+14155550120', mode: 'warm', when: 'they ask for a manager' });

      const bad = (await client.callTool({
        name: 'place_call',
        arguments: { ...base, transfer: { to: 'sip:nobody' } },
      })) as { isError?: boolean; content: { text: string }[] };
      expect(bad.isError).toBe(true);
      expect(JSON.parse(bad.content[0].text).error.code).toBe('invalid_request');
    } finally {
      await client.close();
    }
  });

  it('the Node SDK places a call with a transfer and reads it back', async () => {
    const client = new Client(api.key, api.url);
    const placed = await client.placeCall({ ...base, transfer: { to: 'sip:desk@10.0.0.5', mode: 'cold' } });
    const call = await client.getCall(placed.callId);
    expect(call.transfer).toEqual({
      to: 'sip:desk@10.0.0.5',
      mode: 'cold',
      when: 'the callee asks to speak with a person',
    });
  });

  it('the Python SDK places a call with a transfer and reads it back', async () => {
    const { stdout } = await promisify(execFile)(
      'python3',
      [
        '-c',
        `
import json, os
from agentline import Client
c = Client(os.environ["KEY"], os.environ["URL"])
placed = c.place_call(${JSON.stringify(base.to)}, "Ask about Sunday", transfer={"to": "+14155550120", "mode": "warm", "when": "they want a person"})
print(json.dumps(c.get_call(placed["callId"])["transfer"]))
`,
      ],
      {
        env: { ...process.env, PYTHONPATH: path.resolve('sdk/python'), KEY: api.key, URL: api.url },
        timeout: 20_000,
      },
    );
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({
      to: '+14155550120',
      mode: 'warm',
      when: 'they want a person',
    });
  });
});
