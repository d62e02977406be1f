import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// The audit's inputs that PostgreSQL refuses (NUL, lone surrogates) or that overflow the stack
// (deep nesting): each must be a 400 that names the field, never a 500.

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

const post = (body: unknown, path = '/v1/agent/calls') =>
  api.request(path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });

async function invalidFields(res: Response): Promise<string[]> {
  const text = await res.text();
  expect(res.status, text).toBe(400);
  const { error } = JSON.parse(text) as {
    error: { code: string; message: string; details: { fields: { field: string; message: string }[] } };
  };
  expect(error.code).toBe('invalid_request');
  expect(typeof error.message).toBe('string');
  return error.details.fields.map((f) => f.field);
}

const base = { to: TEST_DESTINATION, objective: 'Ask whether the shop is open on Sunday.' };
const NUL = '\u0000';
const LONE_HIGH = '\ud83d';
const LONE_LOW = '\ude00';

/** `{"a":{"a":…{}}}` with `levels` objects, the outermost counted as one. */
function nested(levels: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) v = { a: v };
  return v;
}

describe('NUL characters', () => {
  it.each([
    ['objective', { objective: `Ask ${NUL} now.` }],
    ['context', { context: `before${NUL}after` }],
    ['to', { to: `+1415555267${NUL}1` }],
    ['callerId', { callerId: `+14155550100${NUL}` }],
    ['language', { language: `en${NUL}` }],
    ['voice', { voice: `v${NUL}` }],
    ['webhookUrl', { webhookUrl: `https://hooks.example.com/${NUL}` }],
    ['fields[0].description', { fields: [{ name: 'x', description: `d${NUL}` }] }],
    ['voicemail.message', { voicemail: { action: 'leave_message', message: `hi${NUL}` } }],
    ['metadata.ticket', { metadata: { ticket: `T${NUL}1` } }],
    ['metadata.list[1]', { metadata: { list: ['a', `b${NUL}`] } }],
  ])('in %s is a 400 naming the field', async (field, extra) => {
    expect(await invalidFields(await post({ ...base, ...extra }))).toContain(field);
  });

  it('in a metadata key is a 400 naming the object that holds it', async () => {
    expect(await invalidFields(await post({ ...base, metadata: { inner: { [`k${NUL}`]: 1 } } }))).toContain(
      'metadata.inner',
    );
  });

  it('in the body of a cancel is a 400, not a 500', async () => {
    const res = await post({ ...base });
    const { callId } = (await res.json()) as { callId: string };
    expect(await invalidFields(await post({ note: NUL }, `/v1/agent/calls/${callId}/cancel`))).toContain(
      'note',
    );
  });
});

describe('lone UTF-16 surrogates', () => {
  it.each([
    ['objective', { objective: `Ask ${LONE_HIGH} now.` }],
    ['context', { context: `x${LONE_LOW}` }],
    ['fields[0].description', { fields: [{ name: 'x', description: LONE_LOW }] }],
    ['metadata.note', { metadata: { note: `a${LONE_HIGH}` } }],
  ])('in %s is a 400 naming the field', async (field, extra) => {
    expect(await invalidFields(await post({ ...base, ...extra }))).toContain(field);
  });

  it('in a metadata key is a 400', async () => {
    expect(await invalidFields(await post({ ...base, metadata: { [LONE_LOW]: 1 } }))).toContain('metadata');
  });

  it('keeps paired surrogates (emoji), combining marks and RTL text intact', async () => {
    const objective = 'Ask 😀 about café (e\u0301) and שלום مرحبا.';
    const res = await post({ ...base, objective, metadata: { 'emoji😀': '👍🏽', rtl: 'שלום' } });
    expect(res.status).toBe(201);
    const { callId } = (await res.json()) as { callId: string };
    const view = (await (await api.request(`/v1/agent/calls/${callId}`)).json()) as {
      objective: string;
      metadata: Record<string, string>;
    };
    expect(view.objective).toBe(objective);
    expect(view.metadata).toEqual({ 'emoji😀': '👍🏽', rtl: 'שלום' });
  });

  it('bytes that are not UTF-8 are a 400, not silently replaced', async () => {
    const bytes = Buffer.concat([
      Buffer.from(`{"to":"${TEST_DESTINATION}","objective":"Ask `),
      Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80]),
      Buffer.from('"}'),
    ]);
    const res = await api.request('/v1/agent/calls', { method: 'POST', body: bytes });
    expect(await invalidFields(res)).toContain('(body)');
  });
});

