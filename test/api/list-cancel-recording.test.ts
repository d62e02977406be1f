import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calls } from '../../src/db/schema.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

let api: TestApi;
let t = Date.parse('2031-01-01T00:00:00.000Z');
beforeAll(async () => {
  api = await startTestApi({
    clock: () => new Date(t),
    env: { CAP_CALLS_PER_MINUTE: '1000', CAP_CONCURRENT_CALLS: '1000' },
  });
});
afterAll(async () => {
  await api?.close();
});

const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; details?: any } }).error;

async function place(objective: string): Promise<string> {
  t += 1_000;
  const res = await api.request('/v1/agent/calls', {
    method: 'POST',
    body: JSON.stringify({ to: TEST_DESTINATION, objective }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { callId: string }).callId;
}

type Page = {
  calls: { callId: string; status: string; objective: string; createdAt: string; endedAt: string | null }[];
  nextCursor: string | null;
};
const list = async (qs: string) => {
  const res = await api.request(`/v1/agent/calls${qs}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
};

describe('list, cancel and recording', () => {
  const ids: string[] = [];

  it('lists newest first, pages with an opaque cursor, and filters by status', async () => {
    for (let i = 0; i < 7; i++) ids.push(await place(`call ${i}`));
    // Two calls created in the same instant still page without loss or repeats (tie broken by id).
    t -= 1_000;
    ids.push(await place('same instant'));

    const first = await list('');
    expect(first.calls).toHaveLength(8);
    expect(first.nextCursor).toBeNull();
    expect(Object.keys(first.calls[0]).sort()).toEqual(
      ['callId', 'createdAt', 'endedAt', 'objective', 'status', 'to'].sort(),
    );
    const times = first.calls.map((c) => c.createdAt);
    expect([...times].sort().reverse()).toEqual(times);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await list(`?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.calls.length).toBeLessThanOrEqual(3);
      seen.push(...page.calls.map((c) => c.callId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(first.calls.map((c) => c.callId));
    expect(new Set(seen).size).toBe(8);

    const cancel = await api.request(`/v1/agent/calls/${ids[2]}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    const failed = await list('?status=failed');
    expect(failed.calls.map((c) => c.callId)).toEqual([ids[2]]);
    expect(failed.calls[0].endedAt).not.toBeNull();
    const both = await list('?status=failed,queued&limit=100');
    expect(both.calls).toHaveLength(8);
    expect((await list('?status=completed')).calls).toEqual([]);
  });

  it.each([
    ['limit 0', '?limit=0', 'limit'],
    ['limit 101', '?limit=101', 'limit'],
    ['limit not a number', '?limit=ten', 'limit'],
    ['unknown status', '?status=ringing', 'status'],
    ['garbage cursor', '?cursor=abc', 'cursor'],
    [
      'forged cursor',
      `?cursor=${Buffer.from(JSON.stringify(['yesterday', 'x'])).toString('base64url')}`,
      'cursor',
    ],
  ])('answers 400 for %s', async (_n, qs, field) => {
    const res = await api.request(`/v1/agent/calls${qs}`);
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('invalid_request');
    expect(err.details.fields.map((f: { field: string }) => f.field)).toContain(field);
  });

  it('cancels a queued call: failed, endedReason canceled, and the answer is the call', async () => {
    const id = await place('to be canceled');
    const res = await api.request(`/v1/agent/calls/${id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    const view = (await res.json()) as Record<string, unknown>;
    expect(view).toMatchObject({
      id,
      callId: id,
      status: 'failed',
      endedReason: 'canceled',
      durationSeconds: 0,
    });
    expect(view.endedAt).toBe(new Date(t).toISOString());
    const again = await api.request(`/v1/agent/calls/${id}`);
    expect(((await again.json()) as { status: string }).status).toBe('failed');
  });

  it('answers 409 call_already_ended for a terminal call', async () => {
    const id = await place('already done');
    await api.deps.calls.transition(id, 'dialing');
    await api.deps.calls.transition(id, 'no_answer', { reason: 'no_answer_timeout' });
    const res = await api.request(`/v1/agent/calls/${id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(409);
    const err = await errorOf(res);
    expect(err.code).toBe('call_already_ended');
    expect(err.details).toEqual({ status: 'no_answer' });
    const view = (await (await api.request(`/v1/agent/calls/${id}`)).json()) as {
      status: string;
      endedReason: string;
    };
    expect(view).toMatchObject({ status: 'no_answer', endedReason: 'no_answer_timeout' });
  });

  it('shows turns and transcript of a finished call', async () => {
    const id = await place('talk');
    await api.deps.calls.transition(id, 'dialing');
    await api.deps.calls.transition(id, 'in_progress');
    await api.deps.calls.addTurn(id, {
      speaker: 'agent',
      text: 'Hello, is this the bakery?',
      startMs: 0,
      endMs: 1500,
    });
    await api.deps.calls.addTurn(id, { speaker: 'callee', text: 'Yes it is.', startMs: 1700, endMs: 2500 });
    t += 65_000;
    await api.deps.calls.transition(id, 'completed', {
      reason: 'objective_met',
      patch: { summary: 'It is the bakery.', extracted: { is_bakery: true } },
    });
    const view = (await (await api.request(`/v1/agent/calls/${id}`)).json()) as Record<string, any>;
    expect(view).toMatchObject({
      status: 'completed',
      summary: 'It is the bakery.',
      extracted: { is_bakery: true },
      transcript: 'Agent: Hello, is this the bakery?\nCallee: Yes it is.',
      endedReason: 'objective_met',
      durationSeconds: 65,
    });
    expect(view.turns).toEqual([
      {
        speaker: 'agent',
        text: 'Hello, is this the bakery?',
        startMs: 0,
        endMs: 1500,
        interrupted: false,
        latency: null,
      },
      {
        speaker: 'callee',
        text: 'Yes it is.',
        startMs: 1700,
        endMs: 2500,
        interrupted: false,
        latency: null,
      },
    ]);
  });

  describe('recording', () => {
    let id: string;
    let wav: Buffer;
    beforeAll(async () => {
      id = await place('recorded');
      wav = makeWav(8000, 0.25);
      fs.writeFileSync(path.join(api.recordingsDir, `${id}.wav`), wav);
      await api.db.db
        .update(calls)
        .set({ recordingFile: `${id}.wav` })
        .where(eq(calls.id, id));
    });

    it('links the recording with an absolute URL', async () => {
      const view = (await (await api.request(`/v1/agent/calls/${id}`)).json()) as { recordingUrl: string };
      expect(view.recordingUrl).toBe(`${api.url}/v1/agent/calls/${id}/recording`);
    });

    it('serves the whole WAV', async () => {
      const res = await api.request(`/v1/agent/calls/${id}/recording`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('audio/wav');
      expect(res.headers.get('accept-ranges')).toBe('bytes');
      expect(res.headers.get('content-length')).toBe(String(wav.length));
      const got = Buffer.from(await res.arrayBuffer());
      expect(got.equals(wav)).toBe(true);
      expect(got.subarray(0, 4).toString('ascii')).toBe('RIFF');
    });

    it('serves byte ranges with 206 and Content-Range', async () => {
      const res = await api.request(`/v1/agent/calls/${id}/recording`, { headers: { range: 'bytes=0-43' } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes 0-43/${wav.length}`);
      const head = Buffer.from(await res.arrayBuffer());
      expect(head.equals(wav.subarray(0, 44))).toBe(true);

      const tail = await api.request(`/v1/agent/calls/${id}/recording`, { headers: { range: 'bytes=-100' } });
      expect(tail.status).toBe(206);
      expect(Buffer.from(await tail.arrayBuffer()).equals(wav.subarray(wav.length - 100))).toBe(true);

      const open = await api.request(`/v1/agent/calls/${id}/recording`, {
        headers: { range: 'bytes=1000-' },
      });
      expect(open.status).toBe(206);
      expect(open.headers.get('content-range')).toBe(`bytes 1000-${wav.length - 1}/${wav.length}`);
      expect(Buffer.from(await open.arrayBuffer()).equals(wav.subarray(1000))).toBe(true);
    });

    it('answers 416 for a range past the end', async () => {
      const res = await api.request(`/v1/agent/calls/${id}/recording`, {
        headers: { range: `bytes=${wav.length}-` },
      });
      expect(res.status).toBe(416);
      expect(res.headers.get('content-range')).toBe(`bytes */${wav.length}`);
      expect((await errorOf(res)).code).toBe('range_not_satisfiable');
    });

    it('answers 404 not_found for a call without a recording, or whose file is gone', async () => {
      const plain = await place('no recording');
      const r1 = await api.request(`/v1/agent/calls/${plain}/recording`);
      expect(r1.status).toBe(404);
      expect((await errorOf(r1)).code).toBe('not_found');

      await api.db.db.update(calls).set({ recordingFile: 'missing.wav' }).where(eq(calls.id, plain));
      expect((await api.request(`/v1/agent/calls/${plain}/recording`)).status).toBe(404);
      // A file name that escapes the recordings directory is never served.
      await api.db.db.update(calls).set({ recordingFile: '../../../etc/passwd' }).where(eq(calls.id, plain));
      expect((await api.request(`/v1/agent/calls/${plain}/recording`)).status).toBe(404);
    });
  });
});

/** A real PCM WAV: 16-bit mono, a 440 Hz tone. */
function makeWav(rate: number, seconds: number): Buffer {
  const n = Math.round(rate * seconds);
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++)
    data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}
