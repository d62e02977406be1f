import crypto from 'node:crypto';
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { adminKeys } from '../db/schema.js';

/** "adm_" + 8 characters: enough to tell admin keys apart in a list, far too little to guess one. */
export const ADMIN_KEY_PREFIX_LENGTH = 12;
export const ADMIN_KEY_PREFIX_PATTERN = /^adm_[A-Za-z0-9_-]{8}$/;

export function looksLikeAdminKey(s: string): boolean {
  return /^adm_[A-Za-z0-9_-]{20,128}$/.test(s);
}

/** 256 random bits: an unsalted SHA-256 cannot be reversed and keeps the lookup by hash cheap. */
export function hashAdminKey(key: string): string {
  return crypto.createHash('sha256').update(key).digest('hex');
}

export interface AdminKeyListItem {
  keyId: string;
  prefix: string;
  label: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/**
 * Instance admin keys (adm_…) for /v1/admin: minted and revoked only by the CLI (someone with the
 * deployment's database), never through the API, so a leaked agent key can never mint one.
 */
export class AdminKeys {
  constructor(private readonly db: Db) {}

  /** The plain key is returned once; only its hash and display prefix are stored. */
  async create(label: string | null): Promise<{ key: string; prefix: string; keyId: string }> {
    const key = `adm_${crypto.randomBytes(32).toString('base64url')}`;
    const prefix = key.slice(0, ADMIN_KEY_PREFIX_LENGTH);
    const [row] = await this.db
      .insert(adminKeys)
      .values({ keyHash: hashAdminKey(key), prefix, label })
      .returning({ id: adminKeys.id });
    return { key, prefix, keyId: row.id };
  }

  list(): Promise<AdminKeyListItem[]> {
    return this.db
      .select({
        keyId: adminKeys.id,
        prefix: adminKeys.prefix,
        label: adminKeys.label,
        createdAt: adminKeys.createdAt,
        lastUsedAt: adminKeys.lastUsedAt,
        revokedAt: adminKeys.revokedAt,
      })
      .from(adminKeys)
      .orderBy(asc(adminKeys.createdAt), asc(adminKeys.id));
  }

  /** Revokes every live admin key with this display prefix; returns how many. */
  async revoke(prefix: string): Promise<number> {
    const rows = await this.db
      .update(adminKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(adminKeys.prefix, prefix), isNull(adminKeys.revokedAt)))
      .returning({ id: adminKeys.id });
    return rows.length;
  }

  /** The id of a live admin key, or null for a malformed, unknown or revoked one. */
  async authenticate(key: string): Promise<{ keyId: string } | null> {
    if (!looksLikeAdminKey(key)) return null;
    const [row] = await this.db
      .select({ keyId: adminKeys.id, revokedAt: adminKeys.revokedAt })
      .from(adminKeys)
      .where(eq(adminKeys.keyHash, hashAdminKey(key)))
      .limit(1);
    if (!row || row.revokedAt) return null;
    return { keyId: row.keyId };
  }

  async touch(keyId: string, at: Date): Promise<void> {
    await this.db.update(adminKeys).set({ lastUsedAt: at }).where(eq(adminKeys.id, keyId));
  }
}
