import crypto from 'node:crypto';

export const KEY_PREFIX_LENGTH = 11; // "ak_" + 8 characters: enough to tell keys apart in a list

/** A new agent key; the caller shows it once and stores only `hash` and `prefix`. */
export function mintApiKey(): { key: string; hash: string; prefix: string } {
  const key = `ak_${crypto.randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key), prefix: key.slice(0, KEY_PREFIX_LENGTH) };
}

/** Keys carry 256 random bits, so an unsalted SHA-256 cannot be reversed and keeps lookups by hash cheap. */
export function hashApiKey(key: string): string {
  return crypto.createHash('sha256').update(key).digest('hex');
}

export function looksLikeApiKey(s: string): boolean {
  return /^ak_[A-Za-z0-9_-]{20,128}$/.test(s);
}
