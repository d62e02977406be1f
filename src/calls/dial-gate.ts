import { eq } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { accounts, type CallRow } from '../db/schema.js';
import type { DncLookup } from '../dnc/deployment-list.js';
import { blockedBy } from '../dnc/do-not-call.js';
import {
  ALL_DAYS,
  type CallWindow,
  isCallable,
  nextCallableAt,
  parseQuietHours,
  parseWindowSpec,
} from '../scheduling/call-window.js';
import { callingRulesFor } from '../scheduling/calling-rules.js';

/** How far ahead the next callable time is looked for (as at placement). */
export const GATE_HORIZON_DAYS = 14;

/**
 * What to do with a claimed call right before it dials:
 * - `dial`: go ahead;
 * - `end`: it must never dial; the worker ends it `failed` with this reason (from `queued` only);
 * - `defer`: not now; the worker puts it back in the queue, unclaimed, with `scheduledFor = until`.
 */
export type GateResult =
  | { action: 'dial' }
  | { action: 'end'; reason: 'expired' | 'do_not_call'; list?: 'account' | 'deployment' }
  | { action: 'defer'; until: Date };

export interface DialGate {
  check(call: CallRow): Promise<GateResult>;
}

export interface DialGateOptions {
  db: Db;
  config: Pick<Config, 'DEFAULT_CALL_WINDOW' | 'QUIET_HOURS'>;
  /** The deployment-wide do-not-call list (DNC_LIST_FILE), if any. */
  deploymentDnc?: DncLookup | null;
  clock?: () => Date;
}

/**
 * The last word before a queued call rings, checked by the worker for every claimed call. Placement
 * checked all of this already; the gate catches what changed since: the call expired while it waited,
 * its number went on a do-not-call list, or it is due outside its calling hours (a retry's delay, an
 * account window changed, a deployment's QUIET_HOURS set).
 *
 * Decisions, in this order:
 * 1. `expiresAt <= now` → end failed/expired.
 * 2. On the account's or the deployment's do-not-call list → end failed/do_not_call.
 * 3. Outside its calling rules (window in every callee zone, quiet hours) → defer to the next callable
 *    time. When that time is at or after `expiresAt`, the call can never dial in time: it ends
 *    failed/expired now rather than waiting to expire. When there is no callable time within the
 *    14-day horizon (only possible when the rules changed after placement, which refused such calls),
 *    it is deferred to the horizon's end and checked again then (or expires first): a configuration
 *    mistake then delays calls instead of failing them.
 */
export function createDialGate(opts: DialGateOptions): DialGate {
  const { db, config } = opts;
  const clock = opts.clock ?? (() => new Date());
  const defaultWindow = parseWindowSpec(config.DEFAULT_CALL_WINDOW);
  const quietHours = parseQuietHours(config.QUIET_HOURS);
  return {
    async check(call) {
      const now = clock();
      if (call.expiresAt && call.expiresAt.getTime() <= now.getTime())
        return { action: 'end', reason: 'expired' };
      const list = await blockedBy(db, call.accountId, call.toNumber, opts.deploymentDnc ?? null);
      if (list) return { action: 'end', reason: 'do_not_call', list };
      const [account] = await db
        .select({ callWindow: accounts.callWindow })
        .from(accounts)
        .where(eq(accounts.id, call.accountId))
        .limit(1);
      // Every hour of every day with no quiet hours: nothing to look up (nor a number's zones to resolve).
      if (alwaysOpen(call.callWindow ?? account?.callWindow ?? defaultWindow) && !quietHours)
        return { action: 'dial' };
      const rules = await callingRulesFor(call, account ?? null, config);
      if (isCallable(now, rules)) return { action: 'dial' };
      const next = nextCallableAt(now, rules, GATE_HORIZON_DAYS);
      if (next && call.expiresAt && next.getTime() >= call.expiresAt.getTime())
        return { action: 'end', reason: 'expired' };
      if (!next) {
        const horizon = new Date(now.getTime() + GATE_HORIZON_DAYS * 86_400_000);
        if (call.expiresAt && call.expiresAt.getTime() <= horizon.getTime())
          return { action: 'end', reason: 'expired' };
        return { action: 'defer', until: horizon };
      }
      // Never at or before now (a rules library that answered "now" for an uncallable instant would
      // otherwise have the worker claim and defer the call in a tight loop).
      const until = next.getTime() > now.getTime() ? next : new Date(now.getTime() + 60_000);
      return { action: 'defer', until };
    },
  };
}

/** A window open all day (end == start) on all seven days. */
function alwaysOpen(w: CallWindow): boolean {
  return w.start === w.end && ALL_DAYS.every((d) => w.days.includes(d));
}
