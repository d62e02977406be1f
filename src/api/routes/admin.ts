import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import {
  type AccountAdmin,
  AccountAdminError,
  type AdminAccountView,
  type AdminKeyView,
  CAP_FIELDS,
  type CapName,
  MAX_DISABLED_REASON,
} from '../../accounts/account-admin.js';
import { ApiError } from '../errors.js';
import { ErrorSchema } from '../schemas.js';
import type { AppEnv } from '../types.js';

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});
const security = [{ adminKey: [] }];
const tags = ['admin'];
const common = {
  401: error('unauthorized: the admin key is missing, malformed, revoked or unknown.'),
  403: error('forbidden: an agent key (ak_…) was sent; the admin API takes admin keys (adm_…).'),
  500: error('internal_error: a bug; the message carries the request id.'),
};
const withAccount = { ...common, 404: error('not_found: no account with this id.') };

const time = z.string().openapi({ format: 'date-time' });
const capInts = (describe: (c: (typeof CAP_FIELDS)[number]) => string) =>
  Object.fromEntries(
    CAP_FIELDS.map((c) => [
      c.name,
      z
        .number()
        .int()
        .openapi({ description: describe(c) }),
    ]),
  );

const CapsSchema = z
  .object(capInts((c) => `${c.label}: the value enforced now (the account's own, else ${c.setting}).`))
  .openapi('AdminCaps');
const CapOverridesSchema = z
  .object(
    Object.fromEntries(
      CAP_FIELDS.map((c) => [
        c.name,
        z
          .number()
          .int()
          .nullable()
          .openapi({ description: `${c.label} set for this account; null: the default ${c.setting}.` }),
      ]),
    ),
  )
  .openapi('AdminCapOverrides');

const AdminAccountSchema = z
  .object({
    accountId: z.string().uuid(),
    name: z.string(),
    createdAt: time,
    disabled: z.boolean(),
    disabledAt: time.nullable(),
    disabledReason: z.string().nullable(),
    caps: CapsSchema,
    capOverrides: CapOverridesSchema,
    usage: z
      .object({
        callsLastMinute: z
          .number()
          .int()
          .openapi({ description: 'Calls placed in the last 60 s: what the per-minute cap counts.' }),
        callsToday: z.number().int().openapi({ description: 'Calls placed today (UTC).' }),
        callSecondsThisMonth: z
          .number()
          .int()
          .openapi({ description: 'Answered call time this month (UTC).' }),
        minutesThisMonth: z.number().int().openapi({ description: 'callSecondsThisMonth in whole minutes.' }),
        activeCalls: z
          .number()
          .int()
          .openapi({ description: 'Queued, dialing or in progress: what the concurrent cap counts.' }),
        liveCalls: z.number().int().openapi({ description: 'Dialing or in progress.' }),
      })
      .openapi('AdminUsage'),
  })
  .openapi('AdminAccount');

const AdminKeySchema = z
  .object({
    keyId: z.string().uuid(),
    accountId: z.string().uuid(),
    accountName: z.string(),
    prefix: z.string().openapi({ example: 'ak_AbCdEfGh' }),
    createdAt: time,
    lastUsedAt: time.nullable(),
    revokedAt: time.nullable(),
  })
  .openapi('AdminAgentKey');

const CapsPatchSchema = z
  .object(
    Object.fromEntries(
      CAP_FIELDS.map((c) => [
        c.name,
        z
          .number()
          .int('must be a whole number')
          .min(0, 'must be at least 0')
          .max(c.max, `must be at most ${c.max}`)
          .nullable()
          .optional()
          .openapi({
            description: `${c.label}; 0 blocks new calls; null goes back to the deployment default (${c.setting}).`,
          }),
      ]),
    ) as Record<CapName, z.ZodOptional<z.ZodNullable<z.ZodNumber>>>,
  )
  .strict()
  .openapi('AdminCapsPatch');

