import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doNotCall } from '../../src/db/schema.js';
import { DeploymentDncList } from '../../src/dnc/deployment-list.js';
import { startTestApi, type TestApi } from '../helpers/api-fixtures.js';

interface AddResult {
  added: number;
  alreadyListed: number;
  invalid: { line?: number; index?: number; value: string; code: string; message: string }[];
  invalidCount: number;
}
interface Entry {
  number: string;
  source: string;
  note: string | null;
  callId: string | null;
  createdAt: string;
}
interface Check {
  number: string;
  listed: boolean;
  list: 'account' | 'deployment' | null;
  source: string | null;
  createdAt: string | null;
}
interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const DEPLOYMENT_NUMBER = '+12125550199';

describe('do-not-call API', () => {
  let api: TestApi;
  let other: { accountId: string; key: string };
  let dir: string;
  let deploymentList: DeploymentDncList;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-dnc-api-'));
    const file = path.join(dir, 'dnc.txt');
    fs.writeFileSync(file, `# operator's list\n${DEPLOYMENT_NUMBER}\n`);
    deploymentList = await DeploymentDncList.open(file);
    api = await startTestApi({ tweak: (deps) => ({ ...deps, doNotCallList: deploymentList }) });
    other = await api.addAccount('other');
  });
  afterAll(async () => {
    deploymentList.close();
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const add = (body: unknown, key = api.key) =>
    api.request('/v1/agent/do-not-call', { method: 'POST', key, body: JSON.stringify(body) });
  const addCsv = (csv: string, key = api.key) =>
    api.request('/v1/agent/do-not-call', {
      method: 'POST',
      key,
      body: csv,
      headers: { 'content-type': 'text/csv; charset=utf-8' },
    });
  const check = async (number: string, key = api.key) => {
    const res = await api.request(`/v1/agent/do-not-call/${encodeURIComponent(number)}`, { key });
    expect(res.status).toBe(200);
    return (await res.json()) as Check;
  };
  const remove = (number: string, key = api.key) =>
    api.request(`/v1/agent/do-not-call/${encodeURIComponent(number)}`, { method: 'DELETE', key });
  const listAll = async (key = api.key, limit = 100): Promise<Entry[]> => {
    const out: Entry[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await api.request(`/v1/agent/do-not-call${q}`, { key });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { numbers: Entry[]; nextCursor: string | null };
      expect(page.numbers.length).toBeLessThanOrEqual(limit);
      out.push(...page.numbers);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  };
  const countRows = async (accountId: string) =>
    (await api.db.db.select({ n: count() }).from(doNotCall).where(eq(doNotCall.accountId, accountId)))[0].n;

  it('adds, lists, checks and removes numbers; invalid ones are reported by index and not stored', async () => {
    const res = await add({
      numbers: ['+14155552671', '+1 (415) 555-0142', 'not a number', '+14155552671', '4155550143', '+1415'],
      note: 'asked by letter',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as AddResult;
    expect(body.added).toBe(2);
    expect(body.alreadyListed).toBe(1); // the second +14155552671
    expect(body.invalidCount).toBe(3);
    expect(body.invalid.map((i) => [i.index, i.value, i.code])).toEqual([
      [2, 'not a number', 'invalid_number'],
      [4, '4155550143', 'invalid_number'],
      [5, '+1415', 'invalid_number'],
    ]);
    expect(await countRows(api.accountId)).toBe(2);

    const listed = await listAll();
    expect(listed.map((e) => e.number).sort()).toEqual(['+14155550142', '+14155552671']);
    for (const e of listed) {
      expect(e.source).toBe('api');
      expect(e.note).toBe('asked by letter');
      expect(e.callId).toBeNull();
      expect(Number.isNaN(Date.parse(e.createdAt))).toBe(false);
    }

    const c = await check('+14155550142');
    expect(c).toMatchObject({ number: '+14155550142', listed: true, list: 'account', source: 'api' });
    expect(c.createdAt).not.toBeNull();
    expect(await check('+14155550199')).toMatchObject({ listed: false, list: null, source: null });

    expect((await remove('+14155550142')).status).toBe(204);
    expect(await check('+14155550142')).toMatchObject({ listed: false, list: null });
    const again = await remove('+14155550142');
    expect(again.status).toBe(404);
    expect(((await again.json()) as ErrorBody).error.code).toBe('not_found');
    expect((await listAll()).map((e) => e.number)).toEqual(['+14155552671']);
  });

  it("keeps one account's list away from another's", async () => {
    expect((await add({ numbers: ['+14155550150'] })).status).toBe(200);
    expect(await check('+14155550150', other.key)).toMatchObject({ listed: false, list: null });
    expect(await listAll(other.key)).toEqual([]);
    const del = await remove('+14155550150', other.key);
    expect(del.status).toBe(404);
    expect(await check('+14155550150')).toMatchObject({ listed: true, list: 'account' });

    // The other account lists the same number on its own; removing it there leaves ours.
    const res = await add({ numbers: ['+14155550150'] }, other.key);
    expect(((await res.json()) as AddResult).added).toBe(1);
    expect((await remove('+14155550150', other.key)).status).toBe(204);
    expect(await check('+14155550150')).toMatchObject({ listed: true, list: 'account' });
    expect(await check('+14155550150', other.key)).toMatchObject({ listed: false });
  });

  it('re-adding a listed number counts it as alreadyListed and keeps its first source and note', async () => {
    expect((await add({ numbers: ['+14155550160'], note: 'first' })).status).toBe(200);
    const res = await addCsv('number\n+14155550160\n+14155550161\n');
    const body = (await res.json()) as AddResult;
    expect(body).toMatchObject({ added: 1, alreadyListed: 1, invalidCount: 0 });
    const entries = (await listAll()).filter((e) => e.number.startsWith('+1415555016'));
    expect(entries.find((e) => e.number === '+14155550160')).toMatchObject({ source: 'api', note: 'first' });
    expect(entries.find((e) => e.number === '+14155550161')).toMatchObject({ source: 'import', note: null });
  });

  it('imports CSV with a number column, reporting each bad line by its line number', async () => {
    const csv = [
      'name,number,comment', // 1
      'Ann,+14155550170,x', // 2
      '', // 3 blank: skipped
      'Bob,+1 415 555 0171,', // 4
      'Cid,12345,', // 5 bad
      'Dee,,', // 6 no number
      'Eve,"+1415555017', // 7 broken quote
      'Fay,+14155550172', // 8
    ].join('\r\n');
    const res = await addCsv(csv, other.key);
    expect(res.status).toBe(200);
    const body = (await res.json()) as AddResult;
    expect(body.added).toBe(3);
    expect(body.alreadyListed).toBe(0);
    expect(body.invalid.map((i) => i.line)).toEqual([5, 6, 7]);
    expect(body.invalid.every((i) => i.code === 'invalid_number' && i.message.length > 0)).toBe(true);
    expect((await listAll(other.key)).map((e) => e.number).sort()).toEqual([
      '+14155550170',
      '+14155550171',
      '+14155550172',
    ]);
  });

  it('imports a CSV without a header: the first column is the number', async () => {
    const res = await addCsv('+14155550180,old customer\n+14155550181\nnope\n', other.key);
    const body = (await res.json()) as AddResult;
    expect(body).toMatchObject({ added: 2, invalidCount: 1 });
    expect(body.invalid).toEqual([expect.objectContaining({ line: 3, value: 'nope' })]);
  });

  it('imports 10,000 numbers in one CSV and pages through all of them', async () => {
    const numbers = Array.from({ length: 10_000 }, (_, i) => `+1212555${String(i).padStart(4, '0')}`);
    const acct = await api.addAccount('bulk');
    const started = performance.now();
    const res = await addCsv(`number\n${numbers.join('\n')}\n`, acct.key);
    const ms = performance.now() - started;
    expect(res.status).toBe(200);
    expect((await res.json()) as AddResult).toMatchObject({
      added: 10_000,
      alreadyListed: 0,
      invalidCount: 0,
    });
    console.log(`10,000-number CSV import over HTTP: ${ms.toFixed(0)} ms`);
    expect(await countRows(acct.accountId)).toBe(10_000);
    const all = await listAll(acct.key, 1000);
    expect(all.length).toBe(10_000);
    expect(new Set(all.map((e) => e.number)).size).toBe(10_000);

    // JSON takes the same 10,000 (all listed now), and refuses one more.
    const again = await add({ numbers }, acct.key);
    expect(again.status).toBe(200);
    expect((await again.json()) as AddResult).toMatchObject({ added: 0, alreadyListed: 10_000 });
    const tooMany = await add({ numbers: [...numbers, '+14155550100'] }, acct.key);
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as ErrorBody).error.code).toBe('invalid_request');
  });

  it('checks the deployment list for every account; its numbers cannot be removed (409)', async () => {
    for (const key of [api.key, other.key]) {
      expect(await check(DEPLOYMENT_NUMBER, key)).toMatchObject({
        number: DEPLOYMENT_NUMBER,
        listed: true,
        list: 'deployment',
        source: null,
      });
      const res = await remove(DEPLOYMENT_NUMBER, key);
      expect(res.status).toBe(409);
      const body = (await res.json()) as ErrorBody;
      expect(body.error.code).toBe('dnc_deployment_list');
      expect(body.error.details).toMatchObject({ number: DEPLOYMENT_NUMBER, list: 'deployment' });
    }
    // On both lists: the account's entry answers, and can be removed; the deployment list still holds it.
    expect((await add({ numbers: [DEPLOYMENT_NUMBER] })).status).toBe(200);
    expect(await check(DEPLOYMENT_NUMBER)).toMatchObject({ list: 'account', source: 'api' });
    expect((await remove(DEPLOYMENT_NUMBER)).status).toBe(204);
    expect(await check(DEPLOYMENT_NUMBER)).toMatchObject({ listed: true, list: 'deployment' });
    // The account list never shows deployment numbers.
    expect((await listAll(other.key)).some((e) => e.number === DEPLOYMENT_NUMBER)).toBe(false);
  });

  it('refuses a path number that is not E.164 (422 invalid_number)', async () => {
    for (const bad of ['14155552671', '+1-415-555-2671', 'abc', '+0123456789']) {
      for (const method of ['GET', 'DELETE']) {
        const res = await api.request(`/v1/agent/do-not-call/${encodeURIComponent(bad)}`, { method });
        expect(res.status, `${method} ${bad}`).toBe(422);
        expect(((await res.json()) as ErrorBody).error.code).toBe('invalid_number');
      }
    }
    // An unencoded '+' in the path is the same number.
    expect((await add({ numbers: ['+14155550190'] })).status).toBe(200);
    const raw = await api.request('/v1/agent/do-not-call/+14155550190');
    expect(((await raw.json()) as Check).listed).toBe(true);
  });

  it('refuses bodies of the wrong shape or type with 400, and over 2 MB with 413', async () => {
    const bad: unknown[] = [
      {},
      { numbers: [] },
      { numbers: '+14155552671' },
      { numbers: [14155552671] },
      { numbers: ['+14155552671'], extra: 1 },
      { numbers: ['+14155552671'], note: 'x'.repeat(501) },
      ['+14155552671'],
    ];
    for (const body of bad) {
      const res = await add(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const err = (await res.json()) as ErrorBody;
      expect(err.error.code).toBe('invalid_request');
      expect(err.error.details).toHaveProperty('fields');
    }
    const plain = await api.request('/v1/agent/do-not-call', {
      method: 'POST',
      body: '+14155552671',
      headers: { 'content-type': 'text/plain' },
    });
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as ErrorBody).error.message).toMatch(/text\/csv/);
    const notJson = await api.request('/v1/agent/do-not-call', { method: 'POST', body: '{"numbers":' });
    expect(notJson.status).toBe(400);
    const empty = await addCsv('\n\n');
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as ErrorBody).error.code).toBe('invalid_request');

    const big = await addCsv(`number\n${'+14155552671\n'.repeat(170_000)}`);
    expect(big.status).toBe(413);
    expect(((await big.json()) as ErrorBody).error.code).toBe('payload_too_large');
    // Other routes keep their 64 KB limit.
    const call = await api.request('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: '+14155552671', objective: 'x'.repeat(70_000) }),
    });
    expect(call.status).toBe(413);
  });

  it('pages newest first with a cursor, and refuses a forged cursor or a bad limit', async () => {
    const acct = await api.addAccount('pager');
    for (const n of ['+14155550201', '+14155550202', '+14155550203']) {
      expect((await add({ numbers: [n] }, acct.key)).status).toBe(200);
    }
    const first = await api.request('/v1/agent/do-not-call?limit=2', { key: acct.key });
    const p1 = (await first.json()) as { numbers: Entry[]; nextCursor: string | null };
    expect(p1.numbers.map((e) => e.number)).toEqual(['+14155550203', '+14155550202']);
    expect(p1.nextCursor).not.toBeNull();
    const second = await api.request(
      `/v1/agent/do-not-call?limit=2&cursor=${encodeURIComponent(p1.nextCursor ?? '')}`,
      { key: acct.key },
    );
    const p2 = (await second.json()) as { numbers: Entry[]; nextCursor: string | null };
    expect(p2.numbers.map((e) => e.number)).toEqual(['+14155550201']);
    expect(p2.nextCursor).toBeNull();

    for (const q of [
      'limit=0',
      'limit=1001',
      'cursor=abc',
      `cursor=${Buffer.from('["2020-02-31T00:00:00.000000Z","+14155550201"]').toString('base64url')}`,
    ]) {
      const res = await api.request(`/v1/agent/do-not-call?${q}`, { key: acct.key });
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as ErrorBody).error.code).toBe('invalid_request');
    }
  });

  it('requires an agent key', async () => {
    const res = await api.request('/v1/agent/do-not-call', { key: null });
    expect(res.status).toBe(401);
    const post = await api.request('/v1/agent/do-not-call', {
      method: 'POST',
      key: null,
      body: JSON.stringify({ numbers: ['+14155550299'] }),
    });
    expect(post.status).toBe(401);
    const rows = await api.db.db.select().from(doNotCall).where(eq(doNotCall.number, '+14155550299'));
    expect(rows).toEqual([]);
  });
});
