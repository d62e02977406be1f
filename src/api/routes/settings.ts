import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { readAccountSettings, updateAccountSettings } from '../../accounts/account-settings.js';
import { retryPolicySchema } from '../../calls/retry-policy.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { callWindowSchema } from '../../scheduling/call-window.js';
import { ApiError } from '../errors.js';
import { ErrorSchema } from '../schemas.js';
import type { AppEnv } from '../types.js';

const QuietHoursSchema = z
  .object({
    start: z.string().openapi({ example: '21:00' }),
    end: z.string().openapi({ example: '08:00' }),
  })
  .openapi('QuietHours', {
    description:
      "Hours of every day when no call of this deployment rings, in the callee's local time (QUIET_HOURS); no account can override them.",
  });

export const AccountSettingsSchema = z
  .object({
    callWindow: callWindowSchema.nullable().openapi({
      description:
        "The account's default calling hours, in the callee's local time, for calls and batches that set none; null: the deployment's default (`deployment.defaultCallWindow`).",
    }),
    retryPolicy: retryPolicySchema.nullable().openapi({
      description:
        "The account's default retry policy for calls and batches that set none; null: no retries.",
    }),
    effective: z
      .object({
        callWindow: callWindowSchema.openapi({
          description:
            'The calling hours a call that sets none gets: callWindow, else the deployment default.',
        }),
        retryPolicy: retryPolicySchema
          .nullable()
          .openapi({ description: 'The retry policy a call that sets none gets; null: none.' }),
      })
      .openapi({ description: 'What applies to a call of this account that sets neither.' }),
    deployment: z
      .object({
        defaultCallWindow: callWindowSchema.openapi({
          description:
            'DEFAULT_CALL_WINDOW of this deployment (09:00–20:00 every day unless the operator changed it). A default, not legal advice.',
        }),
        quietHours: QuietHoursSchema.nullable().openapi({
          description: 'QUIET_HOURS of this deployment; null: none. They hold on top of every window.',
        }),
      })
      .openapi({ description: "The deployment's rules, set by its operator." }),
  })
  .openapi('AccountSettings');

export const PatchAccountSettingsBodySchema = z
  .object({
    callWindow: callWindowSchema.nullable().optional().openapi({
      description:
        "New default calling hours; null clears them (the deployment's default applies). Absent: unchanged.",
    }),
    retryPolicy: retryPolicySchema.nullable().optional().openapi({
      description: 'New default retry policy; null clears it (no retries). Absent: unchanged.',
    }),
  })
  .strict()
  .openapi('PatchAccountSettingsRequest');

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});
const security = [{ bearerAuth: [] }];
const ok = {
  description: "The account's settings, the values in force and the deployment's rules.",
  content: { 'application/json': { schema: AccountSettingsSchema } },
};
const common = {
  401: error('unauthorized: the key is missing, malformed, revoked or unknown.'),
  500: error('internal_error: a bug; the message carries the request id.'),
};

const getSettings = createRoute({
  method: 'get',
  path: '/v1/agent/settings',
  operationId: 'getSettings',
  tags: ['settings'],
  summary: "Read the account's calling defaults (extension)",
  description:
    "The account's default calling hours and retry policy, what applies to a call that sets neither, and the deployment's default window and quiet hours. Any agent key of the account may read them.",
  security,
  responses: { 200: ok, ...common },
});

const patchSettings = createRoute({
  method: 'patch',
  path: '/v1/agent/settings',
  operationId: 'updateSettings',
  tags: ['settings'],
  summary: "Change the account's calling defaults (extension)",
  description:
    "Sets or clears (null) the account's default calling hours and retry policy; a field left out is unchanged. Applies to calls placed afterwards, and to queued calls without their own window when the worker next looks at them. Any agent key of the account may change them.",
  security,
  request: {
    body: { required: true, content: { 'application/json': { schema: PatchAccountSettingsBodySchema } } },
  },
  responses: {
    200: ok,
    400: error('invalid_request: the body is not a JSON object, or a field is invalid; details names it.'),
    ...common,
  },
});

export type AccountSettings = z.infer<typeof AccountSettingsSchema>;

const gone = () => new ApiError('unauthorized', 'The account of this key no longer exists.');

/** GET/PATCH /v1/agent/settings: the account's default calling hours and retry policy. */
export function registerSettingsRoutes(app: OpenAPIHono<AppEnv>, db: Db, config: Config): void {
  app.openapi(getSettings, async (c) => {
    const settings = await readAccountSettings(db, config, c.get('accountId'));
    if (!settings) throw gone();
    return c.json(settings, 200);
  });

  app.openapi(patchSettings, async (c) => {
    const settings = await updateAccountSettings(db, config, c.get('accountId'), c.req.valid('json'));
    if (!settings) throw gone();
    return c.json(settings, 200);
  });
}
