import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

const run = promisify(execFile);
const SDK_DIR = path.resolve('sdk/python');

/** Runs a Python snippet with the SDK importable; it prints one JSON object. */
async function py(code: string, env: Record<string, string>) {
  const { stdout } = await run('python3', ['-c', code], {
    env: { ...process.env, PYTHONPATH: SDK_DIR, ...env },
    timeout: 20_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('Python SDK against the real API', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ env: { CAP_CALLS_PER_MINUTE: '100', CAP_CONCURRENT_CALLS: '100' } });
  });
  afterAll(() => api.close());

  it('places, reads, lists, cancels and waits', async () => {
    const out = await py(
      `
import json, os
from agentline import Client, AgentlineError
c = Client(os.environ["KEY"], os.environ["URL"])
placed = c.place_call("${TEST_DESTINATION}", "Ask for opening hours", metadata={"ticket": 7},
                      fields=[{"name": "open_sunday", "type": "boolean"}])
got = c.get_call(placed["callId"])
listed = c.list_calls(limit=5)
canceled = c.cancel_call(placed["callId"])
done = c.wait_for_call(placed["callId"], timeout=5, interval=0.1)
second = c.place_call("${TEST_DESTINATION}", "Still queued")
try:
    c.wait_for_call(second["callId"], timeout=0.3, interval=0.1)
    timeout = None
except AgentlineError as e:
    timeout = [e.code, e.status]
print(json.dumps({"placed": placed, "got": got, "listed": [x["callId"] for x in listed["calls"]],
                  "canceled": canceled, "done": done["status"], "timeout": timeout}))
`,
      { KEY: api.key, URL: api.url },
    );
    expect(out.placed.status).toBe('queued');
    expect(out.got).toMatchObject({ callId: out.placed.callId, metadata: { ticket: 7 } });
    expect(out.got.fields).toEqual([{ name: 'open_sunday', type: 'boolean' }]);
    expect(out.listed).toContain(out.placed.callId);
    expect(out.canceled).toMatchObject({ status: 'failed', endedReason: 'canceled' });
    expect(out.done).toBe('failed');
    expect(out.timeout).toEqual(['timeout', 0]);
  });

  it('raises AgentlineError with code and status for API and network errors', async () => {
    const out = await py(
      `
import json, os
from agentline import Client, AgentlineError
res = {}
for name, fn in [
    ("invalid", lambda: Client(os.environ["KEY"], os.environ["URL"]).place_call("+14155552671", "")),
    ("unauth", lambda: Client("ak_wrongwrongwrongwrongwrong", os.environ["URL"]).list_calls()),
    ("missing", lambda: Client(os.environ["KEY"], os.environ["URL"]).get_call("${crypto.randomUUID()}")),
    ("network", lambda: Client(os.environ["KEY"], "http://127.0.0.1:9").list_calls()),
]:
    try:
        fn(); res[name] = None
    except AgentlineError as e:
        res[name] = [e.code, e.status]
print(json.dumps(res))
`,
      { KEY: api.key, URL: api.url },
    );
    expect(out).toEqual({
      invalid: ['invalid_request', 400],
      unauth: ['unauthorized', 401],
      missing: ['not_found', 404],
      network: ['network_error', 0],
    });
  });

  it('verifies webhook signatures computed independently', async () => {
    const body = '{"event":"call.completed"}';
    const t = Math.floor(Date.now() / 1000);
    const sig = (ts: number, s: string) =>
      `t=${ts},v1=${crypto.createHmac('sha256', s).update(`${ts}.${body}`).digest('hex')}`;
    const out = await py(
      `
import json, os
from agentline import verify_webhook
b = os.environ["BODY"]
print(json.dumps([verify_webhook(b, os.environ["GOOD"], "whsec_a"), verify_webhook(b, os.environ["BAD"], "whsec_a"),
                  verify_webhook(b, os.environ["OLD"], "whsec_a"), verify_webhook(b + " ", os.environ["GOOD"], "whsec_a")]))
`,
      { BODY: body, GOOD: sig(t, 'whsec_a'), BAD: sig(t, 'whsec_b'), OLD: sig(t - 400, 'whsec_a') },
    );
    expect(out).toEqual([true, false, false, false]);
  });
});
