import { getTableColumns, getTableName, sql } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Tx } from '../db/client.js';

/**
 * Inserts many rows in one statement with a single parameter: the rows as one JSON array, expanded by
 * `jsonb_to_recordset` into the table's columns. Thousands of rows of a wide table (the calls of a
 * batch) go in several times faster than a multi-row VALUES list of tens of thousands of parameters,
 * which both the query builder and the driver spend their time on.
 *
 * The columns are the keys any row sets (by their TypeScript names, as Drizzle's inserts take them);
 * a row without one of them stores null there (a not-null column then fails the insert loudly).
 * Dates go as ISO 8601, jsonb columns as the JSON values themselves.
 */
export async function insertJsonRows<T extends PgTable>(
  tx: Tx,
  table: T,
  rows: readonly Partial<T['$inferInsert']>[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = getTableColumns(table);
  const keys = new Set<string>();
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) if (v !== undefined) keys.add(k);
  }
  const used = [...keys].map((k) => {
    const col = columns[k];
    if (!col) throw new Error(`insertJsonRows: ${getTableName(table)} has no column ${k}`);
    return { key: k, name: col.name, type: col.getSQLType() };
  });
  const records = rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (const c of used) {
      const v = (r as Record<string, unknown>)[c.key];
      o[c.name] = v === undefined ? null : v instanceof Date ? v.toISOString() : v;
    }
    return o;
  });
  const names = sql.raw(used.map((c) => `"${c.name}"`).join(', '));
  const shape = sql.raw(used.map((c) => `"${c.name}" ${c.type}`).join(', '));
  await tx.execute(
    sql`insert into ${table} (${names}) select ${names} from jsonb_to_recordset(${JSON.stringify(records)}::jsonb) as t(${shape})`,
  );
}
