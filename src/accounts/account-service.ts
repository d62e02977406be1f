import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { accounts, apiKeys, phoneNumbers } from '../db/schema.js';
import { hashApiKey, looksLikeApiKey, mintApiKey } from './api-keys.js';
import { mintWebhookSecret, type SecretBox } from './secret-box.js';

/** Accounts, their agent keys, caller-ID numbers and webhook secret: what operators manage. */
export class AccountService {
  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
  ) {}

  /** Creates an account with a fresh webhook secret (so signed webhooks work from the first call). */
  async createAccount(name: string): Promise<{ accountId: string }> {
    const [row] = await this.db
      .insert(accounts)
      .values({ name, webhookSecretEnc: this.secrets.seal(mintWebhookSecret()) })
      .returning({ id: accounts.id });
    return { accountId: row.id };
  }

  async getAccount(accountId: string) {
    const [row] = await this.db.select().from(accounts).where(eq(accounts.id, accountId)).limit(1);
    return row ?? null;
  }

  /** Mints a key; the plain key is returned once and never stored. */
  async createApiKey(accountId: string): Promise<{ key: string; prefix: string; keyId: string }> {
    const { key, hash, prefix } = mintApiKey();
    const [row] = await this.db
      .insert(apiKeys)
      .values({ accountId, keyHash: hash, prefix })
      .returning({ id: apiKeys.id });
    return { key, prefix, keyId: row.id };
  }

  /** Revokes every live key whose display prefix is `prefix`; returns how many. */
  async revokeApiKeys(prefix: string): Promise<number> {
    const rows = await this.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.prefix, prefix), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    return rows.length;
  }

  async listApiKeys(accountId: string) {
    return this.db
      .select({
        keyId: apiKeys.id,
        prefix: apiKeys.prefix,
        createdAt: apiKeys.createdAt,
        lastUsedAt: apiKeys.lastUsedAt,
        revokedAt: apiKeys.revokedAt,
      })
      .from(apiKeys)
      .where(eq(apiKeys.accountId, accountId));
  }

  /**
   * The account of a live key; `accountDisabled` for a live key of a disabled account (a separate
   * shape, so a caller cannot use it as a login by mistake); null for a malformed, unknown or revoked one.
   */
  async authenticate(
    key: string,
  ): Promise<{ accountId: string; keyId: string } | { accountDisabled: { reason: string | null } } | null> {
    if (!looksLikeApiKey(key)) return null;
    const [row] = await this.db
      .select({
        keyId: apiKeys.id,
        accountId: apiKeys.accountId,
        revokedAt: apiKeys.revokedAt,
        disabledAt: accounts.disabledAt,
        disabledReason: accounts.disabledReason,
      })
      .from(apiKeys)
      .innerJoin(accounts, eq(accounts.id, apiKeys.accountId))
      .where(eq(apiKeys.keyHash, hashApiKey(key)))
      .limit(1);
    if (!row || row.revokedAt) return null;
    if (row.disabledAt) return { accountDisabled: { reason: row.disabledReason } };
    return { accountId: row.accountId, keyId: row.keyId };
  }

  async touchApiKey(keyId: string): Promise<void> {
    await this.db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, keyId));
  }

  /** Adds a caller-ID number (E.164, validated by the caller); `isDefault` moves the default to it. */
  async addNumber(accountId: string, number: string, isDefault: boolean): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (isDefault) {
        await tx.update(phoneNumbers).set({ isDefault: false }).where(eq(phoneNumbers.accountId, accountId));
      }
      await tx.insert(phoneNumbers).values({ accountId, number, isDefault });
    });
  }

  /** Revokes one live key of this account (the dashboard revokes by id, never across accounts); false if none. */
  async revokeApiKey(accountId: string, keyId: string): Promise<boolean> {
    const rows = await this.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    return rows.length > 0;
  }

  /**
   * Removes a number of this account. When it was the default, the oldest remaining number becomes
   * the default, so calls without a callerId keep working while the account has any number.
   */
  async removeNumber(
    accountId: string,
    number: string,
  ): Promise<{ removed: boolean; newDefault: string | null }> {
    return this.db.transaction(async (tx) => {
      const [gone] = await tx
        .delete(phoneNumbers)
        .where(and(eq(phoneNumbers.accountId, accountId), eq(phoneNumbers.number, number)))
        .returning({ isDefault: phoneNumbers.isDefault });
      if (!gone) return { removed: false, newDefault: null };
      if (!gone.isDefault) return { removed: true, newDefault: null };
      const [next] = await tx
        .select({ id: phoneNumbers.id, number: phoneNumbers.number })
        .from(phoneNumbers)
        .where(eq(phoneNumbers.accountId, accountId))
        .orderBy(asc(phoneNumbers.createdAt), asc(phoneNumbers.number))
        .limit(1);
      if (!next) return { removed: true, newDefault: null };
      await tx.update(phoneNumbers).set({ isDefault: true }).where(eq(phoneNumbers.id, next.id));
      return { removed: true, newDefault: next.number };
    });
  }

  /** Makes one of this account's numbers its default caller ID; false when it has no such number. */
  async setDefaultNumber(accountId: string, number: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [owned] = await tx
        .select({ id: phoneNumbers.id })
        .from(phoneNumbers)
        .where(and(eq(phoneNumbers.accountId, accountId), eq(phoneNumbers.number, number)))
        .for('update');
      if (!owned) return false;
      // Cleared first: a partial unique index allows one default per account at any moment.
      await tx.update(phoneNumbers).set({ isDefault: false }).where(eq(phoneNumbers.accountId, accountId));
      await tx.update(phoneNumbers).set({ isDefault: true }).where(eq(phoneNumbers.id, owned.id));
      return true;
    });
  }

  async listNumbers(accountId: string) {
    return this.db
      .select({ number: phoneNumbers.number, isDefault: phoneNumbers.isDefault })
      .from(phoneNumbers)
      .where(eq(phoneNumbers.accountId, accountId));
  }

  /** The account's webhook secret in plain text; `rotate` replaces it first. */
  async webhookSecret(accountId: string, rotate = false): Promise<string | null> {
    const acc = await this.getAccount(accountId);
    if (!acc) return null;
    if (rotate || !acc.webhookSecretEnc) {
      const secret = mintWebhookSecret();
      await this.db
        .update(accounts)
        .set({ webhookSecretEnc: this.secrets.seal(secret) })
        .where(eq(accounts.id, accountId));
      return secret;
    }
    return this.secrets.open(acc.webhookSecretEnc);
  }
}
