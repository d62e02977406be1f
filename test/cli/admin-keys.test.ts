import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminKeys } from '../../src/accounts/admin-keys.js';
import { openDatabase } from '../../src/db/client.js';
import { acquireEmbeddedLock } from '../../src/db/embedded-lock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { jsonOf, runAgentline } from './run-agentline.js';

let tdb: TestDatabase | null = null;
let dataDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-cli-admkeys-'));
  env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
  if (process.env.DATABASE_URL) {
    tdb = await createTestDatabase();
    env.DATABASE_URL = tdb.url!;
  }
});

afterAll(async () => {
  await tdb?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function withKeys<T>(fn: (k: AdminKeys) => Promise<T>): Promise<T> {
  if (tdb) return fn(new AdminKeys(tdb.db));
  const dir = path.join(dataDir, 'db');
  const lock = acquireEmbeddedLock(dir);
  const d = await openDatabase({ pgliteDir: dir });
  try {
    return await fn(new AdminKeys(d.db));
  } finally {
    await d.close();
    lock.release();
  }
}

const run = (...args: string[]) => runAgentline(args, env);

describe('agentline admin-keys', { timeout: 420_000 }, () => {
  it('mints a key shown once that authenticates, lists it without the key, and revokes it', async () => {
    const created = await run('admin-keys', 'create', '--label', 'ops laptop', '--json');
    expect(created.code, created.stderr).toBe(0);
    const { key, prefix, label } = jsonOf<{ key: string; prefix: string; label: string }>(created);
    expect(key).toMatch(/^adm_[A-Za-z0-9_-]{43}$/);
    expect(prefix).toBe(key.slice(0, 12));
    expect(label).toBe('ops laptop');
    expect(await withKeys((k) => k.authenticate(key))).toMatchObject({ keyId: expect.any(String) });

    const text = await run('admin-keys', 'create');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^adm_\S+\n\nThis is the only time the admin key is shown/);

    const listed = await run('admin-keys', 'list', '--json');
    expect(listed.stdout).not.toContain(key);
    expect(jsonOf<{ keys: { prefix: string; label: string | null }[] }>(listed).keys).toEqual(
      expect.arrayContaining([expect.objectContaining({ prefix, label: 'ops laptop' })]),
    );
    expect((await run('admin-keys', 'list')).stdout).toMatch(new RegExp(`${prefix}\\s+live\\s+ops laptop`));

    const revoked = await run('admin-keys', 'revoke', prefix, '--json');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(jsonOf(revoked)).toEqual({ revoked: 1 });
    expect(await withKeys((k) => k.authenticate(key))).toBeNull();
    expect((await run('admin-keys', 'list')).stdout).toMatch(new RegExp(`${prefix}\\s+revoked`));

    const again = await run('admin-keys', 'revoke', prefix);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no live admin key has the prefix ${prefix}`);
  });

  it('refuses a malformed prefix, a missing one and an unknown action with exit 2', async () => {
    for (const [args, message] of [
      [['admin-keys', 'revoke', 'ak_12345678'], /PREFIX must be the 12-character prefix/],
      [['admin-keys', 'revoke'], /missing PREFIX/],
      [['admin-keys', 'rotate'], /admin-keys: unknown action "rotate" \(one of: create, list, revoke\)/],
      [['admin-keys', 'create', '--name', 'x'], /admin-keys create: unknown option --name/],
    ] as const) {
      const r = await run(...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const help = await run('--help');
    expect(help.stdout).toContain('  admin-keys');
  });
});
