import { and, eq, gt, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { webhookDeliveries } from '../db/schema.js';
import { leaseMs } from './deliverer.js';

export interface RedeliverOptions {
  accountId: string;
  /** Only this call's deliveries. */
  callId?: string;
  /** The deliverers' request timeout (WEBHOOK_TIMEOUT_MS): it sizes the lease of an attempt in flight. */
  timeoutMs: number;
  now?: Date;
}

export interface RedeliverResult {
  /** Dead deliveries given one more attempt now (and the retries left in their window). */
  dead: number;
  /** Pending deliveries waiting for a backoff, moved to now. */
  pending: number;
  /** Both together. */
  redelivered: number;
}

/**
 * Makes an account's dead and pending webhook deliveries due now, for the deliverers to send on their
 * next poll: after a receiver outage is fixed, or after WEBHOOK_ALLOW_* was changed. A dead delivery gets
 * at least one attempt; whether it is retried after that still follows the retry window of its event.
 * A pending row whose next attempt is within one lease may be an attempt in flight (the lease is how
 * a deliverer hides a row it is sending), so it is left alone: resetting it would send the event twice,
 * and it is due within that lease anyway.
 */
export async function redeliverWebhooks(db: Db, opts: RedeliverOptions): Promise<RedeliverResult> {
  const now = opts.now ?? new Date();
  const scope: SQL[] = [eq(webhookDeliveries.accountId, opts.accountId)];
  if (opts.callId) scope.push(eq(webhookDeliveries.callId, opts.callId));
  return db.transaction(async (tx) => {
    const dead = await tx
      .update(webhookDeliveries)
      .set({ status: 'pending', nextAttemptAt: now })
      .where(and(...scope, eq(webhookDeliveries.status, 'dead')))
      .returning({ id: webhookDeliveries.id });
    const pending = await tx
      .update(webhookDeliveries)
      .set({ nextAttemptAt: now })
      .where(
        and(
          ...scope,
          eq(webhookDeliveries.status, 'pending'),
          gt(webhookDeliveries.nextAttemptAt, new Date(now.getTime() + leaseMs(opts.timeoutMs))),
        ),
      )
      .returning({ id: webhookDeliveries.id });
    return { dead: dead.length, pending: pending.length, redelivered: dead.length + pending.length };
  });
}
