import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { webhookAttempts, webhookDeliveries } from '../../db/schema.js';

function deliveriesOf(db: Db, accountId: string, callId: string) {
  return db
    .select({
      id: webhookDeliveries.id,
      event: webhookDeliveries.event,
      url: webhookDeliveries.url,
      status: webhookDeliveries.status,
      attempts: webhookDeliveries.attempts,
      lastStatusCode: webhookDeliveries.lastStatusCode,
      lastError: webhookDeliveries.lastError,
      createdAt: webhookDeliveries.createdAt,
      nextAttemptAt: webhookDeliveries.nextAttemptAt,
      deliveredAt: webhookDeliveries.deliveredAt,
    })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.accountId, accountId), eq(webhookDeliveries.callId, callId)))
    .orderBy(asc(webhookDeliveries.createdAt), asc(webhookDeliveries.event));
}

function attemptsOf(db: Db, deliveryIds: string[]) {
  return db
    .select({
      deliveryId: webhookAttempts.deliveryId,
      attempt: webhookAttempts.attempt,
      attemptedAt: webhookAttempts.attemptedAt,
      durationMs: webhookAttempts.durationMs,
      statusCode: webhookAttempts.statusCode,
      error: webhookAttempts.error,
      responseExcerpt: webhookAttempts.responseExcerpt,
    })
    .from(webhookAttempts)
    .where(inArray(webhookAttempts.deliveryId, deliveryIds))
    .orderBy(asc(webhookAttempts.deliveryId), asc(webhookAttempts.attempt));
}

export type AttemptRow = Awaited<ReturnType<typeof attemptsOf>>[number];
export type DeliveryRow = Awaited<ReturnType<typeof deliveriesOf>>[number] & {
  /** The tries kept for this event, oldest first (older ones are pruned, and deliveries made before
   * attempts were recorded have none). */
  tries: AttemptRow[];
};

/** A call's webhook events with each attempt and the receiver's answers (payloads left out). */
export async function callDeliveries(db: Db, accountId: string, callId: string): Promise<DeliveryRow[]> {
  const deliveries = await deliveriesOf(db, accountId, callId);
  const tries =
    deliveries.length > 0
      ? await attemptsOf(
          db,
          deliveries.map((d) => d.id),
        )
      : [];
  const byDelivery = new Map<string, AttemptRow[]>();
  for (const t of tries) {
    const list = byDelivery.get(t.deliveryId);
    if (list) list.push(t);
    else byDelivery.set(t.deliveryId, [t]);
  }
  return deliveries.map((d) => ({ ...d, tries: byDelivery.get(d.id) ?? [] }));
}
