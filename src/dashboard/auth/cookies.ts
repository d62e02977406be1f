import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Config } from '../../config.js';
import { randomToken } from './tokens.js';

export const SESSION_COOKIE = 'agentline_session';
/** Double-submit CSRF token of the forms shown before a session exists (sign-in, set password). */
export const PRE_SESSION_CSRF_COOKIE = 'agentline_csrf';

/** Secure cookies when this request came over https, or the deployment is published over https. */
export function isSecureRequest(c: Context, config: Config): boolean {
  return new URL(c.req.url).protocol === 'https:' || config.publicBaseUrl.startsWith('https:');
}

export function readSessionCookie(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

export function setSessionCookie(c: Context, config: Config, token: string, expiresAt: Date): void {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Lax',
    secure: isSecureRequest(c, config),
    path: '/',
    expires: expiresAt,
  });
}

export function clearSessionCookie(c: Context, config: Config): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: isSecureRequest(c, config) });
}

export function readPreSessionCsrf(c: Context): string | undefined {
  return getCookie(c, PRE_SESSION_CSRF_COOKIE);
}

/** The pre-session CSRF token of this browser, set as a cookie the first time a form needs it. */
export function ensurePreSessionCsrf(c: Context, config: Config): string {
  const existing = readPreSessionCsrf(c);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomToken();
  setCookie(c, PRE_SESSION_CSRF_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Lax',
    secure: isSecureRequest(c, config),
    path: '/',
    maxAge: 60 * 60 * 24,
  });
  return token;
}
