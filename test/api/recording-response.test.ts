import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordingResponse } from '../../src/api/recording-response.js';

// The one answer both recording routes (API and dashboard) give; each adds its own headers and 416 format.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-recording-'));
const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
const file = path.join(dir, 'a.wav');
fs.writeFileSync(file, bytes);
const modified = new Date('2026-01-02T03:04:05Z');
const recording = { path: file, size: bytes.length, modified, contentType: 'audio/wav' };
const callId = 'ABCDEF00-0000-4000-8000-000000000001';

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('recordingResponse', () => {
  it('answers the whole file with its headers, the route’s own added', async () => {
    const res = recordingResponse(recording, {
      callId,
      range: undefined,
      head: false,
      headers: { 'X-Request-Id': 'req-1' },
    });
    expect(res.status).toBe(200);
    expect(Object.fromEntries(res.headers)).toEqual({
      'content-type': 'audio/wav',
      'accept-ranges': 'bytes',
      'last-modified': modified.toUTCString(),
      'cache-control': 'private, no-store',
      'content-disposition': `inline; filename="call-${callId.toLowerCase()}.wav"`,
      'content-length': '100',
      'x-request-id': 'req-1',
    });
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('answers one byte range with 206, and HEAD with the headers only', async () => {
    const part = recordingResponse(recording, { callId, range: 'bytes=10-19', head: false });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 10-19/100');
    expect(part.headers.get('content-length')).toBe('10');
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);
    const head = recordingResponse(recording, { callId, range: 'bytes=-5', head: true });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-range')).toBe('bytes 95-99/100');
    expect(head.body).toBeNull();
  });

  it('answers a range outside the file with a bare 416, or in the route’s own format', async () => {
    const bare = recordingResponse(recording, { callId, range: 'bytes=100-', head: false });
    expect(bare.status).toBe(416);
    expect(Object.fromEntries(bare.headers)).toEqual({
      'content-range': 'bytes */100',
      'accept-ranges': 'bytes',
    });
    const own = recordingResponse(recording, {
      callId,
      range: 'bytes=100-',
      head: false,
      unsatisfiable: (headers) =>
        Response.json({ error: { code: 'range_not_satisfiable' } }, { status: 416, headers }),
    });
    expect(own.status).toBe(416);
    expect(own.headers.get('content-range')).toBe('bytes */100');
    expect(await own.json()).toEqual({ error: { code: 'range_not_satisfiable' } });
  });
});
