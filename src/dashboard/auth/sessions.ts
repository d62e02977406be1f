import { and, eq, lt, ne, or } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { accounts, userSessions, users } from '../../db/schema.js';
import type { DashboardUser } from '../types.js';
import { randomToken, sha256Hex } from './tokens.js';

export interface SessionLimits {
  /** A session unused this long ends. */
  idleMs: number;
  /** A session ends this long after sign-in, however busy. */
  absoluteMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  idleMs: 12 * 60 * 60 * 1000,
  absoluteMs: 7 * 24 * 60 * 60 * 1000,
};

/** lastSeenAt is written at most this often, so page views are not each a write. */
const TOUCH_EVERY_MS = 60 * 1000;

export interface LoadedSession {
  /** SHA-256 of the cookie token: the row's id. */
  id: string;
  user: DashboardUser;
  csrfToken: string;
}

/** Starts a session: the token goes in the cookie, only its hash in the database. */
export async function createSession(
  db: Db,
  userId: string,
  now: Date,
  limits: SessionLimits = DEFAULT_SESSION_LIMITS,
): Promise<{ token: string; csrfToken: string; expiresAt: Date }> {
  const token = randomToken();
  const csrfToken = randomToken();
  const expiresAt = new Date(now.getTime() + limits.absoluteMs);
  await db.insert(userSessions).values({
    id: sha256Hex(token),
    userId,
    csrfToken,
    createdAt: now,
    lastSeenAt: now,
    expiresAt,
  });
  // Ended sessions of anyone are swept on each sign-in: cheap, and the table never grows unbounded.
  await db
    .delete(userSessions)
    .where(
      or(
        lt(userSessions.expiresAt, now),
        lt(userSessions.lastSeenAt, new Date(now.getTime() - limits.idleMs)),
      ),
    );
  return { token, csrfToken, expiresAt };
}

/**
 * The live session behind a cookie token, or null: unknown, idle too long, past its absolute end,
 * or its user or account disabled (those rows are deleted so the cookie is dead for good).
 */
export async function loadSession(
  db: Db,
  token: string,
  now: Date,
  limits: SessionLimits = DEFAULT_SESSION_LIMITS,
): Promise<LoadedSession | null> {
  if (!token || token.length > 200) return null;
  const id = sha256Hex(token);
  const [row] = await db
    .select({
      csrfToken: userSessions.csrfToken,
      lastSeenAt: userSessions.lastSeenAt,
      expiresAt: userSessions.expiresAt,
      userId: users.id,
      accountId: users.accountId,
      email: users.email,
      role: users.role,
      instanceAdmin: users.instanceAdmin,
      userDisabledAt: users.disabledAt,
      accountDisabledAt: accounts.disabledAt,
    })
    .from(userSessions)
    .innerJoin(users, eq(users.id, userSessions.userId))
    .innerJoin(accounts, eq(accounts.id, users.accountId))
    .where(eq(userSessions.id, id));
  if (!row) return null;
  const idle = now.getTime() - row.lastSeenAt.getTime() > limits.idleMs;
  if (idle || row.expiresAt <= now || row.userDisabledAt || row.accountDisabledAt) {
    await db.delete(userSessions).where(eq(userSessions.id, id));
    return null;
  }
  if (now.getTime() - row.lastSeenAt.getTime() > TOUCH_EVERY_MS) {
    await db.update(userSessions).set({ lastSeenAt: now }).where(eq(userSessions.id, id));
  }
  return {
    id,
    csrfToken: row.csrfToken,
    user: {
      id: row.userId,
      accountId: row.accountId,
      email: row.email,
      role: row.role === 'owner' ? 'owner' : 'viewer',
      instanceAdmin: row.instanceAdmin,
    },
  };
}

/** Sign-out: the row goes, so the cookie is worthless even if it was copied. */
export async function deleteSession(db: Db, token: string): Promise<void> {
  await db.delete(userSessions).where(eq(userSessions.id, sha256Hex(token)));
}

/** Ends every session of a user (password set anew, role changed, removed), optionally but one. */
export async function deleteUserSessions(db: Db, userId: string, exceptId?: string): Promise<void> {
  await db
    .delete(userSessions)
    .where(
      exceptId
        ? and(eq(userSessions.userId, userId), ne(userSessions.id, exceptId))
        : eq(userSessions.userId, userId),
    );
}
