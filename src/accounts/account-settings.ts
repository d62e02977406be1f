import { eq } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { type AccountRow, accounts, type CallWindow, type RetryPolicy } from '../db/schema.js';
import { parseQuietHours, parseWindowSpec, type QuietHours } from '../scheduling/call-window.js';

/** An account's calling defaults, what applies to a call that sets neither, and the deployment's rules. */
export interface AccountSettingsView {
  callWindow: CallWindow | null;
  retryPolicy: RetryPolicy | null;
  effective: { callWindow: CallWindow; retryPolicy: RetryPolicy | null };
  deployment: { defaultCallWindow: CallWindow; quietHours: QuietHours | null };
}

/** A change of the defaults, already valid (PatchAccountSettingsBodySchema): null clears, absent keeps. */
export interface AccountSettingsChange {
  callWindow?: CallWindow | null;
  retryPolicy?: RetryPolicy | null;
}

type SettingsConfig = Pick<Config, 'DEFAULT_CALL_WINDOW' | 'QUIET_HOURS'>;

/** The settings view of an account row under this deployment's config. */
export function accountSettings(
  account: Pick<AccountRow, 'callWindow' | 'retryPolicy'>,
  config: SettingsConfig,
): AccountSettingsView {
  const defaultCallWindow = parseWindowSpec(config.DEFAULT_CALL_WINDOW);
  return {
    callWindow: account.callWindow ?? null,
    retryPolicy: account.retryPolicy ?? null,
    effective: {
      callWindow: account.callWindow ?? defaultCallWindow,
      retryPolicy: account.retryPolicy ?? null,
    },
    deployment: { defaultCallWindow, quietHours: parseQuietHours(config.QUIET_HOURS) },
  };
}

const cols = { callWindow: accounts.callWindow, retryPolicy: accounts.retryPolicy };

/**
 * Reads and changes an account's default calling hours and retry policy: the one place the API
 * (GET/PATCH /v1/agent/settings) and the dashboard's Settings page go through. Null: no such account.
 */
export async function readAccountSettings(
  db: Db,
  config: SettingsConfig,
  accountId: string,
): Promise<AccountSettingsView | null> {
  const [account] = await db.select(cols).from(accounts).where(eq(accounts.id, accountId));
  return account ? accountSettings(account, config) : null;
}

export async function updateAccountSettings(
  db: Db,
  config: SettingsConfig,
  accountId: string,
  change: AccountSettingsChange,
): Promise<AccountSettingsView | null> {
  const set: Partial<Pick<AccountRow, 'callWindow' | 'retryPolicy'>> = {};
  if (change.callWindow !== undefined) set.callWindow = change.callWindow;
  if (change.retryPolicy !== undefined) set.retryPolicy = change.retryPolicy;
  if (Object.keys(set).length === 0) return readAccountSettings(db, config, accountId);
  const [account] = await db.update(accounts).set(set).where(eq(accounts.id, accountId)).returning(cols);
  return account ? accountSettings(account, config) : null;
}