describe('__proto__ keys', () => {
  it.each([
    ['metadata', '{"m":1,"__proto__":{"polluted":true}}'],
    ['metadata.inner', '{"inner":{"__proto__":1}}'],
  ])('in %s are a 400, not silently dropped', async (field, metadata) => {
    const body = `{"to":"${TEST_DESTINATION}","objective":"Ask.","metadata":${metadata}}`;
    expect(await invalidFields(await post(body))).toEqual([field]);
  });

  it("keeps 'constructor' and 'prototype' keys as data", async () => {
    const res = await post({ ...base, metadata: { constructor: 'c', prototype: { toString: 1 } } });
    expect(res.status).toBe(201);
    const { callId } = (await res.json()) as { callId: string };
    const view = (await (await api.request(`/v1/agent/calls/${callId}`)).json()) as { metadata: unknown };
    expect(view.metadata).toEqual({ constructor: 'c', prototype: { toString: 1 } });
  });
});

describe('nesting depth', () => {
  it('accepts metadata nested 32 levels deep', async () => {
    expect((await post({ ...base, metadata: nested(32) })).status).toBe(201);
  });

  it('refuses metadata nested 33 levels deep', async () => {
    expect(await invalidFields(await post({ ...base, metadata: nested(33) }))).toEqual(['metadata']);
  });

  it('refuses metadata nested thousands of levels deep (a stack overflow before)', async () => {
    const depth = 30_000;
    const body = `{"to":"${TEST_DESTINATION}","objective":"Ask.","metadata":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    expect(body.length).toBeLessThan(64 * 1024);
    expect(await invalidFields(await post(body))).toEqual(['metadata']);
  });

  it('refuses any other field nested thousands of levels deep', async () => {
    const depth = 30_000;
    const body = `{"to":"${TEST_DESTINATION}","objective":"Ask.","fields":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(await invalidFields(await post(body))).toContain('fields');
  });
});

describe('query strings', () => {
  it.each([
    ['status', `status=${encodeURIComponent(NUL)}`],
    ['status', `status=${encodeURIComponent('completed\u0000')}`],
    ['limit', `limit=${encodeURIComponent(NUL)}`],
  ])('a NUL in %s is a 400', async (field, qs) => {
    expect(await invalidFields(await api.request(`/v1/agent/calls?${qs}`))).toContain(field);
  });

  it.each([
    ['an impossible date', '2020-02-31T00:00:00.000000Z'],
    ['year zero', '0000-01-01T00:00:00.000000Z'],
    ['a NUL', `2020-01-01T00:00:00.000000Z${NUL}`],
  ])('a cursor that carries %s is a 400 naming the cursor', async (_name, at) => {
    const cursor = Buffer.from(JSON.stringify([at, '00000000-0000-4000-8000-000000000000'])).toString(
      'base64url',
    );
    expect(await invalidFields(await api.request(`/v1/agent/calls?cursor=${cursor}`))).toEqual(['cursor']);
  });
});

describe('requests the HTTP parser refuses', () => {
  const errorOf = async (res: Response) =>
    ((await res.json()) as { error: { code: string; message: string } }).error;

  it('a URL over 16 KB is a 431 in the error shape', async () => {
    const res = await api.request(`/v1/agent/calls?cursor=${'a'.repeat(20_000)}`);
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect((await errorOf(res)).code).toBe('invalid_request');
  });

  it('bytes that are not HTTP are a 400 in the error shape', async () => {
    const { port } = new URL(api.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    expect(body.error.code).toBe('invalid_request');
    expect(typeof body.error.message).toBe('string');
  });
});
