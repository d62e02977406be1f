import crypto from 'node:crypto';
import { and, count, eq, sql } from 'drizzle-orm';
import { ACTIVE_STATUSES, CALL_STATUSES, type CallStatus } from '../calls/status.js';
import type { Tx } from '../db/client.js';
import { type BatchRow, batches, calls, webhookDeliveries } from '../db/schema.js';

/** How many of a batch's calls are in each status (every status present, 0 where none). */
export type BatchCounts = Record<CallStatus, number>;

export function emptyCounts(): BatchCounts {
  return Object.fromEntries(CALL_STATUSES.map((s) => [s, 0])) as BatchCounts;
}

/** One query: the batch's calls counted by status. */
export async function countBatchCalls(tx: Tx, batchId: string): Promise<BatchCounts> {
  const rows = await tx
    .select({ status: calls.status, n: count() })
    .from(calls)
    .where(eq(calls.batchId, batchId))
    .groupBy(calls.status);
  const counts = emptyCounts();
  for (const r of rows) if (r.status in counts) counts[r.status as CallStatus] = Number(r.n);
  return counts;
}

/** Whether a call of the batch is still queued, dialing or in progress (reads calls_batch_active_idx). */
export async function hasCallsToGo(tx: Tx, batchId: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: calls.id })
    .from(calls)
    // The index's predicate in literals: a bound parameter list would not prove it in a generic plan.
    .where(
      and(
        eq(calls.batchId, batchId),
        sql`${calls.batchId} is not null and ${calls.status} in ('queued', 'dialing', 'in_progress')`,
      ),
    )
    .limit(1);
  return row !== undefined;
}

/** The body of `batch.completed`; `timestamp` is when the batch's last call ended. */
export function batchCompletedPayload(eventId: string, batch: BatchRow, counts: BatchCounts, at: Date) {
  return {
    event: 'batch.completed',
    eventId,
    timestamp: at.toISOString(),
    batchId: batch.id,
    name: batch.name ?? null,
    status: batch.status,
    totalRows: batch.totalRows,
    acceptedRows: batch.acceptedRows,
    refusedRows: batch.totalRows - batch.acceptedRows,
    counts,
    metadata: batch.metadata ?? null,
    completedAt: batch.completedAt ? batch.completedAt.toISOString() : at.toISOString(),
  };
}

/**
 * Ends the batch once none of its calls is queued, dialing or in progress: it becomes `completed`
 * (a canceled batch stays `canceled`) with `completedAt`, and `batch.completed` goes to its webhookUrl
 * through the outbox, in the caller's transaction. Call it inside every terminal transition of one of
 * its calls, after the call's row is written.
 *
 * Checks of one batch take turns through a transaction-level advisory lock, so of two last calls
 * ending at once the second looks only once the first committed, and sees both ended: exactly one of
 * them completes the batch. Until a batch's calls are all ended, a check costs one index probe
 * (calls_batch_active_idx); they are counted by status only then. The batch row is locked
 * (`for update`) only to complete it. A batch already completed (`completedAt` set) is left alone.
 * Returns the batch it completed, or null.
 */
export async function completeBatchIfDone(
  tx: Tx,
  batchId: string,
  at: Date,
  publicBaseUrl: string,
): Promise<BatchRow | null> {
  // Part of the contract; batch.completed carries no links today.
  void publicBaseUrl;
  // Completion checks of one batch take turns (until their transactions end), whatever lock the
  // caller holds on the batch row: of two last calls ending at once, the second looks only after the
  // first committed, and sees both ended. (An advisory lock, so that ends may hold the batch row in
  // share mode and not wait on each other for the whole of their transactions.)
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`batch-completion:${batchId}`}, 0))`);
  // Most ends leave calls of the batch to go: one look into calls_batch_active_idx (its calls not yet
  // ended) tells, whatever the batch's size. Its calls are counted only once none is left.
  if (await hasCallsToGo(tx, batchId)) return null;
  const [batch] = await tx.select().from(batches).where(eq(batches.id, batchId)).for('update');
  if (!batch || batch.completedAt) return null;
  const counts = await countBatchCalls(tx, batchId);
  if (ACTIVE_STATUSES.some((s) => counts[s] > 0)) return null;
  const status = batch.status === 'canceled' ? 'canceled' : 'completed';
  const [done] = await tx
    .update(batches)
    .set({ status, completedAt: at })
    .where(eq(batches.id, batchId))
    .returning();
  if (done.webhookUrl) {
    const eventId = crypto.randomUUID();
    await tx
      .insert(webhookDeliveries)
      .values({
        id: eventId,
        accountId: done.accountId,
        callId: null,
        batchId: done.id,
        attempt: 1,
        event: 'batch.completed',
        url: done.webhookUrl,
        payload: batchCompletedPayload(eventId, done, counts, at),
        nextAttemptAt: at,
      })
      .onConflictDoNothing();
  }
  return done;
}