const DisableBodySchema = z
  .object({
    reason: z
      .string()
      .trim()
      .min(1, 'is required')
      .max(MAX_DISABLED_REASON, `must be at most ${MAX_DISABLED_REASON} characters`)
      .openapi({
        description: "Why; shown to the account's key holders in the 401 and on the admin pages.",
        example: 'Unpaid invoice',
      }),
  })
  .strict()
  .openapi('AdminDisableRequest');

const AccountParam = z.object({
  accountId: z.string().openapi({ param: { name: 'accountId', in: 'path' }, format: 'uuid' }),
});
const KeyParam = z.object({
  keyId: z.string().openapi({ param: { name: 'keyId', in: 'path' }, format: 'uuid' }),
});

const accountBody = (description: string) => ({
  description,
  content: { 'application/json': { schema: AdminAccountSchema } },
});

const listAccounts = createRoute({
  method: 'get',
  path: '/v1/admin/accounts',
  operationId: 'adminListAccounts',
  tags,
  summary: 'List every account with its caps, usage and state',
  security,
  responses: {
    200: {
      description: 'Every account, oldest first.',
      content: {
        'application/json': {
          schema: z.object({ accounts: z.array(AdminAccountSchema) }).openapi('AdminAccountList'),
        },
      },
    },
    ...common,
  },
});

const getAccount = createRoute({
  method: 'get',
  path: '/v1/admin/accounts/{accountId}',
  operationId: 'adminGetAccount',
  tags,
  summary: 'Read one account with its caps, usage and state',
  security,
  request: { params: AccountParam },
  responses: { 200: accountBody('The account.'), ...withAccount },
});

const setCaps = createRoute({
  method: 'patch',
  path: '/v1/admin/accounts/{accountId}/caps',
  operationId: 'adminSetCaps',
  tags,
  summary: "Set or clear the account's caps",
  description:
    'Each field given sets that cap for this account (0 blocks new calls); null clears it back to the deployment default; fields left out keep their value. The next POST /v1/agent/calls is checked against the new caps.',
  security,
  request: {
    params: AccountParam,
    body: { required: true, content: { 'application/json': { schema: CapsPatchSchema } } },
  },
  responses: {
    200: accountBody('The account with its caps now.'),
    400: error('invalid_request: an unknown field, or a value that is not a whole number in range or null.'),
    ...withAccount,
  },
});

const disable = createRoute({
  method: 'post',
  path: '/v1/admin/accounts/{accountId}/disable',
  operationId: 'adminDisableAccount',
  tags,
  summary: 'Disable an account',
  description:
    "From now on the account's keys answer 401 and its dashboard users cannot sign in; its queued calls end failed with endedReason account_disabled (with their webhooks); calls already dialing or in progress are left to finish. Disabling a disabled account updates the reason.",
  security,
  request: {
    params: AccountParam,
    body: { required: true, content: { 'application/json': { schema: DisableBodySchema } } },
  },
  responses: {
    200: {
      description: 'The disabled account and how many queued calls were ended.',
      content: {
        'application/json': {
          schema: z
            .object({ account: AdminAccountSchema, failedQueuedCalls: z.number().int() })
            .openapi('AdminDisableResult'),
        },
      },
    },
    400: error('invalid_request: reason is missing, blank or too long.'),
    ...withAccount,
  },
});

const enable = createRoute({
  method: 'post',
  path: '/v1/admin/accounts/{accountId}/enable',
  operationId: 'adminEnableAccount',
  tags,
  summary: 'Enable a disabled account',
  description: 'Its unrevoked keys work again and it may place calls. Calls ended by the disable stay ended.',
  security,
  request: { params: AccountParam },
  responses: { 200: accountBody('The enabled account.'), ...withAccount },
});

