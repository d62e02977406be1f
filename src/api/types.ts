import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AccountService } from '../accounts/account-service.js';
import type { CallStore } from '../calls/call-store.js';
import type { GuardrailOptions } from '../calls/guardrails.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { DncLookup } from '../dnc/deployment-list.js';
import type { LiveBus } from '../events/live-bus.js';
import type { Readiness } from '../health.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';

export interface ApiDeps {
  db: Db;
  config: Config;
  logger: Logger;
  accounts: AccountService;
  calls: CallStore;
  readiness: Readiness;
  guardrails: GuardrailOptions;
  clock?: () => Date;
  /** Voices installed on this deployment; when given, a request's `voice` must be one of them. */
  voices?: readonly string[];
  /** Told after a new call is committed as queued (not on an idempotent replay), e.g. to wake the worker. */
  onCallQueued?: (callId: string) => void;
  /** This process's metrics; when given, GET /metrics serves them (protected, see checkMetricsAccess). */
  metrics?: Metrics;
  /** Wakes the live event streams at once (and carries partials); without it they only poll. */
  bus?: LiveBus;
  /** The deployment-wide do-not-call list (DNC_LIST_FILE), when configured. */
  doNotCallList?: DncLookup | null;
  /** Mount point for routes built elsewhere (e.g. `/mcp`); runs after the API routes, before 404. */
  extraRoutes?: (app: OpenAPIHono<AppEnv>) => void;
}

/** Per-request values the middleware hands to the routes. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    /** Set by the auth middleware on /v1. */
    accountId: string;
    keyId: string;
    /** The parsed JSON body, as sent (before schema defaults); undefined for a request without a body. */
    rawBody: unknown;
  };
}
