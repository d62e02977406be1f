import { OpenAPIHono } from '@hono/zod-openapi';
import { AccountAdmin } from '../accounts/account-admin.js';
import { AdminKeys } from '../accounts/admin-keys.js';
import { createCallService } from '../calls/call-service.js';
import { registerDashboard } from '../dashboard/index.js';
import { DoNotCallService } from '../dnc/do-not-call.js';
import { adminAuth, isAdminPath } from './admin-auth.js';
import { bearerAuth } from './auth.js';
import { invalidRequest, notFound, onError, renderError, zodProblems } from './error-handler.js';
import { jsonBody } from './json-body.js';
import { requestContext } from './request-context.js';
import { registerAdminRoutes } from './routes/admin.js';
import { BATCH_LIMITS, isBatchUpload, registerBatchRoutes } from './routes/batches.js';
import { registerCallRoutes } from './routes/calls.js';
import { doNotCallBody, isDoNotCallUpload, registerDoNotCallRoutes } from './routes/do-not-call.js';
import { registerDocsRoutes } from './routes/docs.js';
import { registerEventRoutes } from './routes/events.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerMetricsRoute } from './routes/metrics.js';
import { registerSettingsRoutes } from './routes/settings.js';
import { registerWebhookRoutes } from './routes/webhooks.js';
import { LIMITS } from './schemas.js';
import type { ApiDeps, AppEnv } from './types.js';

export type { ApiDeps, AppEnv } from './types.js';

const API_VERSION = '1.0.0';

/** The REST API of the spec, its OpenAPI 3.1 document and its reference page, on one Hono app. */
export function createApp(deps: ApiDeps): OpenAPIHono<AppEnv> {
  const clock = deps.clock ?? (() => new Date());
  const app = new OpenAPIHono<AppEnv>({
    // zod-openapi would answer validation failures in its own shape; every error must be the spec's.
    defaultHook: (result, c) => {
      if (!result.success) return renderError(c, invalidRequest(zodProblems(result.error)));
    },
  });
  const service = createCallService({
    db: deps.db,
    config: deps.config,
    calls: deps.calls,
    readiness: deps.readiness,
    guardrails: deps.guardrails,
    clock,
    voices: deps.voices,
    onCallQueued: deps.onCallQueued,
    dncList: deps.doNotCallList,
  });

  app.use('*', requestContext(deps.logger));
  // /v1/admin takes admin keys, every other /v1 path agent keys: neither key opens the other's routes.
  const agentAuth = bearerAuth(deps.accounts, clock);
  app.use('/v1/*', (c, next) => (isAdminPath(c.req.path) ? next() : agentAuth(c, next)));
  app.use('/v1/admin/*', adminAuth(new AdminKeys(deps.db), clock));
  const body = jsonBody({ maxBytes: LIMITS.bodyBytes, maxDepth: LIMITS.jsonDepth });
  // A batch's rows get their own limit (8 MB, JSON or multipart); every other request keeps 64 KB.
  const batchBody = jsonBody({
    maxBytes: BATCH_LIMITS.bodyBytes,
    maxDepth: BATCH_LIMITS.jsonDepth,
    multipart: true,
  });
  // A do-not-call upload (2 MB, JSON or CSV) has its own reader.
  const dncBody = doNotCallBody();
  app.use('/v1/*', (c, next) =>
    isBatchUpload(c.req.method, c.req.path)
      ? batchBody(c, next)
      : isDoNotCallUpload(c)
        ? dncBody(c, next)
        : body(c, next),
  );

  registerHealthRoutes(app, deps.db, deps.readiness, {
    workerStaleSeconds: deps.config.WORKER_STALE_SECONDS,
  });
  if (deps.metrics) registerMetricsRoute(app, deps.metrics, { token: deps.config.METRICS_TOKEN });
  registerCallRoutes(app, service, deps.config);
  registerBatchRoutes(app, {
    db: deps.db,
    config: deps.config,
    calls: deps.calls,
    service,
    readiness: deps.readiness,
    clock,
    onCallQueued: deps.onCallQueued,
  });
  registerWebhookRoutes(app, deps.db, deps.config);
  registerDoNotCallRoutes(app, new DoNotCallService(deps.db, deps.doNotCallList));
  registerSettingsRoutes(app, deps.db, deps.config);
  registerAdminRoutes(app, new AccountAdmin({ db: deps.db, config: deps.config, calls: deps.calls, clock }));
  registerEventRoutes(app, { db: deps.db, bus: deps.bus, logger: deps.logger }, deps.config);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An agent key, ak_…, minted on the dashboard or with the admin CLI.',
  });
  app.doc31('/openapi.json', (c) => ({
    openapi: '3.1.0',
    info: {
      title: 'agentline',
      version: API_VERSION,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      description: `Places real outbound phone calls and talks with the callee using local models. Errors are always { error: { code, message, details? } }. Request bodies are UTF-8 JSON; strings and keys may not contain NUL (\\u0000) or lone UTF-16 surrogates, and no value may nest deeper than ${LIMITS.jsonDepth} levels (400 invalid_request naming the field).`,
    },
    servers: [{ url: deps.config.PUBLIC_BASE_URL ? deps.config.publicBaseUrl : new URL(c.req.url).origin }],
  }));
  registerDocsRoutes(app);
  registerDashboard(app, {
    db: deps.db,
    config: deps.config,
    logger: deps.logger,
    accounts: deps.accounts,
    calls: deps.calls,
    service,
    readiness: deps.readiness,
    clock,
    bus: deps.bus,
    onCallQueued: deps.onCallQueued,
    doNotCallList: deps.doNotCallList,
  });

  deps.extraRoutes?.(app);

  app.notFound(notFound);
  app.onError(onError);
  return app;
}
