import crypto from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { idempotencyKeys } from '../db/schema.js';
import { CallError } from './errors.js';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/** The first answer to a key, replayed byte for byte (status, body, Location) on a retry. */
export interface StoredAnswer {
  statusCode: number;
  body: Record<string, unknown>;
  callId: string | null;
}

/** JSON with object keys sorted at every level, so `{a,b}` and `{b,a}` hash alike. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function requestHash(body: unknown): string {
  return crypto.createHash('sha256').update(canonicalJson(body)).digest('hex');
}

const conflict = () =>
  new CallError(
    'idempotency_conflict',
    'This Idempotency-Key was already used with a different request body; use a new key for a new call.',
  );

/**
 * Idempotency keys scoped to an account. The key row is inserted inside the transaction that creates
 * the call, so the primary key makes a concurrent request with the same key wait for the first one
 * to commit, and then replay its answer: two racing retries never place two calls.
 */
export class IdempotencyKeys {
  constructor(private readonly now: () => Date = () => new Date()) {}

  private cutoff(): Date {
    return new Date(this.now().getTime() - IDEMPOTENCY_TTL_MS);
  }

  private judge(
    row: {
      requestHash: string;
      statusCode: number;
      response: Record<string, unknown>;
      callId: string | null;
    },
    hash: string,
  ): StoredAnswer {
    if (row.requestHash !== hash) throw conflict();
    return { statusCode: row.statusCode, body: row.response, callId: row.callId };
  }

  /** Read-only fast path before the expensive checks: the live answer for this key, or null. */
  async find(db: Db | Tx, accountId: string, key: string, hash: string): Promise<StoredAnswer | null> {
    const [row] = await db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.accountId, accountId), eq(idempotencyKeys.key, key)))
      .limit(1);
    // status 0 never commits (complete() runs in the same transaction), but a row is only an answer once complete.
    if (!row || row.createdAt < this.cutoff() || row.statusCode === 0) return null;
    return this.judge(row, hash);
  }

  /**
   * Claims the key inside the create transaction. Returns null when this transaction now owns the
   * key (new, or an expired row replaced), or the stored answer to replay. Throws on a body mismatch.
   */
  async reserve(tx: Tx, accountId: string, key: string, hash: string): Promise<StoredAnswer | null> {
    const now = this.now();
    const claimed = await tx
      .insert(idempotencyKeys)
      .values({
        accountId,
        key,
        requestHash: hash,
        statusCode: 0,
        response: {},
        callId: null,
        createdAt: now,
      })
      .onConflictDoUpdate({
        target: [idempotencyKeys.accountId, idempotencyKeys.key],
        set: { requestHash: hash, statusCode: 0, response: {}, callId: null, createdAt: now },
        setWhere: sql`${idempotencyKeys.createdAt} < ${this.cutoff().toISOString()}::timestamptz`,
      })
      .returning({ key: idempotencyKeys.key });
    if (claimed.length > 0) return null;
    const [row] = await tx
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.accountId, accountId), eq(idempotencyKeys.key, key)))
      .limit(1);
    if (!row) throw new Error('idempotency key row vanished inside its transaction');
    return this.judge(row, hash);
  }

  /** Stores the answer for the key reserved earlier in the same transaction. */
  async complete(tx: Tx, accountId: string, key: string, answer: StoredAnswer): Promise<void> {
    await tx
      .update(idempotencyKeys)
      .set({ statusCode: answer.statusCode, response: answer.body, callId: answer.callId })
      .where(and(eq(idempotencyKeys.accountId, accountId), eq(idempotencyKeys.key, key)));
  }
}
