import type { CallRow } from '../../db/schema.js';
import type { DashboardDeps, DashboardUser } from '../types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The call as this user may see it: their own account's, or any account's for an instance admin.
 * Null for everything else, so another account's call reads exactly like one that does not exist.
 */
export async function findVisibleCall(
  deps: DashboardDeps,
  user: DashboardUser,
  id: string,
): Promise<CallRow | null> {
  if (!UUID.test(id)) return null;
  return deps.calls.get(id.toLowerCase(), user.instanceAdmin ? undefined : user.accountId);
}

/**
 * Cancel and redeliver change a call: only an owner of the call's own account may. Viewers read only,
 * and an instance admin looking at another account's call reads it without acting for that account.
 */
export function canActOnCall(user: DashboardUser, call: CallRow): boolean {
  return user.role === 'owner' && call.accountId === user.accountId;
}
