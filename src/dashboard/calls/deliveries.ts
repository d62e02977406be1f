import { and, asc, eq } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { webhookDeliveries } from '../../db/schema.js';

/** A call's webhook events with their attempts and the receiver's last answer (payloads left out). */
export function callDeliveries(db: Db, accountId: string, callId: string) {
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
export type DeliveryRow = Awaited<ReturnType<typeof callDeliveries>>[number];
