import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCredentials } from '../../src/dashboard/auth/credentials.js';
import { createSession, loadSession } from '../../src/dashboard/auth/sessions.js';
import { findUserByEmail, peekSignInLink } from '../../src/dashboard/auth/users.js';
import { type Db, openDatabase } from '../../src/db/client.js';
import { acquireEmbeddedLock } from '../../src/db/embedded-lock.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { BIN, type CliResult, jsonOf, runAgentline } from './run-agentline.js';

// As in admin-cli.test.ts: this file's own Postgres database, or the embedded PGlite under a temp
// DATA_DIR that this process opens only between CLI runs.
let tdb: TestDatabase | null = null;
let dataDir: string;
let env: Record<string, string>;
const BASE = 'https://console.example.test';

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-users-cli-'));
  env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent', PUBLIC_BASE_URL: BASE };
  if (process.env.DATABASE_URL) {
    tdb = await createTestDatabase();
    env.DATABASE_URL = tdb.url!;
  }
});

afterAll(async () => {
  await tdb?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  if (tdb) return fn(tdb.db);
  const dir = path.join(dataDir, 'db');
  const lock = acquireEmbeddedLock(dir);
  const d = await openDatabase({ pgliteDir: dir });
  try {
    return await fn(d.db);
  } finally {
    await d.close();
    lock.release();
  }
}

const run = (...args: string[]) => runAgentline(args, env);

/** The real CLI with `input` piped to its standard input (runAgentline gives it none). */
function runWithStdin(args: string[], input: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...TEST_CALL_WINDOW, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

async function newAccount(name: string): Promise<string> {
  const r = await run('accounts', 'create', '--name', name, '--json');
  expect(r.code, r.stderr).toBe(0);
  return jsonOf<{ accountId: string }>(r).accountId;
}

const LINK = new RegExp(`^${BASE}/sign-in/link/([A-Za-z0-9_-]{43})$`);

describe('agentline users', { timeout: 180_000 }, () => {
  it('creates a user with a one-time sign-in link (stored hashed), and lists it as invited', async () => {
    const accountId = await newAccount('links');
    const r = await run(
      'users',
      'create',
      '--account',
      accountId,
      '--email',
      ' Ann@Example.TEST ',
      '--role',
      'owner',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const out = jsonOf<{
      userId: string;
      email: string;
      role: string;
      instanceAdmin: boolean;
      signInUrl: string;
    }>(r);
    expect(out).toMatchObject({ email: 'ann@example.test', role: 'owner', instanceAdmin: false, accountId });
    const token = LINK.exec(out.signInUrl)?.[1];
    expect(token, out.signInUrl).toBeTruthy();
    await withDb(async (db) => {
      expect((await peekSignInLink(db, token!, new Date()))?.email).toBe('ann@example.test');
      // Only the hash is kept.
      const row = await findUserByEmail(db, 'ann@example.test');
      expect(JSON.stringify(row)).not.toContain(token!);
    });

    const text = await run('users', 'create', '--account', accountId, '--email', 'bob@example.test');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('created viewer bob@example.test');
    expect(text.stdout).toMatch(new RegExp(`\\n  ${BASE}/sign-in/link/[A-Za-z0-9_-]{43}\\n`));
    expect(text.stdout).toContain('only time the link is shown');

    const listed = jsonOf<{ users: { email: string; role: string; hasPassword: boolean }[] }>(
      await run('users', 'list', '--account', accountId, '--json'),
    );
    expect(listed.users.map((u) => [u.email, u.role, u.hasPassword])).toEqual([
      ['ann@example.test', 'owner', false],
      ['bob@example.test', 'viewer', false],
    ]);
    const table = await run('users', 'list', '--account', accountId);
    expect(table.stdout).toMatch(/ann@example\.test\s+owner\s+no\s+invited/);
  });

  it('sets a password from standard input, which then signs in; never echoes it', async () => {
    const accountId = await newAccount('stdin');
    const password = 'a long enough passphrase';
    const r = await runWithStdin(
      [
        'users',
        'create',
        '--account',
        accountId,
        '--email',
        'cat@example.test',
        '--password-stdin',
        '--admin',
        '--json',
      ],
      `${password}\n`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(jsonOf(r)).toMatchObject({ email: 'cat@example.test', instanceAdmin: true, signInUrl: null });
    expect(r.stdout + r.stderr).not.toContain(password);
    await withDb(async (db) => {
      const ok = await checkCredentials(db, 'cat@example.test', password, new Date());
      expect(ok).toMatchObject({ ok: true, user: { email: 'cat@example.test', instanceAdmin: true } });
    });

    const weak = await runWithStdin(
      ['users', 'create', '--account', accountId, '--email', 'dan@example.test', '--password-stdin'],
      'short\n',
    );
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain('at least 12 characters');
  });

  it('refuses a taken email, an unknown account, a bad role and a bad email, without a stack', async () => {
    const accountId = await newAccount('refusals');
    expect((await run('users', 'create', '--account', accountId, '--email', 'eve@example.test')).code).toBe(
      0,
    );
    const taken = await run('users', 'create', '--account', accountId, '--email', 'EVE@example.test');
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('already exists');

    const unknown = await run(
      'users',
      'create',
      '--account',
      '00000000-0000-4000-8000-000000000000',
      '--email',
      'x@example.test',
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no account');

    const role = await run(
      'users',
      'create',
      '--account',
      accountId,
      '--email',
      'y@example.test',
      '--role',
      'admin',
    );
    expect(role.code).toBe(2);
    expect(role.stderr).toContain('--role must be owner or viewer');

    const email = await run('users', 'create', '--account', accountId, '--email', 'not-an-email');
    expect(email.code).toBe(1);
    expect(email.stderr).toContain('is not an email address');
    for (const x of [taken, unknown, role, email]) expect(x.stderr).not.toMatch(/\n\s+at .+:\d+/);
  });

  it('makes and unmakes an instance admin, reissues a link (the old one dies), removes a user', async () => {
    const accountId = await newAccount('admin');
    const created = jsonOf<{ signInUrl: string }>(
      await run('users', 'create', '--account', accountId, '--email', 'fay@example.test', '--json'),
    );
    const oldToken = LINK.exec(created.signInUrl)![1];

    const on = await run('users', 'set-admin', '--email', 'fay@example.test', '--json');
    expect(jsonOf(on)).toEqual({ email: 'fay@example.test', instanceAdmin: true });
    await withDb(async (db) =>
      expect((await findUserByEmail(db, 'fay@example.test'))?.instanceAdmin).toBe(true),
    );
    const off = await run('users', 'set-admin', '--email', 'fay@example.test', '--off');
    expect(off.stdout).toContain('no longer an instance admin');
    await withDb(async (db) =>
      expect((await findUserByEmail(db, 'fay@example.test'))?.instanceAdmin).toBe(false),
    );

    const reset = jsonOf<{ signInUrl: string }>(
      await run('users', 'reset', '--email', 'fay@example.test', '--json'),
    );
    const newToken = LINK.exec(reset.signInUrl)![1];
    expect(newToken).not.toBe(oldToken);
    await withDb(async (db) => {
      expect(await peekSignInLink(db, oldToken, new Date())).toBeNull();
      expect((await peekSignInLink(db, newToken, new Date()))?.email).toBe('fay@example.test');
    });

    const removed = await run('users', 'remove', '--email', 'fay@example.test', '--json');
    expect(jsonOf(removed)).toMatchObject({ removed: 'fay@example.test', ownersLeft: 0 });
    // fay was a viewer: the account had no owner before either, and the operator is told so.
    expect(removed.stderr).toContain(`account ${accountId} has no owner now`);
    await withDb(async (db) => expect(await findUserByEmail(db, 'fay@example.test')).toBeNull());
    const again = await run('users', 'remove', '--email', 'fay@example.test');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no user with the email fay@example.test');

    const missing = await run('users', 'reset', '--email', 'nobody@example.test');
    expect(missing.code).toBe(1);
  });

  it('disables a user (sign-in refused, sessions ended, listed as disabled) and enables it again', async () => {
    const accountId = await newAccount('disable');
    const password = 'a long enough passphrase';
    const made = await runWithStdin(
      ['users', 'create', '--account', accountId, '--email', 'zoe@example.test', '--password-stdin'],
      `${password}\n`,
    );
    expect(made.code, made.stderr).toBe(0);
    const sessionToken = await withDb(async (db) => {
      const ok = await checkCredentials(db, 'zoe@example.test', password, new Date());
      if (!ok.ok) throw new Error('sign-in failed before disabling');
      return (await createSession(db, ok.user.id, new Date())).token;
    });

    const off = await run('users', 'disable', '--email', 'zoe@example.test', '--json');
    expect(off.code, off.stderr).toBe(0);
    expect(jsonOf(off)).toEqual({ email: 'zoe@example.test', disabled: true });
    await withDb(async (db) => {
      expect(await checkCredentials(db, 'zoe@example.test', password, new Date())).toMatchObject({
        ok: false,
        reason: 'disabled',
      });
      expect(await loadSession(db, sessionToken, new Date())).toBeNull();
    });
    const listed = await run('users', 'list', '--account', accountId, '--json');
    expect(jsonOf(listed).users).toEqual([
      expect.objectContaining({ email: 'zoe@example.test', disabled: true }),
    ]);

    const on = await run('users', 'enable', '--email', 'zoe@example.test');
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain('may sign in again');
    await withDb(async (db) => {
      expect(await checkCredentials(db, 'zoe@example.test', password, new Date())).toMatchObject({
        ok: true,
      });
    });
  });

  it('shows its usage, and says which action is unknown', async () => {
    const help = await run('users', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('agentline users create --account ID --email EMAIL');
    const bad = await run('users', 'frobnicate');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown action "frobnicate"');
    const all = await run('--help');
    expect(all.stdout).toMatch(/users\s+add, list and remove dashboard users/);
  });
});
