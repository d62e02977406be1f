import { and, asc, eq, isNull, type SQL, sql } from 'drizzle-orm';
import type { CallStore } from '../calls/call-store.js';
import { type CapLimits, effectiveCaps } from '../calls/caps.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { type AccountRow, accounts, apiKeys, calls, usageCounters } from '../db/schema.js';

/** The four per-account caps: the API's field, the account column, the CLI flag and the deployment default. */
export const CAP_FIELDS = [
  {
    name: 'callsPerMinute',
    column: 'capCallsPerMinute',
    flag: 'calls-per-minute',
    setting: 'CAP_CALLS_PER_MINUTE',
    label: 'Calls per minute',
    max: 1_000_000,
  },
  {
    name: 'concurrentCalls',
    column: 'capConcurrentCalls',
    flag: 'concurrent',
    setting: 'CAP_CONCURRENT_CALLS',
    label: 'Concurrent calls',
    max: 100_000,
  },
  {
    name: 'callsPerDay',
    column: 'capCallsPerDay',
    flag: 'calls-per-day',
    setting: 'CAP_CALLS_PER_DAY',
    label: 'Calls per day (UTC)',
    max: 10_000_000,
  },
  {
    name: 'minutesPerMonth',
    column: 'capMinutesPerMonth',
    flag: 'minutes-per-month',
    setting: 'CAP_MINUTES_PER_MONTH',
    label: 'Call minutes per month (UTC)',
    max: 100_000_000,
  },
] as const;

export type CapName = (typeof CAP_FIELDS)[number]['name'];
/** A value sets the account's own cap (0 blocks new calls); null goes back to the deployment default. */
export type CapsPatch = Partial<Record<CapName, number | null>>;
export type CapsConfig = Pick<
  Config,
  'CAP_CALLS_PER_MINUTE' | 'CAP_CONCURRENT_CALLS' | 'CAP_CALLS_PER_DAY' | 'CAP_MINUTES_PER_MONTH'
>;

export const MAX_DISABLED_REASON = 500;

export interface FieldProblem {
  field: string;
  message: string;
}

/** A refusal of an admin action; the API renders it in the spec's error format, pages at the fields. */
export class AccountAdminError extends Error {
  constructor(
    readonly code: 'not_found' | 'invalid_request',
    message: string,
    readonly fields: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'AccountAdminError';
  }
}

export interface AccountUsage {
  /** Calls created in the last 60 s: what the calls-per-minute cap counts. */
  callsLastMinute: number;
  callsToday: number;
  callSecondsThisMonth: number;
  minutesThisMonth: number;
  /** queued, dialing or in progress: what the concurrent-calls cap counts. */
  activeCalls: number;
  /** dialing or in progress: someone's phone is ringing or talking. */
  liveCalls: number;
}

export interface AdminAccountView {
  accountId: string;
  name: string;
  createdAt: Date;
  disabled: boolean;
  disabledAt: Date | null;
  disabledReason: string | null;
  /** What the caps code enforces now. */
  caps: CapLimits;
  /** The account's own values; null where the deployment default applies. */
  capOverrides: Record<CapName, number | null>;
  usage: AccountUsage;
}

export interface AdminKeyView {
  keyId: string;
  accountId: string;
  accountName: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const utcDay = (d: Date) => d.toISOString().slice(0, 10);
const utcMonthStart = (d: Date) => `${d.toISOString().slice(0, 7)}-01`;

/** The message for a cap value out of range, or null when it is fine; shared by the API, CLI and pages. */
export function capValueProblem(name: CapName, value: unknown): string | null {
  if (value === null) return null;
  const cap = CAP_FIELDS.find((f) => f.name === name);
  if (!cap) return 'is not a known cap';
  if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be a whole number or null';
  if (value < 0 || value > cap.max) return `must be between 0 and ${cap.max}`;
  return null;
}

/**
 * Reads a cap typed by a person (form field or CLI flag): empty or "default" clears the override.
 * Answers the value or the problem with it.
 */
export function parseCapText(name: CapName, text: string): { value: number | null } | { problem: string } {
  const t = text.trim();
  if (t === '' || t.toLowerCase() === 'default') return { value: null };
  if (!/^\d+$/.test(t)) return { problem: 'must be a whole number, or "default"' };
  const value = Number(t);
  const problem = capValueProblem(name, value);
  return problem ? { problem } : { value };
}

/**
 * Administration of every account without SQL: caps, disable/enable, keys across accounts. The
 * admin API, the CLI and the dashboard's admin pages all call this, so they answer alike.
 */
export class AccountAdmin {
  private readonly now: () => Date;

