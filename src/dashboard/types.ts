import type { AccountService } from '../accounts/account-service.js';
import type { AppEnv } from '../api/types.js';
import type { CallService } from '../calls/call-service.js';
import type { CallStore } from '../calls/call-store.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { DncLookup } from '../dnc/deployment-list.js';
import type { LiveBus } from '../events/live-bus.js';
import type { Readiness } from '../health.js';
import type { Logger } from '../logger.js';

/** The person signed in to the dashboard, as the session middleware hands it to the pages. */
export interface DashboardUser {
  id: string;
  accountId: string;
  email: string;
  role: 'owner' | 'viewer';
  /** Sees every account and edits caps (set by the CLI only). */
  instanceAdmin: boolean;
}

/** Per-request values of dashboard routes: the API's, plus the signed-in user and its CSRF token. */
export interface DashboardEnv {
  Variables: AppEnv['Variables'] & {
    /** Set by the session middleware on every dashboard path; null when nobody is signed in. */
    user: DashboardUser | null;
    /** The session's CSRF token, for forms and fetch headers; '' when nobody is signed in. */
    csrfToken: string;
  };
}

/** What the dashboard's pages need; the same objects the REST API uses, so both answer alike. */
export interface DashboardDeps {
  db: Db;
  config: Config;
  logger: Logger;
  accounts: AccountService;
  calls: CallStore;
  service: CallService;
  readiness: Readiness;
  clock: () => Date;
  /** The live event streams' wake-ups (see ApiDeps.bus). */
  bus?: LiveBus;
  /** Wakes the worker when calls are queued (a batch uploaded from the dashboard); it polls anyway. */
  onCallQueued?: (callId: string) => void;
  /** The deployment's do-not-call list file (see ApiDeps.doNotCallList). */
  doNotCallList?: DncLookup | null;
}
