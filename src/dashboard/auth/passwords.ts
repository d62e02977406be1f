import crypto from 'node:crypto';

/**
 * scrypt cost as log2(N). 2^15 with r=8 takes tens of milliseconds and 32 MiB: slow enough to make
 * guessing a stolen hash expensive, fast enough for a sign-in (OWASP's minimum for scrypt is 2^17 with
 * r=8 and p=1 only when nothing else stretches; we add lockout on the online side).
 */
export const DEFAULT_PASSWORD_COST = 15;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Longest accepted password; scrypt is fine with more, but a megabyte "password" is an abuse. */
export const MAX_PASSWORD_LENGTH = 1024;
export const MIN_PASSWORD_LENGTH = 12;

function scrypt(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem must exceed 128·N·r or node refuses the larger costs.
    crypto.scrypt(
      password.normalize('NFC'),
      salt,
      KEY_BYTES,
      { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64, as the users.password_hash column documents. */
export async function hashPassword(password: string, cost = DEFAULT_PASSWORD_COST): Promise<string> {
  const n = 2 ** cost;
  const salt = crypto.randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, n, R, P);
  return `scrypt$${n}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

const STORED = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

/** Whether `password` matches `stored`; compared in constant time; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = STORED.exec(stored);
  if (!m) return false;
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Bounds keep a corrupted row from asking for gigabytes.
  if (!Number.isInteger(Math.log2(n)) || n < 2 ** 10 || n > 2 ** 20 || r < 1 || r > 32 || p < 1 || p > 16) {
    return false;
  }
  const expected = Buffer.from(m[5], 'base64');
  if (expected.length < 16) return false;
  const key = await scrypt(password, Buffer.from(m[4], 'base64'), n, r, p);
  return key.length === expected.length && crypto.timingSafeEqual(key, expected);
}

let dummy: Promise<string> | null = null;

/**
 * Spends the same scrypt work as a real check, for sign-ins whose email is unknown or has no password,
 * so the response time does not tell whether an address has an account.
 */
export async function burnPasswordCheck(password: string): Promise<false> {
  dummy ??= hashPassword('not a real password, only a timing twin');
  await verifyPassword(password, await dummy);
  return false;
}

/** Why a new password is refused, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  if (password.trim() === '') return 'must not be only spaces';
  return null;
}
