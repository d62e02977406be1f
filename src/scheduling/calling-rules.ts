/**
 * Resolves which calling rules apply to a call: its own window, else its account's, else the
 * deployment's default; the deployment's quiet hours always (no account may override them).
 */
import type { Config } from '../config.js';
import type { AccountRow, CallRow } from '../db/schema.js';
import { type CallingRules, parseQuietHours, parseWindowSpec } from './call-window.js';
import { timeZonesOf } from './number-time-zones.js';

export async function callingRulesFor(
  call: Pick<CallRow, 'callWindow' | 'timeZones' | 'toNumber'>,
  account: Pick<AccountRow, 'callWindow'> | null,
  config: Pick<Config, 'DEFAULT_CALL_WINDOW' | 'QUIET_HOURS'>,
): Promise<CallingRules> {
  const window = call.callWindow ?? account?.callWindow ?? parseWindowSpec(config.DEFAULT_CALL_WINDOW);
  // Zones stored at placement win: the number's data may change with a library upgrade, the call's rules should not.
  const zones =
    call.timeZones && call.timeZones.length > 0 ? call.timeZones : await timeZonesOf(call.toNumber);
  return { zones, window, quiet: parseQuietHours(config.QUIET_HOURS) };
}
