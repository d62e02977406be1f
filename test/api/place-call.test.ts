import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calls, usageCounters } from '../../src/db/schema.js';
import { startTestApi, TEST_CALLER_ID, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ voices: ['cmu_us_slt', 'en_US-amy'] });
});
afterAll(async () => {
  await api?.close();
});

const post = (body: unknown, init: RequestInit & { key?: string | null } = {}) =>
  api.request('/v1/agent/calls', {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string; details?: any } };
  expect(Object.keys(body)).toEqual(['error']);
  return body.error;
}

const countCalls = async () => (await api.db.db.select().from(calls)).length;

describe('POST /v1/agent/calls', () => {
  it('stores a queued call and answers 201 with Location', async () => {
    const res = await post({
      to: TEST_DESTINATION,
      objective: 'Ask whether the shop is open on Sunday.',
      fields: [{ name: 'open_sunday', type: 'boolean', description: 'Open on Sunday?' }, { name: 'hours' }],
      metadata: { ticket: 'T-1', nested: { a: [1, 2] } },
      language: 'en-gb',
      voice: 'cmu_us_slt',
      maxDurationSeconds: 120,
      voicemail: { action: 'leave_message', message: 'Please call back.' },
      webhookUrl: 'https://hooks.example.com/agentline',
      context: 'The caller is Dana.',
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { callId: string; status: string };
    expect(body.status).toBe('queued');
    expect(res.headers.get('location')).toBe(`/v1/agent/calls/${body.callId}`);
    expect(res.headers.get('x-request-id')).toMatch(/.{8,}/);

    const view = (await (await api.request(`/v1/agent/calls/${body.callId}`)).json()) as Record<string, any>;
    expect(view).toMatchObject({
      id: body.callId,
      callId: body.callId,
      status: 'queued',
      to: TEST_DESTINATION,
      callerId: TEST_CALLER_ID,
      objective: 'Ask whether the shop is open on Sunday.',
      context: 'The caller is Dana.',
      fields: [
        { name: 'open_sunday', type: 'boolean', description: 'Open on Sunday?' },
        { name: 'hours', type: 'string' },
      ],
      language: 'en-GB',
      voice: 'cmu_us_slt',
      metadata: { ticket: 'T-1', nested: { a: [1, 2] } },
      maxDurationSeconds: 120,
      voicemail: { action: 'leave_message', message: 'Please call back.' },
      summary: null,
      extracted: null,
      transcript: null,
      turns: [],
      recordingUrl: null,
      endedReason: null,
      dialedAt: null,
      startedAt: null,
      endedAt: null,
      durationSeconds: null,
    });
    expect(new Date(view.createdAt).toISOString()).toBe(view.createdAt);

    const [usage] = await api.db.db
      .select()
      .from(usageCounters)
      .where(eq(usageCounters.accountId, api.accountId));
    expect(usage.calls).toBe(1);
  });

  it('fills the defaults: deployment language, 600 s, hang up on voicemail', async () => {
    const res = await post({ to: TEST_DESTINATION, objective: 'x' });
    expect(res.status).toBe(201);
    const { callId } = (await res.json()) as { callId: string };
    const view = (await (await api.request(`/v1/agent/calls/${callId}`)).json()) as Record<string, any>;
    expect(view).toMatchObject({
      language: 'en-US',
      maxDurationSeconds: 600,
      voicemail: { action: 'hangup' },
      fields: [],
      metadata: null,
      context: null,
      voice: null,
    });
  });

  it('answers 400 invalid_request naming every bad field', async () => {
    const before = await countCalls();
    const res = await post({
      to: 123,
      objective: '',
      fields: [{ name: '1bad' }, { name: 'ok', type: 'date' }],
      maxDurationSeconds: 10,
      language: 'not a tag',
      surprise: true,
    });
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('invalid_request');
    const fields = (err.details.fields as { field: string; message: string }[]).map((f) => f.field).sort();
    expect(fields).toEqual(
      [
        'fields[0].name',
        'fields[1].type',
        'language',
        'maxDurationSeconds',
        'objective',
        'surprise',
        'to',
      ].sort(),
    );
    expect(err.message).toMatch(/^Invalid request: /);
    expect(await countCalls()).toBe(before);
  });

  it('says which required fields are missing', async () => {
    const err = await errorOf(await post({}));
    expect(err.code).toBe('invalid_request');
    expect(err.details.fields).toEqual(
      expect.arrayContaining([
        { field: 'to', message: 'is required' },
        { field: 'objective', message: 'is required' },
      ]),
    );
  });

  it.each([
    ['objective over 2000 chars', { objective: 'x'.repeat(2001) }, 'objective'],
    ['context over 8000 chars', { context: 'x'.repeat(8001) }, 'context'],
    ['more than 20 fields', { fields: Array.from({ length: 21 }, (_, i) => ({ name: `f${i}` })) }, 'fields'],
    ['duplicate field names', { fields: [{ name: 'a' }, { name: 'a' }] }, 'fields[1].name'],
    [
      'field description over 500',
      { fields: [{ name: 'a', description: 'd'.repeat(501) }] },
      'fields[0].description',
    ],
    ['metadata over 4 KB', { metadata: { blob: 'x'.repeat(4100) } }, 'metadata'],
    ['metadata not an object', { metadata: [1, 2] }, 'metadata'],
    ['maxDurationSeconds over 3600', { maxDurationSeconds: 3601 }, 'maxDurationSeconds'],
    ['maxDurationSeconds not integer', { maxDurationSeconds: 60.5 }, 'maxDurationSeconds'],
    ['voicemail with unknown action', { voicemail: { action: 'sing' } }, 'voicemail.action'],
    ['leave_message without a message', { voicemail: { action: 'leave_message' } }, 'voicemail.message'],
    ['webhookUrl not a URL', { webhookUrl: 'hooks' }, 'webhookUrl'],
    ['webhookUrl plain http', { webhookUrl: 'http://hooks.example.com/x' }, 'webhookUrl'],
    ['webhookUrl on loopback', { webhookUrl: 'https://127.0.0.1/x' }, 'webhookUrl'],
    ['voice not installed', { voice: 'robot' }, 'voice'],
  ])('rejects %s with 400', async (_name, extra, field) => {
    const before = await countCalls();
    const res = await post({ to: TEST_DESTINATION, objective: 'Ask.', ...extra });
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('invalid_request');
    expect((err.details.fields as { field: string }[]).map((f) => f.field)).toContain(field);
    expect(await countCalls()).toBe(before);
  });

  it('accepts metadata of exactly 4 KB and 20 fields', async () => {
    const padding = 4096 - JSON.stringify({ blob: '' }).length;
    const res = await post({
      to: TEST_DESTINATION,
      objective: 'Ask.',
      metadata: { blob: 'x'.repeat(padding) },
      fields: Array.from({ length: 20 }, (_, i) => ({ name: `f${i}` })),
    });
    expect(res.status).toBe(201);
  });

  it('answers 400 when the body is not JSON or not sent as JSON', async () => {
    const bad = await post('{"to": "+1415', { headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).code).toBe('invalid_request');

    const form = await post('to=%2B14155552671', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(400);
    const err = await errorOf(form);
    expect(err.code).toBe('invalid_request');
    expect(err.details.fields[0].field).toBe('Content-Type');

    const notObject = await post('[1,2]');
    expect(notObject.status).toBe(400);
    expect((await errorOf(notObject)).code).toBe('invalid_request');
  });

  it('answers 413 for a body over 64 KB, with or without Content-Length', async () => {
    const big = JSON.stringify({ to: TEST_DESTINATION, objective: 'x', context: 'y'.repeat(70 * 1024) });
    const res = await post(big);
    expect(res.status).toBe(413);
    expect((await errorOf(res)).code).toBe('payload_too_large');

    // A streamed body has no Content-Length; the limit must still hold.
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent++ < 8) ctrl.enqueue(chunk);
        else ctrl.close();
      },
    });
    const streamed = await fetch(`${api.url}/v1/agent/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await errorOf(streamed)).code).toBe('payload_too_large');
  });

  it.each([
    ['to without +', { to: '14155552671' }, 'to', 'invalid_number'],
    ['to too short', { to: '+1415' }, 'to', 'invalid_number'],
    ['to with spaces', { to: '+1 415 555 2671' }, 'to', 'invalid_number'],
    ['callerId not E.164', { callerId: '415-555-0100' }, 'callerId', 'invalid_number'],
  ])('answers 422 invalid_number for %s', async (_n, extra, field, code) => {
    const res = await post({ to: TEST_DESTINATION, objective: 'Ask.', ...extra });
    expect(res.status).toBe(422);
    const err = await errorOf(res);
    expect(err.code).toBe(code);
    expect(err.details.field).toBe(field);
  });

  it('answers 422 destination_not_allowed for a country off the list, and for Caribbean +1', async () => {
    for (const [to, country] of [
      ['+33612345678', 'FR'],
      ['+18762345678', 'JM'],
    ]) {
      const res = await post({ to, objective: 'Ask.' });
      expect(res.status).toBe(422);
      const err = await errorOf(res);
      expect(err.code).toBe('destination_not_allowed');
      expect(err.details.country).toBe(country);
      expect(err.details.allowed).toContain('US');
    }
  });

  it('answers 422 destination_blocked with the category', async () => {
    const premium = await post({ to: '+19005550100', objective: 'Ask.' });
    expect(premium.status).toBe(422);
    const e1 = await errorOf(premium);
    expect(e1.code).toBe('destination_blocked');
    expect(e1.details.category).toBe('premium_rate');

    const satellite = await post({ to: '+8707612345678', objective: 'Ask.' });
    const e2 = await errorOf(satellite);
    expect(e2.code).toBe('destination_blocked');
    expect(e2.details.category).toBe('satellite');
  });

  it('answers 422 caller_id_not_owned for a number of another account', async () => {
    await api.addAccount('neighbour', '+14155550177');
    const res = await post({ to: TEST_DESTINATION, objective: 'Ask.', callerId: '+14155550177' });
    expect(res.status).toBe(422);
    expect((await errorOf(res)).code).toBe('caller_id_not_owned');
  });

  it('uses an owned non-default callerId when asked', async () => {
    await api.accounts.addNumber(api.accountId, '+14155550155', false);
    const res = await post({ to: TEST_DESTINATION, objective: 'Ask.', callerId: '+14155550155' });
    expect(res.status).toBe(201);
    const { callId } = (await res.json()) as { callId: string };
    const view = (await (await api.request(`/v1/agent/calls/${callId}`)).json()) as { callerId: string };
    expect(view.callerId).toBe('+14155550155');
  });

  it('answers 422 no_caller_id for an account without a default number', async () => {
    const other = await api.addAccount('bare', null);
    const res = await post({ to: TEST_DESTINATION, objective: 'Ask.' }, { key: other.key });
    expect(res.status).toBe(422);
    expect((await errorOf(res)).code).toBe('no_caller_id');
  });
});