  constructor(private readonly deps: { db: Db; config: CapsConfig; calls: CallStore; clock?: () => Date }) {
    this.now = deps.clock ?? (() => new Date());
  }

  async listAccounts(): Promise<AdminAccountView[]> {
    const rows = await this.selectWithUsage().orderBy(asc(accounts.createdAt), asc(accounts.id));
    return rows.map((r) => this.view(r));
  }

  /** One account with caps and usage; not_found for an unknown or malformed id. */
  async getAccount(accountId: string): Promise<AdminAccountView> {
    if (!UUID.test(accountId)) throw accountNotFound(accountId);
    const [row] = await this.selectWithUsage().where(eq(accounts.id, accountId.toLowerCase()));
    if (!row) throw accountNotFound(accountId);
    return this.view(row);
  }

  /** Sets the given caps (null clears to the default); fields left out keep their value. */
  async setCaps(accountId: string, patch: CapsPatch): Promise<AdminAccountView> {
    const problems: FieldProblem[] = [];
    const set: Partial<Record<(typeof CAP_FIELDS)[number]['column'], number | null>> = {};
    for (const [name, value] of Object.entries(patch)) {
      const cap = CAP_FIELDS.find((f) => f.name === name);
      if (!cap) {
        problems.push({ field: name, message: 'is not a known cap' });
        continue;
      }
      if (value === undefined) continue;
      const problem = capValueProblem(cap.name, value);
      if (problem) problems.push({ field: name, message: problem });
      else set[cap.column] = value;
    }
    if (problems.length > 0) throw invalid(problems);
    const account = await this.getAccount(accountId);
    if (Object.keys(set).length > 0) {
      await this.deps.db.update(accounts).set(set).where(eq(accounts.id, account.accountId));
    }
    return this.getAccount(account.accountId);
  }

  /**
   * Disables the account: from this commit its keys answer 401 and it can place no call (placing
   * locks the account row and checks the flag, so no call slips in after). Its queued calls end
   * failed/account_disabled through the call store, with their events and webhooks. Calls already
   * dialing or in progress are left to finish (bounded by their maxDurationSeconds): hanging up on a
   * person mid-sentence is worse than letting a call end, and none can start after this.
   */
  async disable(
    accountId: string,
    reason: string,
  ): Promise<{ account: AdminAccountView; failedQueuedCalls: number }> {
    const why = reason.trim();
    if (why === '') throw invalid([{ field: 'reason', message: 'is required' }]);
    if (why.length > MAX_DISABLED_REASON)
      throw invalid([{ field: 'reason', message: `must be at most ${MAX_DISABLED_REASON} characters` }]);
    const { accountId: id } = await this.getAccount(accountId);
    await this.deps.db
      .update(accounts)
      .set({
        disabledAt: sql`coalesce(${accounts.disabledAt}, ${this.now().toISOString()}::timestamptz)`,
        disabledReason: why,
      })
      .where(eq(accounts.id, id));
    const queued = await this.deps.db
      .select({ id: calls.id })
      .from(calls)
      .where(and(eq(calls.accountId, id), eq(calls.status, 'queued')))
      .orderBy(asc(calls.createdAt));
    let failedQueuedCalls = 0;
    for (const q of queued) {
      // Only from queued: a call a worker began dialing meanwhile is live now, and live calls finish.
      const res = await this.deps.calls.transition(q.id, 'failed', {
        reason: 'account_disabled',
        onlyFrom: 'queued',
      });
      if (res.ok) failedQueuedCalls++;
    }
    return { account: await this.getAccount(id), failedQueuedCalls };
  }

  /** Clears the flag: the account's unrevoked keys work again and it may place calls. */
  async enable(accountId: string): Promise<AdminAccountView> {
    const { accountId: id } = await this.getAccount(accountId);
    await this.deps.db
      .update(accounts)
      .set({ disabledAt: null, disabledReason: null })
      .where(eq(accounts.id, id));
    return this.getAccount(id);
  }

  /** Agent keys across accounts (or of one), oldest first. */
  async listKeys(filter: { accountId?: string } = {}): Promise<AdminKeyView[]> {
    if (filter.accountId !== undefined) await this.getAccount(filter.accountId);
    return this.keysWhere(
      filter.accountId ? eq(apiKeys.accountId, filter.accountId.toLowerCase()) : undefined,
    );
  }

