import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { accounts, type UserRow, users } from '../../db/schema.js';
import type { DashboardUser } from '../types.js';
import { DEFAULT_PASSWORD_COST, hashPassword, passwordProblem } from './passwords.js';
import { deleteUserSessions } from './sessions.js';
import { randomToken, sha256Hex } from './tokens.js';

export type Role = 'owner' | 'viewer';

/** How long a one-time sign-in link works; `users reset` issues a new one. */
export const SIGN_IN_LINK_TTL_MS = 48 * 60 * 60 * 1000;

export type UserErrorCode =
  | 'invalid_email'
  | 'email_taken'
  | 'unknown_account'
  | 'not_found'
  | 'last_owner'
  | 'weak_password'
  | 'invalid_role';

/** A refusal an operator can act on; the CLI and the /users page show its message as is. */
export class UserError extends Error {
  constructor(
    readonly code: UserErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Emails are stored lower-cased and trimmed, so sign-in matches however they are typed. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function checkEmail(email: string): string {
  const e = normalizeEmail(email);
  if (e.length > 254 || !EMAIL.test(e)) {
    throw new UserError('invalid_email', `${JSON.stringify(email)} is not an email address`);
  }
  return e;
}

function checkRole(role: string): Role {
  if (role !== 'owner' && role !== 'viewer') {
    throw new UserError('invalid_role', `role must be owner or viewer, not ${JSON.stringify(role)}`);
  }
  return role;
}

export interface UserSummary extends DashboardUser {
  hasPassword: boolean;
  createdAt: Date;
  lastSignInAt: Date | null;
  lockedUntil: Date | null;
  disabledAt: Date | null;
}

const summaryColumns = {
  id: users.id,
  accountId: users.accountId,
  email: users.email,
  role: users.role,
  instanceAdmin: users.instanceAdmin,
  passwordHash: users.passwordHash,
  createdAt: users.createdAt,
  lastSignInAt: users.lastSignInAt,
  lockedUntil: users.lockedUntil,
  disabledAt: users.disabledAt,
};

type SummaryRow = Pick<UserRow, keyof typeof summaryColumns>;

function toSummary(r: SummaryRow): UserSummary {
  return {
    id: r.id,
    accountId: r.accountId,
    email: r.email,
    role: r.role === 'owner' ? 'owner' : 'viewer',
    instanceAdmin: r.instanceAdmin,
    hasPassword: r.passwordHash !== null,
    createdAt: r.createdAt,
    lastSignInAt: r.lastSignInAt,
    lockedUntil: r.lockedUntil,
    disabledAt: r.disabledAt,
  };
}

export interface CreateUserInput {
  accountId: string;
  email: string;
  role: Role;
  instanceAdmin?: boolean;
  /** Set now; without it the user gets a one-time sign-in link that sets one. */
  password?: string;
}

/** The new user's fields, also as `user` (both spellings are in use by callers). */
export interface CreatedUser extends DashboardUser {
  user: DashboardUser;
  /** The one-time sign-in token (for `/sign-in/link/<token>`), or null when a password was given. */
  signInToken: string | null;
}

/**
 * Adds a dashboard user to an account. With a password the user can sign in at once; without one,
 * the returned token is the only way in, shown once and stored hashed.
 */
export async function createUser(
  db: Db,
  input: CreateUserInput,
  opts: { now?: Date; passwordCost?: number } = {},
): Promise<CreatedUser> {
  const email = checkEmail(input.email);
  const role = checkRole(input.role);
  const now = opts.now ?? new Date();
  const [account] = await db
    .select({ id: accounts.id })
    .from(accounts)
    .where(sql`${accounts.id}::text = ${input.accountId}`);
  if (!account) throw new UserError('unknown_account', `no account ${JSON.stringify(input.accountId)}`);
  let passwordHash: string | null = null;
  if (input.password !== undefined) {
    const problem = passwordProblem(input.password);
    if (problem) throw new UserError('weak_password', `the password ${problem}`);
    passwordHash = await hashPassword(input.password, opts.passwordCost ?? DEFAULT_PASSWORD_COST);
  }
  const signInToken = passwordHash ? null : randomToken();
  const rows = await db
    .insert(users)
    .values({
      accountId: account.id,
      email,
      role,
      instanceAdmin: input.instanceAdmin ?? false,
      passwordHash,
      signInTokenHash: signInToken ? sha256Hex(signInToken) : null,
      signInTokenExpiresAt: signInToken ? new Date(now.getTime() + SIGN_IN_LINK_TTL_MS) : null,
      createdAt: now,
    })
    .onConflictDoNothing({ target: users.email })
    .returning({ id: users.id });
  if (rows.length === 0) throw new UserError('email_taken', `a user with the email ${email} already exists`);
  const user: DashboardUser = {
    id: rows[0].id,
    accountId: account.id,
    email,
    role,
    instanceAdmin: input.instanceAdmin ?? false,
  };
  return { ...user, user, signInToken };
}

/** The link a one-time token is used at: the "set your password" page. */
export function signInLinkUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/sign-in/link/${token}`;
}

export async function listUsers(db: Db, accountId: string): Promise<UserSummary[]> {
  const rows = await db
    .select(summaryColumns)
    .from(users)
    .where(sql`${users.accountId}::text = ${accountId}`)
    .orderBy(asc(users.createdAt), asc(users.email));
  return rows.map(toSummary);
}

export async function findUserByEmail(db: Db, email: string): Promise<UserSummary | null> {
  const [row] = await db
    .select(summaryColumns)
    .from(users)
    .where(eq(users.email, normalizeEmail(email)));
  return row ? toSummary(row) : null;
}

export async function findUserById(db: Db, id: string): Promise<UserSummary | null> {
  const [row] = await db.select(summaryColumns).from(users).where(sql`${users.id}::text = ${id}`);
  return row ? toSummary(row) : null;
}

async function requireUserByEmail(db: Db, email: string): Promise<UserSummary> {
  const user = await findUserByEmail(db, email);
  if (!user) throw new UserError('not_found', `no user with the email ${normalizeEmail(email)}`);
  return user;
}

async function ownerCount(db: Db, accountId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(users)
    .where(and(eq(users.accountId, accountId), eq(users.role, 'owner')));
  return Number(row?.n ?? 0);
}

/** A new one-time link for a user (lost link, forgotten password); the previous link stops working. */
export async function issueSignInLink(db: Db, email: string, now = new Date()): Promise<string> {
  const user = await requireUserByEmail(db, email);
  const token = randomToken();
  await db
    .update(users)
    .set({
      signInTokenHash: sha256Hex(token),
      signInTokenExpiresAt: new Date(now.getTime() + SIGN_IN_LINK_TTL_MS),
    })
    .where(eq(users.id, user.id));
  return token;
}

/** The user a live one-time token belongs to, without using it up (the GET of the link's form). */
export async function peekSignInLink(db: Db, token: string, now: Date): Promise<UserSummary | null> {
  if (!token || token.length > 200) return null;
  const [row] = await db
    .select(summaryColumns)
    .from(users)
    .where(and(eq(users.signInTokenHash, sha256Hex(token)), gt(users.signInTokenExpiresAt, now)));
  return row ? toSummary(row) : null;
}

/**
 * Uses a one-time token to set the user's password: atomic, so two tabs cannot both use it. Every
 * other session of the user ends and any lockout is lifted. Null when the token is unknown, used or old.
 */
export async function useSignInLink(
  db: Db,
  token: string,
  password: string,
  now: Date,
  passwordCost = DEFAULT_PASSWORD_COST,
): Promise<UserSummary | null> {
  const problem = passwordProblem(password);
  if (problem) throw new UserError('weak_password', `The password ${problem}.`);
  if (!token || token.length > 200) return null;
  const passwordHash = await hashPassword(password, passwordCost);
  const [row] = await db
    .update(users)
    .set({
      passwordHash,
      signInTokenHash: null,
      signInTokenExpiresAt: null,
      failedSignIns: 0,
      lockedUntil: null,
    })
    .where(and(eq(users.signInTokenHash, sha256Hex(token)), gt(users.signInTokenExpiresAt, now)))
    .returning({ id: users.id });
  if (!row) return null;
  await deleteUserSessions(db, row.id);
  return findUserById(db, row.id);
}

/** Disables a user (sign-in refused, sessions ended) or enables it again; its history stays. */
export async function setUserDisabled(
  db: Db,
  email: string,
  disabled: boolean,
  now = new Date(),
): Promise<UserSummary> {
  const user = await requireUserByEmail(db, email);
  await db
    .update(users)
    .set({ disabledAt: disabled ? (user.disabledAt ?? now) : null })
    .where(eq(users.id, user.id));
  if (disabled) await deleteUserSessions(db, user.id);
  return { ...user, disabledAt: disabled ? (user.disabledAt ?? now) : null };
}

export async function setInstanceAdmin(db: Db, email: string, on: boolean): Promise<UserSummary> {
  const user = await requireUserByEmail(db, email);
  await db.update(users).set({ instanceAdmin: on }).where(eq(users.id, user.id));
  return { ...user, instanceAdmin: on };
}

/** Changes a user's role within its account; the account always keeps an owner. */
export async function setRole(db: Db, accountId: string, userId: string, role: Role): Promise<UserSummary> {
  const next = checkRole(role);
  return db.transaction(async (tx) => {
    const user = await findUserById(tx as unknown as Db, userId);
    if (!user || user.accountId !== accountId) throw new UserError('not_found', 'no such user');
    // Locks the account's owners so two demotions at once cannot both pass the count.
    await tx.execute(sql`select id from users where account_id = ${accountId} and role = 'owner' for update`);
    if (
      user.role === 'owner' &&
      next !== 'owner' &&
      (await ownerCount(tx as unknown as Db, accountId)) <= 1
    ) {
      throw new UserError(
        'last_owner',
        `${user.email} is the account's last owner; make someone else owner first`,
      );
    }
    await tx.update(users).set({ role: next }).where(eq(users.id, userId));
    return { ...user, role: next };
  });
}

/** Deletes a user (its sessions go with it); never the account's last owner. */
export async function removeUser(db: Db, accountId: string, userId: string): Promise<UserSummary> {
  return db.transaction(async (tx) => {
    const user = await findUserById(tx as unknown as Db, userId);
    if (!user || user.accountId !== accountId) throw new UserError('not_found', 'no such user');
    await tx.execute(sql`select id from users where account_id = ${accountId} and role = 'owner' for update`);
    if (user.role === 'owner' && (await ownerCount(tx as unknown as Db, accountId)) <= 1) {
      throw new UserError('last_owner', `${user.email} is the account's last owner and cannot be removed`);
    }
    await tx.delete(users).where(eq(users.id, userId));
    return user;
  });
}

/** Removes a user by email (the CLI): the operator may remove a last owner, on purpose. */
export async function removeUserByEmail(db: Db, email: string): Promise<UserSummary> {
  const user = await requireUserByEmail(db, email);
  await db.delete(users).where(eq(users.id, user.id));
  return user;
}
