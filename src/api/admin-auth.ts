import type { MiddlewareHandler } from 'hono';
import type { AdminKeys } from '../accounts/admin-keys.js';
import { looksLikeApiKey } from '../accounts/api-keys.js';
import { ApiError } from './errors.js';
import type { AppEnv } from './types.js';

const TOUCH_EVERY_MS = 60_000;

const unauthorized = (why: string) =>
  new ApiError('unauthorized', `${why} Send 'Authorization: Bearer adm_...' with a live admin key.`);

/** True for the admin API's paths, which take admin keys instead of agent keys. */
export function isAdminPath(path: string): boolean {
  return path === '/v1/admin' || path.startsWith('/v1/admin/');
}

/**
 * Bearer admin-key authentication for /v1/admin. An agent key is refused with 403 (it is a real
 * credential, just not one that may administer the deployment); anything else that is not a live
 * admin key is 401. Last-used is written at most once a minute per key and process.
 */
export function adminAuth(keys: AdminKeys, now: () => Date): MiddlewareHandler<AppEnv> {
  const lastTouched = new Map<string, number>();
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (!header) throw unauthorized('The Authorization header is missing.');
    const m = header.match(/^Bearer[ \t]+(\S+)[ \t]*$/i);
    if (!m) throw unauthorized('The Authorization header is not a Bearer token.');
    if (looksLikeApiKey(m[1])) {
      throw new ApiError(
        'forbidden',
        'An agent key (ak_...) cannot use the admin API; send an instance admin key (adm_...), minted with `agentline admin-keys create`.',
      );
    }
    const auth = await keys.authenticate(m[1]);
    if (!auth) throw unauthorized('The admin key is malformed, unknown or revoked.');
    c.set('log', c.get('log').child({ adminKeyId: auth.keyId }));

    const at = now();
    const last = lastTouched.get(auth.keyId);
    if (last === undefined || at.getTime() - last >= TOUCH_EVERY_MS) {
      // Admin keys are few; the map cannot grow past the number minted.
      lastTouched.set(auth.keyId, at.getTime());
      await keys.touch(auth.keyId, at);
    }
    return next();
  };
}