  private keysWhere(where: SQL | undefined): Promise<AdminKeyView[]> {
    return this.deps.db
      .select({
        keyId: apiKeys.id,
        accountId: apiKeys.accountId,
        accountName: accounts.name,
        prefix: apiKeys.prefix,
        createdAt: apiKeys.createdAt,
        lastUsedAt: apiKeys.lastUsedAt,
        revokedAt: apiKeys.revokedAt,
      })
      .from(apiKeys)
      .innerJoin(accounts, eq(accounts.id, apiKeys.accountId))
      .where(where)
      .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
  }

  /**
   * Revokes one agent key by id (of `opts.accountId` only, when given); revoking a revoked key changes
   * nothing (`revokedNow` false). not_found for an unknown id.
   */
  async revokeKey(
    keyId: string,
    opts: { accountId?: string } = {},
  ): Promise<{ key: AdminKeyView; revokedNow: boolean }> {
    const missing = new AccountAdminError('not_found', `No agent key with id ${keyId}.`);
    if (!UUID.test(keyId) || (opts.accountId !== undefined && !UUID.test(opts.accountId))) throw missing;
    const id = keyId.toLowerCase();
    const where = opts.accountId
      ? and(eq(apiKeys.id, id), eq(apiKeys.accountId, opts.accountId))
      : eq(apiKeys.id, id);
    const changed = await this.deps.db
      .update(apiKeys)
      .set({ revokedAt: this.now() })
      .where(and(where, isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    const [key] = await this.keysWhere(where);
    if (!key) throw missing;
    return { key, revokedNow: changed.length > 0 };
  }

  private selectWithUsage() {
    // Qualified by hand: drizzle writes a column of the selected table unqualified, and inside a
    // subquery over calls a bare "id" would be the call's.
    const outerAccountId = sql.raw('"accounts"."id"');
    const now = this.now();
    const day = utcDay(now);
    const month = utcMonthStart(now);
    return this.deps.db
      .select({
        account: accounts,
        callsLastMinute: sql<number>`(select count(*) from ${calls} where ${calls.accountId} = ${outerAccountId}
          and ${calls.createdAt} > ${new Date(now.getTime() - 60_000).toISOString()}::timestamptz)::int`,
        callsToday: sql<number>`(select coalesce(sum(${usageCounters.calls}), 0) from ${usageCounters}
          where ${usageCounters.accountId} = ${outerAccountId} and ${usageCounters.day} = ${day})::int`,
        secondsThisMonth: sql<number>`(select coalesce(sum(${usageCounters.callSeconds}), 0) from ${usageCounters}
          where ${usageCounters.accountId} = ${outerAccountId} and ${usageCounters.day} >= ${month})::int`,
        activeCalls: sql<number>`(select count(*) from ${calls} where ${calls.accountId} = ${outerAccountId}
          and ${calls.status} in ('queued', 'dialing', 'in_progress'))::int`,
        liveCalls: sql<number>`(select count(*) from ${calls} where ${calls.accountId} = ${outerAccountId}
          and ${calls.status} in ('dialing', 'in_progress'))::int`,
      })
      .from(accounts)
      .$dynamic();
  }

  private view(r: {
    account: AccountRow;
    callsLastMinute: number;
    callsToday: number;
    secondsThisMonth: number;
    activeCalls: number;
    liveCalls: number;
  }): AdminAccountView {
    const a = r.account;
    const seconds = Number(r.secondsThisMonth);
    return {
      accountId: a.id,
      name: a.name,
      createdAt: a.createdAt,
      disabled: a.disabledAt !== null,
      disabledAt: a.disabledAt,
      disabledReason: a.disabledReason,
      caps: effectiveCaps(a, this.deps.config),
      capOverrides: {
        callsPerMinute: a.capCallsPerMinute,
        concurrentCalls: a.capConcurrentCalls,
        callsPerDay: a.capCallsPerDay,
        minutesPerMonth: a.capMinutesPerMonth,
      },
      usage: {
        callsLastMinute: Number(r.callsLastMinute),
        callsToday: Number(r.callsToday),
        callSecondsThisMonth: seconds,
        minutesThisMonth: Math.floor(seconds / 60),
        activeCalls: Number(r.activeCalls),
        liveCalls: Number(r.liveCalls),
      },
    };
  }
}

function accountNotFound(accountId: string): AccountAdminError {
  return new AccountAdminError('not_found', `No account with id ${accountId}.`);
}

function invalid(problems: FieldProblem[]): AccountAdminError {
  return new AccountAdminError(
    'invalid_request',
    `Invalid request: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}.`,
    problems,
  );
}
