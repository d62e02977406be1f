import type { MiddlewareHandler } from 'hono';
import type { AccountService } from '../accounts/account-service.js';
import { ApiError } from './errors.js';
import type { AppEnv } from './types.js';

const TOUCH_EVERY_MS = 60_000;
const MAX_TRACKED_KEYS = 10_000;

const unauthorized = (why: string) =>
  new ApiError('unauthorized', `${why} Send 'Authorization: Bearer ak_...' with a live agent key.`);

/**
 * Bearer agent-key authentication for /v1. A key's last-used time is written at most once a minute
 * per key and process, so a busy client does not turn every read into a write.
 */
export function bearerAuth(accounts: AccountService, now: () => Date): MiddlewareHandler<AppEnv> {
  const lastTouched = new Map<string, number>();
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (!header) throw unauthorized('The Authorization header is missing.');
    const m = header.match(/^Bearer[ \t]+(\S+)[ \t]*$/i);
    if (!m) throw unauthorized('The Authorization header is not a Bearer token.');
    const auth = await accounts.authenticate(m[1]);
    if (!auth) throw unauthorized('The agent key is malformed, unknown or revoked.');
    if ('accountDisabled' in auth) {
      const why = auth.accountDisabled.reason;
      throw new ApiError(
        'unauthorized',
        `The account of this key is disabled${why ? ` (${why})` : ''}; its keys stop working until an operator enables it again.`,
        { accountDisabled: true },
      );
    }
    c.set('accountId', auth.accountId);
    c.set('keyId', auth.keyId);
    c.set('log', c.get('log').child({ accountId: auth.accountId }));

    const t = now().getTime();
    const last = lastTouched.get(auth.keyId);
    if (last === undefined || t - last >= TOUCH_EVERY_MS) {
      if (lastTouched.size >= MAX_TRACKED_KEYS) lastTouched.clear();
      lastTouched.set(auth.keyId, t);
      await accounts.touchApiKey(auth.keyId);
    }
    return next();
  };
}
