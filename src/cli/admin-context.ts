import path from 'node:path';
import { eq } from 'drizzle-orm';
import { AccountService } from '../accounts/account-service.js';
import { SecretBox } from '../accounts/secret-box.js';
import { type Config, loadConfig } from '../config.js';
import { type Database, type Db, openDatabase } from '../db/client.js';
import { acquireEmbeddedLock } from '../db/embedded-lock.js';
import { accounts } from '../db/schema.js';
import { restrictTree } from '../private-files.js';
import { CliError } from './types.js';

export interface AdminContext {
  config: Config;
  db: Db;
  accounts: AccountService;
  /** The account's row, or exit 1 with a clear message; a malformed id is just an unknown one. */
  requireAccount(accountId: string): Promise<{ id: string; name: string }>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Opens the deployment's database as the server would (DATABASE_URL, else the embedded PGlite under
 * DATA_DIR, held with the embedded lock), migrates it, runs `fn`, and closes everything whatever happens.
 */
export async function withAdminContext<T>(
  env: NodeJS.ProcessEnv,
  fn: (ctx: AdminContext) => Promise<T>,
): Promise<T> {
  const config = loadConfig(env);
  let lock: { release(): void } | null = null;
  let database: Database | null = null;
  try {
    if (config.DATABASE_URL) {
      database = await openDatabase({ url: config.DATABASE_URL, maxConnections: 2 });
    } else {
      const dir = path.join(config.dataDir, 'db');
      lock = acquireEmbeddedLock(dir);
      database = await openDatabase({ pgliteDir: dir });
    }
    try {
      await database.migrate();
    } catch (err) {
      throw new CliError(`cannot open the database: ${rootMessage(err)}`);
    }
    // PGlite writes a new cluster's files 0666 whatever the umask.
    if (!config.DATABASE_URL) restrictTree(config.dataDir);
    const db = database.db;
    const service = new AccountService(
      db,
      SecretBox.load({ secretKey: config.SECRET_KEY, dataDir: config.dataDir }),
    );
    return await fn({
      config,
      db,
      accounts: service,
      requireAccount: async (accountId) => {
        const id = accountId.trim();
        const [row] = UUID.test(id)
          ? await db
              .select({ id: accounts.id, name: accounts.name })
              .from(accounts)
              .where(eq(accounts.id, id))
          : [];
        if (!row)
          throw new CliError(`no account ${JSON.stringify(accountId)}; see 'agentline accounts list'`);
        return row;
      },
    });
  } finally {
    await database?.close();
    lock?.release();
  }
}

/** Drizzle wraps driver errors in "Failed query: ..."; the operator needs the innermost cause (refused, auth...). */
function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown };
  while (e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e.message ?? String(err);
}
