import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { openDatabase } from '../../src/db/client.js';
import { acquireEmbeddedLock } from '../../src/db/embedded-lock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { jsonOf, runAgentline } from './run-agentline.js';

// With DATABASE_URL the CLI gets this file's own Postgres database; without it, the embedded PGlite
// under a temp DATA_DIR, which this process opens only between CLI runs (the lock forbids otherwise).
const usePostgres = Boolean(process.env.DATABASE_URL);
let tdb: TestDatabase | null = null;
let dataDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-cli-'));
  env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
  if (usePostgres) {
    tdb = await createTestDatabase();
    env.DATABASE_URL = tdb.url!;
  }
});

afterAll(async () => {
  await tdb?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function withService<T>(fn: (s: AccountService) => Promise<T>): Promise<T> {
  const secrets = SecretBox.load({ dataDir });
  if (tdb) return fn(new AccountService(tdb.db, secrets));
  const dir = path.join(dataDir, 'db');
  const lock = acquireEmbeddedLock(dir);
  const d = await openDatabase({ pgliteDir: dir });
  try {
    return await fn(new AccountService(d.db, secrets));
  } finally {
    await d.close();
    lock.release();
  }
}

const run = (...args: string[]) => runAgentline(args, env);
const noStack = /\n\s+at .+:\d+/;

async function newAccount(name: string): Promise<string> {
  const r = await run('accounts', 'create', '--name', name, '--json');
  expect(r.code, r.stderr).toBe(0);
  return jsonOf<{ accountId: string }>(r).accountId;
}

describe('agentline admin CLI', { timeout: 180_000 }, () => {
  it('creates and lists accounts, as JSON and as text', async () => {
    const created = await run('accounts', 'create', '--name', 'Acme Dental', '--json');
    expect(created.code, created.stderr).toBe(0);
    const { accountId, name } = jsonOf<{ accountId: string; name: string }>(created);
    expect(accountId).toMatch(/^[0-9a-f-]{36}$/);
    expect(name).toBe('Acme Dental');

    const listed = jsonOf<{ accounts: { accountId: string; name: string; createdAt: string }[] }>(
      await run('accounts', 'list', '--json'),
    );
    expect(listed.accounts).toContainEqual(
      expect.objectContaining({ accountId, name: 'Acme Dental', createdAt: expect.any(String) }),
    );

    const text = await run('accounts', 'list');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`${accountId}\\s+Acme Dental`));
  });

  it('mints a key that authenticates, lists it, and revokes it by prefix', async () => {
    const accountId = await newAccount('keys');
    const minted = await run('keys', 'create', '--account', accountId, '--json');
    expect(minted.code, minted.stderr).toBe(0);
    const { key, prefix } = jsonOf<{ key: string; prefix: string }>(minted);
    expect(key).toMatch(/^ak_[A-Za-z0-9_-]{20,}$/);
    expect(prefix).toBe(key.slice(0, 11));
    expect(await withService((s) => s.authenticate(key))).toMatchObject({ accountId });

    const listed = jsonOf<{ keys: { prefix: string; revokedAt: string | null }[] }>(
      await run('keys', 'list', '--account', accountId, '--json'),
    );
    expect(listed.keys).toEqual([expect.objectContaining({ prefix, revokedAt: null })]);
    expect(JSON.stringify(listed)).not.toContain(key);

    const revoked = await run('keys', 'revoke', '--key-prefix', prefix, '--json');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(jsonOf(revoked)).toEqual({ revoked: 1 });
    expect(await withService((s) => s.authenticate(key))).toBeNull();

    const again = await run('keys', 'revoke', '--key-prefix', prefix, '--json');
    expect(again.code).toBe(1);
    expect(jsonOf(again)).toEqual({ revoked: 0 });
    expect(again.stderr).toContain(`no live key has the prefix ${prefix}`);

    const text = await run('keys', 'list', '--account', accountId);
    expect(text.stdout).toMatch(new RegExp(`${prefix}\\s+revoked`));
  });

  it('adds caller-ID numbers: the first is the default, --default moves it, duplicates are refused', async () => {
    const accountId = await newAccount('numbers');
    const first = await run('numbers', 'add', '--account', accountId, '--number', '+14155552671', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(jsonOf(first)).toEqual({ accountId, number: '+14155552671', isDefault: true });

    const second = await run('numbers', 'add', '--account', accountId, '--number', '+442079460000', '--json');
    expect(jsonOf(second)).toMatchObject({ isDefault: false });
    const third = await run(
      'numbers',
      'add',
      '--account',
      accountId,
      '--number',
      '+61212345678',
      '--default',
    );
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toContain('as its default caller ID');

    const listed = jsonOf<{ numbers: { number: string; isDefault: boolean }[] }>(
      await run('numbers', 'list', '--account', accountId, '--json'),
    );
    expect(listed.numbers).toEqual([
      { number: '+61212345678', isDefault: true },
      { number: '+14155552671', isDefault: false },
      { number: '+442079460000', isDefault: false },
    ]);

    const dup = await run('numbers', 'add', '--account', accountId, '--number', '+14155552671');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('+14155552671 is already a number of account');
    const other = await newAccount('other');
    const stolen = await run('numbers', 'add', '--account', other, '--number', '+14155552671', '--json');
    expect(stolen.code).toBe(1);
    expect(stolen.stdout).toBe('');
    expect(stolen.stderr).toContain('already belongs to another account');

    for (const bad of ['4155552671', '+1 415 555 2671', '+11235551234']) {
      const r = await run('numbers', 'add', '--account', accountId, '--number', bad);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toMatch(/--number .*(E\.164|not a valid phone number)/);
    }
    expect(await withService((s) => s.listNumbers(accountId))).toHaveLength(3);
  });

  it('shows a webhook secret that stays the same until --rotate', async () => {
    const accountId = await newAccount('webhooks');
    const a = jsonOf<{ secret: string }>(await run('webhook-secret', '--account', accountId, '--json'));
    const b = jsonOf<{ secret: string }>(await run('webhook-secret', '--account', accountId, '--json'));
    expect(a.secret).toMatch(/^whsec_/);
    expect(b.secret).toBe(a.secret);
    // The server reads the same secret to sign its deliveries.
    expect(await withService((s) => s.webhookSecret(accountId))).toBe(a.secret);

    const rotated = await run('webhook-secret', '--account', accountId, '--rotate');
    expect(rotated.code).toBe(0);
    const c = rotated.stdout.trim();
    expect(c).toMatch(/^whsec_/);
    expect(c).not.toBe(a.secret);
    const d = jsonOf<{ secret: string }>(await run('webhook-secret', '--account', accountId, '--json'));
    expect(d.secret).toBe(c);
  });

  it('refuses unknown accounts with exit 1 and a clear message, never a database error', async () => {
    for (const id of ['not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
      const r = await run('keys', 'create', '--account', id, '--json');
      expect(r.code, id).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`no account "${id}"`);
      expect(r.stderr).not.toMatch(noStack);
      expect(r.stderr).not.toMatch(/invalid input syntax|22P02/);
    }
    const w = await run('webhook-secret', '--account', 'nope');
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('no account "nope"');
  });
});

describe('agentline usage', { timeout: 60_000 }, () => {
  it.each([
    [['frob'], /unknown command "frob"/],
    [['--frob'], /unknown option --frob/],
    [['keys', 'create', '--acount', 'x'], /keys create: unknown option --acount/],
    [['keys', 'create'], /keys create: missing --account/],
    [['keys', 'create', '--account'], /keys create: --account needs a value/],
    [['keys', 'rotate'], /keys: unknown action "rotate" \(one of: create, list, revoke\)/],
    [['keys', 'revoke', '--key-prefix', 'abc'], /--key-prefix must be the 11-character prefix/],
    [['accounts', 'create', '--name', 'x', 'extra'], /unexpected argument extra/],
    [['serve', '--role', 'everything'], /--role must be one of all, api, worker/],
  ])('%j exits 2 with a message', async (args, message) => {
    const r = await runAgentline(args, { LOG_LEVEL: 'silent', DATA_DIR: os.tmpdir() });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/Run 'agentline( \w+)? --help' for usage/);
    expect(r.stderr).not.toMatch(noStack);
  });

  it('prints help for the tool and for each command', async () => {
    const all = await runAgentline(['--help'], {});
    expect(all.code).toBe(0);
    for (const c of ['serve', 'accounts', 'keys', 'numbers', 'webhook-secret'])
      expect(all.stdout).toContain(`  ${c}`);
    const keys = await runAgentline(['keys', 'revoke', '--help'], {});
    expect(keys.code).toBe(0);
    expect(keys.stdout).toContain('agentline keys revoke --key-prefix PREFIX');
    const viaHelp = await runAgentline(['help', 'numbers'], {});
    expect(viaHelp.stdout).toContain('agentline numbers add --account ID --number E164');
  });

  it('reports an unreachable database without its password or a stack trace', async () => {
    // A port that was free a moment ago: nothing accepts connections there.
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const r = await runAgentline(['accounts', 'list', '--json'], {
      DATABASE_URL: `postgres://admin:s3cret-pw@127.0.0.1:${port}/agentline`,
      DATA_DIR: os.tmpdir(),
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`cannot open the database: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(r.stderr).not.toContain('s3cret-pw');
    expect(r.stderr).not.toMatch(noStack);
  });

  it('reports bad configuration without a stack trace', async () => {
    const r = await runAgentline(['accounts', 'list'], { DATABASE_URL: 'not a url', DATA_DIR: os.tmpdir() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DATABASE_URL');
    expect(r.stderr).not.toMatch(noStack);
  });
});
