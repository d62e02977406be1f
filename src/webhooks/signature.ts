import crypto from 'node:crypto';

const hmacHex = (rawBody: string, secret: string, t: number) =>
  crypto.createHmac('sha256', secret).update(`${t}.${rawBody}`, 'utf8').digest('hex');

/** `X-BYS-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. */
export function signWebhook(rawBody: string, secret: string, t: number): string {
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError('signature timestamp must be unix seconds');
  return `t=${t},v1=${hmacHex(rawBody, secret, t)}`;
}

/**
 * Checks a signature header against the raw body. Accepts several `v1=` entries (a sender may sign
 * with an old and a new secret during a rotation) and refuses a timestamp further than
 * `toleranceSeconds` from `now`, so a captured request cannot be replayed later.
 */
export function verifyWebhook(
  rawBody: string,
  header: string | null | undefined,
  secret: string,
  toleranceSeconds = 300,
  now: Date = new Date(),
): boolean {
  if (typeof header !== 'string' || header.length === 0 || header.length > 4096) return false;
  let t: number | null = null;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (!/^\d{1,15}$/.test(value)) return false;
      t = Number(value);
    } else if (key === 'v1' && /^[0-9a-fA-F]{64}$/.test(value)) {
      candidates.push(Buffer.from(value, 'hex'));
    }
  }
  if (t === null || candidates.length === 0) return false;
  if (Math.abs(Math.floor(now.getTime() / 1000) - t) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(rawBody, secret, t), 'hex');
  let ok = false;
  // Compare against every entry, not stopping at a match, so timing says nothing about which matched.
  for (const c of candidates) if (crypto.timingSafeEqual(c, expected)) ok = true;
  return ok;
}
