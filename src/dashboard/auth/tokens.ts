import crypto from 'node:crypto';

/** A fresh 32-byte secret for a cookie, a link or a CSRF field, base64url so it needs no escaping. */
export function randomToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** What the database keeps of a bearer secret: a leaked table row does not sign anyone in. */
export function sha256Hex(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

/** Constant-time string equality (lengths may differ; that alone is not secret). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}
