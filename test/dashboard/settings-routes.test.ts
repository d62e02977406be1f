import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/dashboard/auth/cookies.js';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { createUser } from '../../src/dashboard/auth/users.js';
import { engineRows } from '../../src/dashboard/pages/settings.js';
import { accounts } from '../../src/db/schema.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// /settings over plain HTTP: every role reads its account's caps (defaults marked) and usage, and the
// readiness report's engines and PBX link exactly as /readyz has them.

let api: TestApi;
let pbxUp = true;
const ENGINES =
  'stt: pocketsphinx (en-us, 16 kHz), tts: flite (cmu_us_slt), vad: silero v5, dialogue: llama-cpp (model.gguf, 2 threads, 1 while replying)';

beforeAll(async () => {
  api = await startTestApi({
    env: { CAP_CALLS_PER_DAY: '77' },
    checks: [
      { name: 'engines', requiredForCalls: true, check: () => ({ ok: true, detail: ENGINES }) },
      {
        name: 'pbx',
        requiredForCalls: true,
        check: () =>
          pbxUp
            ? { ok: true, detail: 'connected to ARI at http://127.0.0.1:8088 (app agentline)' }
            : { ok: false, detail: 'no ARI events connection to http://127.0.0.1:8088' },
      },
    ],
  });
});
afterAll(async () => {
  await api?.close();
});

async function viewerSession(accountId: string, email: string) {
  const { user } = await createUser(api.db.db, { accountId, email, role: 'viewer' });
  const s = await createSession(api.db.db, user.id, new Date());
  return `${SESSION_COOKIE}=${s.token}`;
}

const page = async (cookie: string) => {
  const res = await fetch(`${api.url}/settings`, {
    headers: { cookie, accept: 'text/html' },
    redirect: 'manual',
  });
  expect(res.status).toBe(200);
  return res.text();
};

describe('/settings', () => {
  it('shows a viewer the caps with defaults marked, and usage against them', async () => {
    await api.db.db.update(accounts).set({ capConcurrentCalls: 3 }).where(eq(accounts.id, api.accountId));
    expect(
      (
        await api.request('/v1/agent/calls', {
          method: 'POST',
          body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask about opening hours.' }),
        })
      ).status,
    ).toBe(201);
    const html = await page(await viewerSession(api.accountId, 'viewer@example.com'));
    const row = (cap: string) => new RegExp(`<tr data-cap="${cap}">([\\s\\S]*?)</tr>`).exec(html)?.[1] ?? '';
    expect(row('callsPerDay')).toContain('data-cap-default');
    expect(row('callsPerDay')).toMatch(/1 of 77 today/);
    expect(row('concurrentCalls')).not.toContain('data-cap-default');
    expect(row('concurrentCalls')).toContain('this account');
    expect(row('concurrentCalls')).toMatch(/1 of 3 active now/);
    expect(row('callsPerMinute')).toMatch(/1 of 10 in the last minute/);
    expect(row('minutesPerMonth')).toMatch(/0 of 10000 this month/);
    // Editing is the instance admin's, not a viewer's.
    expect(html).not.toContain('/admin/accounts/');
  });

  it('lists the engines and the PBX link as the readiness report has them', async () => {
    const cookie = await viewerSession(api.accountId, 'viewer2@example.com');
    let html = await page(cookie);
    expect(html).toMatch(/data-engine-kind="stt"[\s\S]*?pocketsphinx \(en-us, 16 kHz\)/);
    expect(html).toMatch(
      /data-engine-kind="dialogue"[\s\S]*?llama-cpp \(model.gguf, 2 threads, 1 while replying\)/,
    );
    expect(html).toContain('data-pbx-state="connected"');
    expect(html).toContain('connected to ARI at http://127.0.0.1:8088');
    expect(html).toContain('data-can-place="yes"');

    pbxUp = false;
    try {
      html = await page(cookie);
      expect(html).toContain('data-pbx-state="disconnected"');
      expect(html).toContain('data-can-place="no"');
    } finally {
      pbxUp = true;
    }
  });

  it("shows only the signed-in user's own account", async () => {
    const other = await api.addAccount('Elsewhere Ltd', '+14155550144');
    const html = await page(await viewerSession(other.accountId, 'else@example.com'));
    expect(html).toContain('Caps and usage of Elsewhere Ltd');
    expect(html).not.toContain('Caps and usage of test');
  });

  it('sends nobody signed in to the sign-in page', async () => {
    const res = await fetch(`${api.url}/settings`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^\/sign-in/);
  });
});

describe('engineRows', () => {
  it('splits the engines detail by part, keeping commas inside a model description', () => {
    expect(engineRows(ENGINES)).toEqual([
      { kind: 'stt', engine: 'pocketsphinx (en-us, 16 kHz)' },
      { kind: 'tts', engine: 'flite (cmu_us_slt)' },
      { kind: 'vad', engine: 'silero v5' },
      { kind: 'dialogue', engine: 'llama-cpp (model.gguf, 2 threads, 1 while replying)' },
    ]);
    expect(engineRows(undefined)).toEqual([]);
  });
});
