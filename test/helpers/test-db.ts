import crypto from 'node:crypto';
import postgres from 'postgres';
import { type Database, openDatabase } from '../../src/db/client.js';

export interface TestDatabase extends Database {
  /** Connection URL of this test's own database (postgres only), for a second process or pool. */
  url: string | null;
}

/**
 * A fresh, migrated database for one test file: a new database on the server named by DATABASE_URL
 * (dropped on close), or in-memory PGlite when DATABASE_URL is unset. Files never share state.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    const d = await openDatabase({ pgliteDir: null });
    await d.migrate();
    return Object.assign(d, { url: null });
  }
  const name = `agentline_t_${crypto.randomBytes(6).toString('hex')}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  const url = u.toString();
  const d = await openDatabase({ url, maxConnections: 10 });
  await d.migrate();
  const close = d.close;
  return Object.assign(d, {
    url,
    close: async () => {
      await close();
      const a = postgres(base, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  });
}
