import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCredentials } from '../../src/dashboard/auth/credentials.js';
import { safeNextPath } from '../../src/dashboard/auth/next-path.js';
import { hashPassword, verifyPassword } from '../../src/dashboard/auth/passwords.js';
import { createSession, deleteSession, loadSession } from '../../src/dashboard/auth/sessions.js';
import { sha256Hex } from '../../src/dashboard/auth/tokens.js';
import {
  createUser,
  issueSignInLink,
  peekSignInLink,
  removeUser,
  setRole,
  UserError,
  useSignInLink,
} from '../../src/dashboard/auth/users.js';
import { accounts, userSessions, users } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

let tdb: TestDatabase;
let accountId: string;
const COST = 12;

beforeAll(async () => {
  tdb = await createTestDatabase();
  const [a] = await tdb.db.insert(accounts).values({ name: 'unit' }).returning({ id: accounts.id });
  accountId = a.id;
});
afterAll(async () => {
  await tdb.close();
});

let seq = 0;
async function user(role: 'owner' | 'viewer' = 'owner', password = 'correct horse battery staple') {
  const email = `u${++seq}@example.test`;
  const created = await createUser(tdb.db, { accountId, email, role, password }, { passwordCost: COST });
  return { ...created, password };
}

describe('password hashing', () => {
  it('stores scrypt$N$r$p$salt$hash with a fresh salt, and verifies only the right password', async () => {
    const a = await hashPassword('hunter2 hunter2', COST);
    const b = await hashPassword('hunter2 hunter2', COST);
    expect(a).toMatch(/^scrypt\$4096\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('hunter2 hunter2', a)).toBe(true);
    expect(await verifyPassword('hunter2 hunter3', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('never matches a malformed or absurd stored hash', async () => {
    const good = await hashPassword('pw pw pw pw pw', COST);
    const parts = good.split('$');
    expect(await verifyPassword('pw pw pw pw pw', 'plain')).toBe(false);
    expect(
      await verifyPassword('pw pw pw pw pw', ['scrypt', String(2 ** 30), ...parts.slice(2)].join('$')),
    ).toBe(false);
    expect(await verifyPassword('pw pw pw pw pw', [...parts.slice(0, 5), 'AAAA'].join('$'))).toBe(false);
  });

  it('is the default cost (2^15) for users created without a cost', async () => {
    const created = await createUser(tdb.db, {
      accountId,
      email: 'default-cost@example.test',
      role: 'viewer',
      password: 'a default cost password',
    });
    const [row] = await tdb.db.select().from(users).where(eq(users.id, created.id));
    expect(row.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
  });
});

describe('credentials and lockout', () => {
  it('signs in with any case of the email, and records the sign-in', async () => {
    const u = await user();
    const r = await checkCredentials(tdb.db, ` ${u.email.toUpperCase()} `, u.password, new Date());
    expect(r).toMatchObject({ ok: true, user: { id: u.id, role: 'owner' } });
    const [row] = await tdb.db.select().from(users).where(eq(users.id, u.id));
    expect(row.lastSignInAt).not.toBeNull();
  });

  it('locks a user after 5 wrong passwords in a row, refuses even the right one while locked, then lets it in', async () => {
    const u = await user();
    const t0 = new Date('2030-01-01T00:00:00Z');
    for (let i = 0; i < 4; i++) {
      expect(await checkCredentials(tdb.db, u.email, 'wrong', t0)).toEqual({ ok: false, reason: 'invalid' });
    }
    const fifth = await checkCredentials(tdb.db, u.email, 'wrong', t0);
    expect(fifth).toMatchObject({ ok: false, reason: 'locked' });
    const during = await checkCredentials(tdb.db, u.email, u.password, new Date(t0.getTime() + 14 * 60_000));
    expect(during).toMatchObject({ ok: false, reason: 'locked' });
    const after = await checkCredentials(
      tdb.db,
      u.email,
      u.password,
      new Date(t0.getTime() + 15 * 60_000 + 1),
    );
    expect(after).toMatchObject({ ok: true });
  });

  it('counts parallel wrong guesses exactly (no lost updates)', async () => {
    const u = await user();
    const now = new Date('2031-01-01T00:00:00Z');
    const results = await Promise.all(
      Array.from({ length: 5 }, () => checkCredentials(tdb.db, u.email, 'nope', now)),
    );
    expect(results.filter((r) => !r.ok && r.reason === 'locked')).toHaveLength(1);
    expect(await checkCredentials(tdb.db, u.email, u.password, now)).toMatchObject({ reason: 'locked' });
  });

  it('a success resets the failure count', async () => {
    const u = await user();
    const now = new Date('2032-01-01T00:00:00Z');
    for (let i = 0; i < 4; i++) await checkCredentials(tdb.db, u.email, 'wrong', now);
    expect(await checkCredentials(tdb.db, u.email, u.password, now)).toMatchObject({ ok: true });
    for (let i = 0; i < 4; i++) {
      expect(await checkCredentials(tdb.db, u.email, 'wrong', now)).toMatchObject({ reason: 'invalid' });
    }
  });

  it('answers an unknown email exactly as a known one: invalid, then locked after 5', async () => {
    const now = new Date('2033-01-01T00:00:00Z');
    for (let i = 0; i < 4; i++) {
      expect(await checkCredentials(tdb.db, 'ghost@example.test', 'x', now)).toEqual({
        ok: false,
        reason: 'invalid',
      });
    }
    expect(await checkCredentials(tdb.db, 'ghost@example.test', 'x', now)).toMatchObject({
      reason: 'locked',
    });
  });

  it('refuses a user without a password (link not used yet), and a disabled user or account only after the right password', async () => {
    const invited = await createUser(tdb.db, { accountId, email: 'invited@example.test', role: 'viewer' });
    expect(invited.signInToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await checkCredentials(tdb.db, 'invited@example.test', '', new Date())).toMatchObject({
      reason: 'invalid',
    });

    const u = await user();
    await tdb.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, u.id));
    expect(await checkCredentials(tdb.db, u.email, 'wrong', new Date())).toMatchObject({ reason: 'invalid' });
    expect(await checkCredentials(tdb.db, u.email, u.password, new Date())).toMatchObject({
      reason: 'disabled',
    });

    const [other] = await tdb.db.insert(accounts).values({ name: 'off' }).returning({ id: accounts.id });
    const v = await createUser(
      tdb.db,
      { accountId: other.id, email: 'off@example.test', role: 'owner', password: 'a fine long password' },
      { passwordCost: COST },
    );
    await tdb.db.update(accounts).set({ disabledAt: new Date() }).where(eq(accounts.id, other.id));
    expect(await checkCredentials(tdb.db, v.email, 'a fine long password', new Date())).toMatchObject({
      reason: 'disabled',
    });
  });
});

describe('sessions', () => {
  const limits = { idleMs: 60 * 60_000, absoluteMs: 24 * 60 * 60_000 };

  it('keeps only the SHA-256 of the token, and loads the user and CSRF token back', async () => {
    const u = await user('viewer');
    const now = new Date();
    const s = await createSession(tdb.db, u.id, now, limits);
    expect(s.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await tdb.db.select().from(userSessions).where(eq(userSessions.userId, u.id));
    expect(rows.map((r) => r.id)).toEqual([sha256Hex(s.token)]);
    const loaded = await loadSession(tdb.db, s.token, now, limits);
    expect(loaded).toMatchObject({
      csrfToken: s.csrfToken,
      user: { id: u.id, role: 'viewer', email: u.email },
    });
    expect(await loadSession(tdb.db, sha256Hex(s.token), now, limits)).toBeNull();
  });

  it('ends a session idle too long, and one past its absolute end however busy', async () => {
    const u = await user();
    const t0 = new Date('2034-01-01T00:00:00Z');
    const idle = await createSession(tdb.db, u.id, t0, limits);
    expect(await loadSession(tdb.db, idle.token, new Date(t0.getTime() + 61 * 60_000), limits)).toBeNull();

    const busy = await createSession(tdb.db, u.id, t0, limits);
    // Used every 50 minutes: never idle, yet over at 24 hours.
    let t = t0.getTime();
    while (t + 50 * 60_000 < t0.getTime() + limits.absoluteMs) {
      t += 50 * 60_000;
      expect(await loadSession(tdb.db, busy.token, new Date(t), limits)).not.toBeNull();
    }
    expect(
      await loadSession(tdb.db, busy.token, new Date(t0.getTime() + limits.absoluteMs), limits),
    ).toBeNull();
  });

  it('stops working when the user or its account is disabled, and after sign-out', async () => {
    const u = await user();
    const now = new Date();
    const s1 = await createSession(tdb.db, u.id, now, limits);
    await deleteSession(tdb.db, s1.token);
    expect(await loadSession(tdb.db, s1.token, now, limits)).toBeNull();

    const s3 = await createSession(tdb.db, u.id, now, limits);
    await tdb.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, u.id));
    expect(await loadSession(tdb.db, s3.token, now, limits)).toBeNull();

    const [acct] = await tdb.db.insert(accounts).values({ name: 'soon off' }).returning({ id: accounts.id });
    const v = await createUser(
      tdb.db,
      {
        accountId: acct.id,
        email: 'soon-off@example.test',
        role: 'owner',
        password: 'another long password',
      },
      { passwordCost: COST },
    );
    const s2 = await createSession(tdb.db, v.id, now, limits);
    expect(await loadSession(tdb.db, s2.token, now, limits)).not.toBeNull();
    await tdb.db.update(accounts).set({ disabledAt: new Date() }).where(eq(accounts.id, acct.id));
    expect(await loadSession(tdb.db, s2.token, now, limits)).toBeNull();
    await tdb.db.update(accounts).set({ disabledAt: null }).where(eq(accounts.id, acct.id));
    // The disabled account's sessions were deleted, not just skipped.
    expect(await loadSession(tdb.db, s2.token, now, limits)).toBeNull();
  });
});

describe('one-time sign-in links', () => {
  it('sets the password once; a second use, an old link or an expired one does nothing', async () => {
    const t0 = new Date();
    const created = await createUser(
      tdb.db,
      { accountId, email: 'link@example.test', role: 'viewer' },
      { now: t0 },
    );
    const token = created.signInToken!;
    expect((await peekSignInLink(tdb.db, token, t0))?.email).toBe('link@example.test');
    await expect(useSignInLink(tdb.db, token, 'short', t0, COST)).rejects.toBeInstanceOf(UserError);
    const used = await useSignInLink(tdb.db, token, 'my new long password', t0, COST);
    expect(used?.email).toBe('link@example.test');
    expect(await useSignInLink(tdb.db, token, 'another long password', t0, COST)).toBeNull();
    expect(await checkCredentials(tdb.db, 'link@example.test', 'my new long password', t0)).toMatchObject({
      ok: true,
    });

    const first = await issueSignInLink(tdb.db, 'link@example.test', t0);
    const second = await issueSignInLink(tdb.db, 'link@example.test', t0);
    expect(await peekSignInLink(tdb.db, first, t0)).toBeNull();
    const late = new Date(t0.getTime() + 48 * 60 * 60_000 + 1);
    expect(await peekSignInLink(tdb.db, second, late)).toBeNull();
    expect(await useSignInLink(tdb.db, second, 'yet another long password', late, COST)).toBeNull();
  });
});

describe('roles', () => {
  it('never leaves an account without an owner', async () => {
    const [acct] = await tdb.db.insert(accounts).values({ name: 'owners' }).returning({ id: accounts.id });
    const a = await createUser(tdb.db, { accountId: acct.id, email: 'o1@example.test', role: 'owner' });
    const b = await createUser(tdb.db, { accountId: acct.id, email: 'o2@example.test', role: 'viewer' });
    await expect(setRole(tdb.db, acct.id, a.id, 'viewer')).rejects.toMatchObject({ code: 'last_owner' });
    await expect(removeUser(tdb.db, acct.id, a.id)).rejects.toMatchObject({ code: 'last_owner' });
    await setRole(tdb.db, acct.id, b.id, 'owner');
    await setRole(tdb.db, acct.id, a.id, 'viewer');
    await removeUser(tdb.db, acct.id, a.id);
    // Another account's owner cannot reach this account's users.
    await expect(removeUser(tdb.db, accountId, b.id)).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('the next= parameter', () => {
  it('keeps local paths and turns everything else into /calls', () => {
    expect(safeNextPath('/calls/abc?x=1#t')).toBe('/calls/abc?x=1#t');
    for (const bad of [
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      'javascript:alert(1)',
      '/\nfoo',
      '',
      null,
      '/sign-in?next=/x',
    ]) {
      expect(safeNextPath(bad as string)).toBe('/calls');
    }
  });
});
