import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

export interface FlashMessage {
  kind: 'success' | 'error' | 'info';
  message: string;
}

const FLASH_COOKIE = 'agentline_flash';

/** A message for the next page after a POST → redirect (a short-lived cookie, read once). */
export function setFlash(c: Context, flash: FlashMessage): void {
  setCookie(c, FLASH_COOKIE, Buffer.from(JSON.stringify(flash)).toString('base64url'), {
    httpOnly: true,
    sameSite: 'Lax',
    path: '/',
    maxAge: 60,
  });
}

/** The flash message the previous request left, removed as it is read. */
export function takeFlash(c: Context): FlashMessage | null {
  const raw = getCookie(c, FLASH_COOKIE);
  if (!raw) return null;
  deleteCookie(c, FLASH_COOKIE, { path: '/' });
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as FlashMessage;
    if (!['success', 'error', 'info'].includes(v.kind) || typeof v.message !== 'string') return null;
    return { kind: v.kind, message: v.message.slice(0, 500) };
  } catch {
    return null;
  }
}

/** A status line: errors interrupt a screen reader (alert), the rest wait their turn (status). */
export function Flash(props: { flash?: FlashMessage | null }) {
  const f = props.flash;
  if (!f) return null;
  return (
    <div class={`flash flash-${f.kind}`} role={f.kind === 'error' ? 'alert' : 'status'}>
      {f.message}
    </div>
  );
}
