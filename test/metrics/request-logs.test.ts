import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startTestApi, type TestApi } from '../helpers/api-fixtures.js';
import { duplicateKeys } from './strict-json.js';

// The API's lines about one call (the request line, and an error's) name the call, and never a key twice.
const lines: string[] = [];
let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({
    tweak: (deps) => {
      // A store that fails reading calls: the route's 500 logs "unhandled error" for this request.
      const calls = Object.create(deps.calls) as typeof deps.calls;
      calls.get = async () => {
        throw new Error('the call store failed');
      };
      return { ...deps, calls, logger: createLogger('debug', { write: (s: string) => void lines.push(s) }) };
    },
  });
});
afterAll(async () => {
  await api?.close();
});

describe('request log lines about a call', () => {
  it('carry its callId and the requestId once, on the request line and the error line', async () => {
    const callId = crypto.randomUUID();
    const res = await api.request(`/v1/agent/calls/${callId}`);
    expect(res.status).toBe(500);
    const requestId = res.headers.get('x-request-id');
    expect(lines.filter((l) => duplicateKeys(l.trim()).length > 0)).toEqual([]);
    const mine = lines.map((l) => JSON.parse(l)).filter((l) => l.requestId === requestId);
    expect(mine.map((l) => l.msg)).toEqual(expect.arrayContaining(['unhandled error', 'request failed']));
    for (const l of mine) expect(l.callId, JSON.stringify(l)).toBe(callId);
  });

  it('leave callId out of requests about no call', async () => {
    lines.length = 0;
    expect((await api.request('/v1/agent/calls?limit=1')).status).toBe(200);
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request');
    expect(line).toMatchObject({ path: '/v1/agent/calls', status: 200 });
    expect(line).not.toHaveProperty('callId');
  });
});
