import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { countPgliteUse } from './pglite-pool-stats.js';
import * as schema from './schema.js';

export type Schema = typeof schema;
/** The one database type the rest of the code sees, whichever driver is underneath. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** What the connection pool is doing now (postgres.js's `sql.stats`). */
export interface PoolStats {
  /** Connections open. */
  connections: number;
  /** Connections being opened. */
  opening: number;
  /** Open connections with nothing in flight and no lease. */
  idle: number;
  /** Connections held by a transaction (or reserved), whether or not a query runs on them now. */
  leased: number;
  /** Queries waiting for a connection. */
  waiting: number;
}

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** The pool's state now (for PGlite, its one connection's, counted from the calls into it). */
  poolStats(): PoolStats;
  /** Runs drizzle-kit's migrations in drizzle/; safe to call on every start. */
  migrate(): Promise<void>;
  /** Cheap round trip, for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * PostgreSQL LISTEN on its own connection, re-listened after a reconnect (`onListen` runs each time);
   * absent for PGlite, whose single process needs no cross-process wake-ups.
   */
  listen?(
    channel: string,
    onMessage: (payload: string) => void,
    onListen?: () => void,
  ): Promise<{ unlisten(): Promise<void> }>;
  /** PostgreSQL NOTIFY (payload under 8000 bytes); absent for PGlite. */
  notify?(channel: string, payload: string): Promise<void>;
}

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');

export type DatabaseOptions =
  | { url: string; maxConnections?: number }
  | { pgliteDir: string | null /* null: in memory */ };

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if ('url' in opts) {
    const client = postgres(opts.url, {
      max: opts.maxConnections ?? 10,
      // A failover that drops packets instead of refusing would hold every query for the 30 s default.
      connect_timeout: 10,
      onnotice: () => {},
      // Keep connection errors as errors; never print the URL, which may hold a password.
      connection: { application_name: 'agentline' },
    });
    const db = drizzlePostgres(client, { schema }) as unknown as Db;
    return {
      db,
      kind: 'postgres',
      poolStats: () => client.stats,
      migrate: () => migratePostgres(db as never, { migrationsFolder: MIGRATIONS_DIR }),
      ping: async () => {
        await client`select 1`;
      },
      close: () => client.end({ timeout: 5 }),
      listen: (channel, onMessage, onListen) => client.listen(channel, onMessage, onListen),
      notify: async (channel, payload) => {
        await client.notify(channel, payload);
      },
    };
  }
  if (opts.pgliteDir) fs.mkdirSync(opts.pgliteDir, { recursive: true });
  const client = opts.pgliteDir ? new PGlite(opts.pgliteDir) : new PGlite();
  await client.waitReady;
  const poolStats = countPgliteUse(client);
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    poolStats,
    migrate: () => migratePglite(db as never, { migrationsFolder: MIGRATIONS_DIR }),
    ping: async () => {
      await client.query('select 1');
    },
    close: () => client.close(),
  };
}

/** Rows of a raw `db.execute()`, which postgres.js returns as an array and PGlite as `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
