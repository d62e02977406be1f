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
  // PYTHON=/path/to/python3.8 runs the same tests under the oldest Python the SDK supports.
  const { stdout } = await run(process.env.PYTHON ?? 'python3', ['-c', code], {
    env: { ...process.env, PYTHONPATH: SDK_DIR, ...env },
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

const PRELUDE = `
import json, os
from agentline import Client, AgentlineError
c = Client(os.environ["KEY"], os.environ["URL"])
def err(fn):
    try:
        fn()
        return None
    except AgentlineError as e:
        return {"code": e.code, "status": e.status, "details": e.details}
`;

const N = (i: number) => `+1415555${4000 + i}`;

describe('Python SDK: batches, do-not-call and settings against the real API', () => {
  let api: TestApi;
  let env: Record<string, string>;
  beforeAll(async () => {
    api = await startTestApi({ env: { CAP_CALLS_PER_MINUTE: '1000', CAP_CONCURRENT_CALLS: '100' } });
    env = { KEY: api.key, URL: api.url };
  });
  afterAll(() => api.close());

  it('creates, reads, pages, pauses, resumes, cancels, waits for a batch and reads its results', async () => {
    const out = await py(
      `${PRELUDE}
template = {"objective": "Confirm {{item}} for {{name}}", "fields": [{"name": "ok", "type": "boolean"}]}
rows = [{"to": "${N(1)}", "variables": {"name": "Ada", "item": "the parcel"}},
        {"to": "+999", "variables": {"name": "X", "item": "y"}},
        {"to": "${N(2)}", "variables": {"name": "Bo"}},
        {"to": "${N(3)}", "variables": {"name": "Cy", "item": "the visit"}, "metadata": {"k": 3}}]
key = "${crypto.randomUUID()}"
created = c.create_batch(template, rows, idempotency_key=key, name="py", concurrency=5)
replayed = c.create_batch(template, rows, idempotency_key=key, name="py", concurrency=5)
call = c.get_call(created["accepted"][0]["callId"])
page = c.get_batch(created["batchId"], limit=1)
every = [x["callId"] for x in c.iter_batch_calls(created["batchId"], page_size=1)]
listed = [b["batchId"] for b in c.list_batches(limit=100)["batches"]]
paused = c.pause_batch(created["batchId"])["status"]
resumed = c.resume_batch(created["batchId"])["status"]
timeout = err(lambda: c.wait_for_batch(created["batchId"], timeout=0.3, interval=0.1))
canceled = c.cancel_batch(created["batchId"])["status"]
done = c.wait_for_batch(created["batchId"], timeout=10, interval=0.1)
after = err(lambda: c.resume_batch(created["batchId"]))
results = c.batch_results_csv(created["batchId"])
all_refused = err(lambda: c.create_batch(template, [{"to": "+999", "variables": {"name": "a", "item": "b"}}]))
from_csv = c.create_batch_from_csv("to,name,item\\n${N(5)},Dee,a form\\n", template)
csv_call = c.get_call(from_csv["accepted"][0]["callId"])
missing = err(lambda: c.get_batch("${crypto.randomUUID()}"))
print(json.dumps({"created": created, "replayed": replayed["batchId"], "call": call, "page": page, "every": every,
                  "listed": listed, "paused": paused, "resumed": resumed, "timeout": timeout, "canceled": canceled,
                  "done": done, "after": after, "results": results, "all_refused": all_refused,
                  "csv_objective": csv_call["objective"], "missing": missing}))
`,
      env,
    );
    const { created } = out;
    expect(created).toMatchObject({ totalRows: 4, acceptedRows: 2, refusedRows: 2 });
    expect(created.refused.map((r: { row: number; code: string }) => [r.row, r.code])).toEqual([
      [2, 'invalid_number'],
      [3, 'invalid_request'],
    ]);
    expect(out.replayed).toBe(created.batchId);
    expect(out.call).toMatchObject({ objective: 'Confirm the parcel for Ada', batchId: created.batchId });
    expect(out.page).toMatchObject({ batchId: created.batchId, name: 'py', concurrency: 5, totalRows: 4 });
    expect(out.page.calls).toHaveLength(1);
    expect(out.page.nextCursor).toBeTruthy();
    expect(out.every).toEqual(created.accepted.map((a: { callId: string }) => a.callId));
    expect(out.listed).toContain(created.batchId);
    expect([out.paused, out.resumed, out.canceled]).toEqual(['paused', 'running', 'canceled']);
    expect(out.timeout).toMatchObject({ code: 'timeout', status: 0 });
    expect(out.done.completedAt).toBeTruthy();
    expect(out.done.progress).toEqual({ ended: 2, total: 2 });
    expect(out.after).toMatchObject({ code: 'batch_already_ended', status: 409 });
    const lines = out.results.trim().split(/\r?\n/);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^row,callId,to,status,endedReason/);
    expect(lines[0]).toContain('extracted.ok');
    expect(out.all_refused).toMatchObject({ code: 'invalid_request', status: 422 });
    expect(out.all_refused.details.refused[0]).toMatchObject({ row: 1, code: 'invalid_number' });
    expect(out.csv_objective).toBe('Confirm a form for Dee');
    expect(out.missing).toMatchObject({ code: 'not_found', status: 404 });
  });

  it('manages the do-not-call list, the account defaults and the new call fields', async () => {
    const out = await py(
      `${PRELUDE}
added = c.add_do_not_call(["${N(10)}", "${N(11)}", "oops"], note="by phone")
again = c.add_do_not_call(["${N(10)}"])
check = c.check_do_not_call("${N(10)}")
blocked = err(lambda: c.place_call("${N(10)}", "Must not ring"))
imported = c.import_do_not_call_csv("${N(12)}\\n${N(13)}\\n")
listed = c.list_do_not_call(limit=100)["numbers"]
c.remove_do_not_call("${N(11)}")
after_remove = c.check_do_not_call("${N(11)}")
removed_twice = err(lambda: c.remove_do_not_call("${N(11)}"))
s0 = c.get_settings()
s1 = c.update_settings(callWindow={"start": "21:00", "end": "02:00", "days": ["fri", "sat"]},
                       retryPolicy={"maxAttempts": 4, "delaySeconds": 900, "on": ["no_answer"]})
s2 = c.update_settings(callWindow=None)
bad = err(lambda: c.update_settings(callWindow={"start": "25:00", "end": "02:00", "days": ["fri"]}))
s3 = c.update_settings(retryPolicy=None)
placed = c.place_call("${TEST_DESTINATION}", "With options",
                      callWindow={"start": "00:00", "end": "00:00", "days": ["mon","tue","wed","thu","fri","sat","sun"]},
                      retry={"maxAttempts": 3, "delaySeconds": 60})
call = c.get_call(placed["callId"])
print(json.dumps({"added": added, "again": again, "check": check, "blocked": blocked, "imported": imported,
                  "listed": listed, "after_remove": after_remove, "removed_twice": removed_twice,
                  "s0": s0, "s1": s1, "s2": s2, "bad": bad, "s3": s3, "placed": placed, "call": call}))
`,
      env,
    );
    expect(out.added).toMatchObject({ added: 2, alreadyListed: 0 });
    expect(out.added.invalid).toEqual([expect.objectContaining({ value: 'oops' })]);
    expect(out.again).toMatchObject({ added: 0, alreadyListed: 1 });
    expect(out.check).toMatchObject({ number: N(10), listed: true, list: 'account', source: 'api' });
    expect(out.blocked).toMatchObject({
      code: 'destination_blocked',
      status: 422,
      details: { category: 'do_not_call', list: 'account' },
    });
    expect(out.imported.added).toBe(2);
    const numbers = out.listed.map((n: { number: string }) => n.number);
    expect(numbers).toEqual(expect.arrayContaining([N(10), N(11), N(12), N(13)]));
    expect(out.listed.find((n: { number: string }) => n.number === N(10)).note).toBe('by phone');
    expect(out.after_remove.listed).toBe(false);
    expect(out.removed_twice).toMatchObject({ code: 'not_found', status: 404 });
    expect(out.s0).toMatchObject({ callWindow: null, retryPolicy: null });
    expect(out.s1).toMatchObject({
      callWindow: { start: '21:00', end: '02:00', days: ['fri', 'sat'] },
      retryPolicy: { maxAttempts: 4, delaySeconds: 900, on: ['no_answer'] },
    });
    expect(out.s2.callWindow).toBeNull();
    expect(out.s2.retryPolicy).toMatchObject({ maxAttempts: 4 });
    expect(out.bad).toMatchObject({ code: 'invalid_request', status: 400 });
    expect(out.s3).toMatchObject({ callWindow: null, retryPolicy: null });
    expect(out.placed).toMatchObject({ status: 'queued', scheduledFor: null });
    expect(out.call).toMatchObject({
      callWindow: { start: '00:00', end: '00:00' },
      retryPolicy: {
        maxAttempts: 3,
        delaySeconds: 60,
        on: ['no_answer', 'declined/busy', 'failed/network_error'],
      },
      attempt: 1,
      optOut: false,
    });
  });
});
