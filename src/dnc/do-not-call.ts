import { and, eq, inArray } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { doNotCall } from '../db/schema.js';
import type { DncLookup } from './deployment-list.js';

export type DncListName = 'account' | 'deployment';

/**
 * Which do-not-call list holds `number` (strict E.164) for this account: its own list first, then the
 * deployment-wide one; null when neither. Takes a transaction as well as the database, so a placement
 * can check and insert in one transaction.
 */
export async function blockedBy(
  db: Db | Tx,
  accountId: string,
  number: string,
  deploymentList?: DncLookup | null,
): Promise<DncListName | null> {
  const rows = await db
    .select({ number: doNotCall.number })
    .from(doNotCall)
    .where(and(eq(doNotCall.accountId, accountId), eq(doNotCall.number, number)))
    .limit(1);
  if (rows.length > 0) return 'account';
  if (deploymentList?.has(number)) return 'deployment';
  return null;
}

/**
 * blockedBy for many numbers in one query per 5,000 (a batch's rows): the listed ones with their list;
 * numbers on neither list are absent from the map.
 */
export async function blockedByMany(
  db: Db | Tx,
  accountId: string,
  numbers: readonly string[],
  deploymentList?: DncLookup | null,
): Promise<Map<string, DncListName>> {
  const out = new Map<string, DncListName>();
  const unique = [...new Set(numbers)];
  for (let i = 0; i < unique.length; i += 5000) {
    const rows = await db
      .select({ number: doNotCall.number })
      .from(doNotCall)
      .where(and(eq(doNotCall.accountId, accountId), inArray(doNotCall.number, unique.slice(i, i + 5000))));
    for (const r of rows) out.set(r.number, 'account');
  }
  if (deploymentList) {
    for (const n of unique) if (!out.has(n) && deploymentList.has(n)) out.set(n, 'deployment');
  }
  return out;
}
