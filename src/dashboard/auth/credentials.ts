import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { accounts, users } from '../../db/schema.js';
import type { DashboardUser } from '../types.js';
import { burnPasswordCheck, MAX_PASSWORD_LENGTH, verifyPassword } from './passwords.js';
import { normalizeEmail } from './users.js';

export interface LockoutPolicy {
  /** Consecutive failures that lock an email. */
  maxFailures: number;
  /** How long it stays locked. */
  lockMs: number;
}

export const DEFAULT_LOCKOUT: LockoutPolicy = { maxFailures: 5, lockMs: 15 * 60 * 1000 };

export type CredentialResult =
  | { ok: true; user: DashboardUser }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'locked'; until: Date }
  | { ok: false; reason: 'disabled' };

/**
 * Failures of emails that have no user, counted in memory exactly as a user's are in the database, so
 * "locked" is not a tell that an address exists. Bounded: the oldest entries go first.
 */
class PhantomLockouts {
  private readonly entries = new Map<string, { failures: number; lockedUntil: number }>();
  constructor(private readonly max = 10_000) {}

  lockedUntil(email: string, now: number): number | null {
    const e = this.entries.get(email);
    return e && e.lockedUntil > now ? e.lockedUntil : null;
  }

  fail(email: string, now: number, policy: LockoutPolicy): number | null {
    const e = this.entries.get(email) ?? { failures: 0, lockedUntil: 0 };
    this.entries.delete(email);
    e.failures += 1;
    if (e.failures >= policy.maxFailures) {
      e.failures = 0;
      e.lockedUntil = now + policy.lockMs;
    }
    this.entries.set(email, e);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
    return e.lockedUntil > now ? e.lockedUntil : null;
  }
}

const phantoms = new PhantomLockouts();

/**
 * Checks an email and password with the same scrypt work whether or not the email exists. A locked
 * user is refused even with the right password (and the attempt does not extend the lock); after
 * `maxFailures` wrong ones in a row the user is locked for `lockMs`. A disabled user or account is
 * told so only after the right password, so it reveals nothing to a guesser.
 */
export async function checkCredentials(
  db: Db,
  emailInput: string,
  password: string,
  now: Date,
  policy: LockoutPolicy = DEFAULT_LOCKOUT,
): Promise<CredentialResult> {
  const email = normalizeEmail(emailInput).slice(0, 320);
  const attempt = password.slice(0, MAX_PASSWORD_LENGTH);
  const [row] = email
    ? await db
        .select({
          id: users.id,
          accountId: users.accountId,
          email: users.email,
          role: users.role,
          instanceAdmin: users.instanceAdmin,
          passwordHash: users.passwordHash,
          lockedUntil: users.lockedUntil,
          disabledAt: users.disabledAt,
          accountDisabledAt: accounts.disabledAt,
        })
        .from(users)
        .innerJoin(accounts, eq(accounts.id, users.accountId))
        .where(eq(users.email, email))
    : [];

  if (!row) {
    await burnPasswordCheck(attempt);
    const locked = phantoms.lockedUntil(email, now.getTime());
    if (locked) return { ok: false, reason: 'locked', until: new Date(locked) };
    const nowLocked = phantoms.fail(email, now.getTime(), policy);
    return nowLocked
      ? { ok: false, reason: 'locked', until: new Date(nowLocked) }
      : { ok: false, reason: 'invalid' };
  }

  const matches = row.passwordHash
    ? await verifyPassword(attempt, row.passwordHash)
    : await burnPasswordCheck(attempt);
  if (row.lockedUntil && row.lockedUntil > now)
    return { ok: false, reason: 'locked', until: row.lockedUntil };

  if (!matches) {
    // One statement, so parallel guesses cannot each read the same count and slip past the limit.
    const [counted] = await db
      .update(users)
      .set({
        failedSignIns: sql`case when ${users.failedSignIns} + 1 >= ${policy.maxFailures} then 0 else ${users.failedSignIns} + 1 end`,
        lockedUntil: sql`case when ${users.failedSignIns} + 1 >= ${policy.maxFailures} then ${new Date(now.getTime() + policy.lockMs).toISOString()}::timestamptz else ${users.lockedUntil} end`,
      })
      .where(eq(users.id, row.id))
      .returning({ lockedUntil: users.lockedUntil });
    if (counted?.lockedUntil && counted.lockedUntil > now) {
      return { ok: false, reason: 'locked', until: counted.lockedUntil };
    }
    return { ok: false, reason: 'invalid' };
  }

  if (row.disabledAt || row.accountDisabledAt) return { ok: false, reason: 'disabled' };
  await db
    .update(users)
    .set({ failedSignIns: 0, lockedUntil: null, lastSignInAt: now })
    .where(eq(users.id, row.id));
  return {
    ok: true,
    user: {
      id: row.id,
      accountId: row.accountId,
      email: row.email,
      role: row.role === 'owner' ? 'owner' : 'viewer',
      instanceAdmin: row.instanceAdmin,
    },
  };
}