const listKeys = createRoute({
  method: 'get',
  path: '/v1/admin/keys',
  operationId: 'adminListKeys',
  tags,
  summary: 'List agent keys across accounts',
  security,
  request: {
    query: z.object({
      accountId: z
        .string()
        .optional()
        .openapi({
          param: { name: 'accountId', in: 'query' },
          format: 'uuid',
          description: 'Only this account.',
        }),
    }),
  },
  responses: {
    200: {
      description: 'The keys, oldest first (prefixes only; keys are stored as hashes).',
      content: {
        'application/json': {
          schema: z.object({ keys: z.array(AdminKeySchema) }).openapi('AdminAgentKeyList'),
        },
      },
    },
    ...withAccount,
  },
});

const revokeKey = createRoute({
  method: 'post',
  path: '/v1/admin/keys/{keyId}/revoke',
  operationId: 'adminRevokeKey',
  tags,
  summary: 'Revoke an agent key',
  description: 'The key answers 401 from now on. Revoking a revoked key changes nothing.',
  security,
  request: { params: KeyParam },
  responses: {
    200: { description: 'The revoked key.', content: { 'application/json': { schema: AdminKeySchema } } },
    ...common,
    404: error('not_found: no agent key with this id.'),
  },
});

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function accountJson(a: AdminAccountView) {
  return {
    ...a,
    createdAt: a.createdAt.toISOString(),
    disabledAt: iso(a.disabledAt),
  };
}

function keyJson(k: AdminKeyView) {
  return {
    ...k,
    createdAt: k.createdAt.toISOString(),
    lastUsedAt: iso(k.lastUsedAt),
    revokedAt: iso(k.revokedAt),
  };
}

/** The admin service's refusals in the spec's error format. */
async function answering<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AccountAdminError) {
      throw new ApiError(err.code, err.message, err.fields.length > 0 ? { fields: err.fields } : undefined);
    }
    throw err;
  }
}

/** /v1/admin/*: the instance administration API (admin keys only), the same service as the CLI and pages. */
export function registerAdminRoutes(app: OpenAPIHono<AppEnv>, admin: AccountAdmin): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminKey', {
    type: 'http',
    scheme: 'bearer',
    description:
      'An instance admin key, adm_…, minted with `agentline admin-keys create`. Agent keys get 403.',
  });

  app.openapi(listAccounts, async (c) => {
    const all = await admin.listAccounts();
    return c.json({ accounts: all.map(accountJson) }, 200);
  });

  app.openapi(getAccount, async (c) => {
    const a = await answering(() => admin.getAccount(c.req.valid('param').accountId));
    return c.json(accountJson(a), 200);
  });

  app.openapi(setCaps, async (c) => {
    const { accountId } = c.req.valid('param');
    const patch = c.req.valid('json');
    const a = await answering(() => admin.setCaps(accountId, patch));
    return c.json(accountJson(a), 200);
  });

  app.openapi(disable, async (c) => {
    const { accountId } = c.req.valid('param');
    const { reason } = c.req.valid('json');
    const res = await answering(() => admin.disable(accountId, reason));
    c.get('log').info(
      { accountId: res.account.accountId, failedQueuedCalls: res.failedQueuedCalls },
      'account disabled through the admin API',
    );
    return c.json({ account: accountJson(res.account), failedQueuedCalls: res.failedQueuedCalls }, 200);
  });

  app.openapi(enable, async (c) => {
    const a = await answering(() => admin.enable(c.req.valid('param').accountId));
    c.get('log').info({ accountId: a.accountId }, 'account enabled through the admin API');
    return c.json(accountJson(a), 200);
  });

  app.openapi(listKeys, async (c) => {
    const { accountId } = c.req.valid('query');
    const keys = await answering(() => admin.listKeys(accountId ? { accountId } : {}));
    return c.json({ keys: keys.map(keyJson) }, 200);
  });

  app.openapi(revokeKey, async (c) => {
    const { key } = await answering(() => admin.revokeKey(c.req.valid('param').keyId));
    c.get('log').info(
      { accountId: key.accountId, keyId: key.keyId },
      'agent key revoked through the admin API',
    );
    return c.json(keyJson(key), 200);
  });
}
