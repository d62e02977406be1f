import { CsvError, type Options, parse } from 'csv-parse/sync';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import { decodeKeysetCursor, encodeKeysetCursor } from '../db/keyset-cursor.js';
import { doNotCall } from '../db/schema.js';
import type { DncLookup } from './deployment-list.js';
import { DncError } from './errors.js';
import { isStrictE164, normaliseNumber } from './numbers.js';

export type DncListName = 'account' | 'deployment';

/**
 * Which do-not-call list holds `number` (strict E.164) for this account: its own list first, then the
 * deployment-wide one; null when neither. Takes a transaction as well as the database, so a placement
 * can check and insert in one transaction.
 */
export async function blockedBy(
  db: Db | Tx,
  accountId: string,
  number: string,
  deploymentList?: DncLookup | null,
): Promise<DncListName | null> {
  const rows = await db
    .select({ number: doNotCall.number })
    .from(doNotCall)
    .where(and(eq(doNotCall.accountId, accountId), eq(doNotCall.number, number)))
    .limit(1);
  if (rows.length > 0) return 'account';
  if (deploymentList?.has(number)) return 'deployment';
  return null;
}

/**
 * blockedBy for many numbers in one query per 5,000 (a batch's rows): the listed ones with their list;
 * numbers on neither list are absent from the map.
 */
export async function blockedByMany(
  db: Db | Tx,
  accountId: string,
  numbers: readonly string[],
  deploymentList?: DncLookup | null,
): Promise<Map<string, DncListName>> {
  const out = new Map<string, DncListName>();
  const unique = [...new Set(numbers)];
  for (let i = 0; i < unique.length; i += 5000) {
    const rows = await db
      .select({ number: doNotCall.number })
      .from(doNotCall)
      .where(and(eq(doNotCall.accountId, accountId), inArray(doNotCall.number, unique.slice(i, i + 5000))));
    for (const r of rows) out.set(r.number, 'account');
  }
  if (deploymentList) {
    for (const n of unique) if (!out.has(n) && deploymentList.has(n)) out.set(n, 'deployment');
  }
  return out;
}

/** Where a number on an account's list came from. */
export type DncSource = 'api' | 'cli' | 'import' | 'opt_out' | 'dashboard';
export const DNC_SOURCES: readonly DncSource[] = ['api', 'cli', 'import', 'opt_out', 'dashboard'];

/** Numbers one add may carry (the API's JSON body); a CSV import is bounded by its size instead. */
export const DNC_ADD_MAX = 10_000;
/** Entries of `invalid` an answer lists; `invalidCount` has them all. */
export const DNC_INVALID_REPORT_MAX = 1_000;
export const DNC_LIST_MAX = 1_000;
export const DNC_LIST_DEFAULT = 100;
/** Rows a single INSERT carries. */
const INSERT_CHUNK = 10_000;

export interface DncEntry {
  number: string;
  source: string;
  note: string | null;
  callId: string | null;
  createdAt: string;
}

export interface DncInvalid {
  /** The CSV line (1-based), for an import. */
  line?: number;
  /** The position in the request's `numbers` (0-based), for an add. */
  index?: number;
  value: string;
  code: 'invalid_number';
  message: string;
}

export interface DncAddResult {
  /** Numbers that were not on the list and now are. */
  added: number;
  /** Numbers already on the list (or given twice); they keep their first source, note and time. */
  alreadyListed: number;
  invalid: DncInvalid[];
  /** Every invalid value, also those past the first DNC_INVALID_REPORT_MAX listed in `invalid`. */
  invalidCount: number;
}

export interface DncCheck {
  number: string;
  listed: boolean;
  list: DncListName | null;
  /** The account list's entry: how it came there (null when only the deployment list holds it). */
  source: string | null;
  note: string | null;
  callId: string | null;
  createdAt: string | null;
}

/** The account's own do-not-call list; the deployment list (read only here) is consulted by check and remove. */
export class DoNotCallService {
  constructor(
    private readonly db: Db,
    private readonly deploymentList?: DncLookup | null,
  ) {}

  /**
   * Puts numbers on the account's list. Each is normalised to strict E.164; an invalid one is reported
   * (with its 0-based `index`) and not stored. A number already listed stays as it was.
   */
  async add(
    accountId: string,
    numbers: readonly string[],
    source: DncSource,
    opts: { note?: string | null; callId?: string | null } = {},
  ): Promise<DncAddResult> {
    const invalid: DncInvalid[] = [];
    const valid: string[] = [];
    for (const [index, value] of numbers.entries()) {
      await breather(index);
      const n = normaliseNumber(value);
      if (n.ok) valid.push(n.number);
      else invalid.push({ index, value, code: n.code, message: n.message });
    }
    return this.store(accountId, valid, invalid, source, opts);
  }

  /**
   * Imports a CSV: a header row with a column `number` (any case), or no header and the number in the
   * first column (a first line whose first cell has no digit is taken as a header of another name and
   * skipped). Blank lines are skipped; every other line that holds no valid number is reported with
   * its 1-based line number; a line that is not CSV (a stray quote) is reported the same way and never
   * sinks the rest.
   */
  async importCsv(
    accountId: string,
    csvText: string,
    source: DncSource,
    opts: { note?: string | null } = {},
  ): Promise<DncAddResult> {
    const { numbers, invalid } = await parseDncCsv(csvText);
    return this.store(accountId, numbers, invalid, source, opts);
  }

  /** Removes a number from the account's list; a number only the deployment list holds cannot be. */
  async remove(accountId: string, number: string): Promise<void> {
    requireE164(number);
    const gone = await this.db
      .delete(doNotCall)
      .where(and(eq(doNotCall.accountId, accountId), eq(doNotCall.number, number)))
      .returning({ number: doNotCall.number });
    if (gone.length > 0) return;
    if (this.deploymentList?.has(number)) {
      throw new DncError(
        'dnc_deployment_list',
        `${number} is on this deployment's do-not-call list, which only its operator can change.`,
        { number, list: 'deployment' },
      );
    }
    throw new DncError('not_found', `${number} is not on this account's do-not-call list.`, { number });
  }

  /** One page of the account's list, newest first. */
  async list(
    accountId: string,
    q: { limit: number; cursor?: string | null },
  ): Promise<{ numbers: DncEntry[]; nextCursor: string | null }> {
    const conds = [eq(doNotCall.accountId, accountId)];
    if (q.cursor) {
      const [at, number] = decodeCursor(q.cursor);
      conds.push(sql`(${doNotCall.createdAt}, ${doNotCall.number}) < (${at}::timestamptz, ${number})`);
    }
    // Microsecond text of created_at: a JS Date would drop the microseconds and skip or repeat rows.
    const rows = await this.db
      .select({
        number: doNotCall.number,
        source: doNotCall.source,
        note: doNotCall.note,
        callId: doNotCall.callId,
        at: sql<string>`to_char(${doNotCall.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
      })
      .from(doNotCall)
      .where(and(...conds))
      .orderBy(desc(doNotCall.createdAt), desc(doNotCall.number))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      numbers: page.map((r) => ({
        number: r.number,
        source: r.source,
        note: r.note,
        callId: r.callId,
        createdAt: isoMillis(r.at),
      })),
      nextCursor: rows.length > q.limit && last ? encodeKeysetCursor(last.at, last.number) : null,
    };
  }

  /** Whether a call to `number` would be refused, and by which list. */
  async check(accountId: string, number: string): Promise<DncCheck> {
    requireE164(number);
    const [row] = await this.db
      .select()
      .from(doNotCall)
      .where(and(eq(doNotCall.accountId, accountId), eq(doNotCall.number, number)));
    if (row) {
      return {
        number,
        listed: true,
        list: 'account',
        source: row.source,
        note: row.note,
        callId: row.callId,
        createdAt: row.createdAt.toISOString(),
      };
    }
    const deployment = this.deploymentList?.has(number) ?? false;
    return {
      number,
      listed: deployment,
      list: deployment ? 'deployment' : null,
      source: null,
      note: null,
      callId: null,
      createdAt: null,
    };
  }

  private async store(
    accountId: string,
    numbers: readonly string[],
    invalid: DncInvalid[],
    source: DncSource,
    opts: { note?: string | null; callId?: string | null },
  ): Promise<DncAddResult> {
    // Sorted: two uploads that overlap take the rows' key locks in the same order, so they cannot deadlock.
    const unique = [...new Set(numbers)].sort();
    let added = 0;
    if (unique.length > 0) {
      await this.db.transaction(async (tx) => {
        for (let i = 0; i < unique.length; i += INSERT_CHUNK) {
          // One parameter a chunk (a JSON array), not five a row: 10,000 numbers are one short statement.
          const chunk = JSON.stringify(unique.slice(i, i + INSERT_CHUNK));
          const rows = await tx.execute(sql`
            insert into do_not_call (account_id, number, source, note, call_id)
            select ${accountId}::uuid, n, ${source}, ${opts.note ?? null}, ${opts.callId ?? null}::uuid
            from jsonb_array_elements_text(${chunk}::jsonb) as n
            on conflict (account_id, number) do nothing
            returning number`);
          added += rowCount(rows);
        }
      });
    }
    return {
      added,
      alreadyListed: numbers.length - added,
      invalid: invalid.slice(0, DNC_INVALID_REPORT_MAX),
      invalidCount: invalid.length,
    };
  }
}

/** The numbers of a do-not-call CSV (normalised, in file order) and the lines that hold none. */
export async function parseDncCsv(text: string): Promise<{ numbers: string[]; invalid: DncInvalid[] }> {
  const numbers: string[] = [];
  const invalid: DncInvalid[] = [];
  let column: number | null = null;
  for (const [i, rec] of csvRecords(text).entries()) {
    await breather(i);
    if ('error' in rec) {
      invalid.push({ line: rec.line, value: rec.value, code: 'invalid_number', message: rec.error });
      column ??= 0;
      continue;
    }
    const cells = rec.cells.map((c) => c.trim());
    if (cells.every((c) => c === '')) continue;
    if (column === null) {
      const named = cells.findIndex((c) => c.toLowerCase() === 'number');
      if (named >= 0) {
        column = named;
        continue;
      }
      column = 0;
      if (!/\d/.test(cells[0] ?? '')) continue; // a header with another name
    }
    const value = cells[column] ?? '';
    const n = normaliseNumber(value);
    if (n.ok) numbers.push(n.number);
    else
      invalid.push({
        line: rec.line,
        value,
        code: n.code,
        message: value === '' ? 'has no number in its number column' : n.message,
      });
  }
  return { numbers, invalid };
}

/**
 * Lets the event loop run between every few hundred numbers: checking a number against its country's
 * plan takes 30-80 µs, and a 2 MB upload holds some 150,000 of them, which would otherwise stall the
 * process (and the live calls of its worker) for seconds.
 */
async function breather(i: number): Promise<void> {
  if (i > 0 && i % 500 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
}

type CsvRecord = { line: number; cells: string[] } | { line: number; value: string; error: string };

const CSV_OPTIONS: Options = {
  relax_column_count: true,
  record_delimiter: ['\r\n', '\n', '\r'],
};

/**
 * The records of a CSV with the line each ends on. The whole text is read at once; only if that
 * fails (a stray quote) is it read line by line, so that the bad lines are reported and the others kept.
 */
function csvRecords(text: string): CsvRecord[] {
  const body = text.replace(/^\uFEFF/, '');
  try {
    const parsed = parse(body, { ...CSV_OPTIONS, skip_empty_lines: true, info: true }) as unknown as {
      record: string[];
      info: { lines: number };
    }[];
    return parsed.map((r) => ({ line: r.info.lines, cells: r.record }));
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
  }
  const out: CsvRecord[] = [];
  const lines = body.split(/\r\n|\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') continue;
    try {
      const parsed = parse(line, CSV_OPTIONS) as string[][];
      out.push({ line: i + 1, cells: parsed[0] ?? [] });
    } catch (err) {
      if (!(err instanceof CsvError)) throw err;
      out.push({ line: i + 1, value: line.slice(0, 100), error: `is not CSV: ${err.message}` });
    }
  }
  return out;
}

function requireE164(number: string): void {
  if (!isStrictE164(number)) {
    throw new DncError(
      'invalid_number',
      `${JSON.stringify(number.slice(0, 40))} is not an E.164 number: '+' followed by 8 to 15 digits, such as +14155552671`,
      { number: number.slice(0, 40), rule: 'e164_format' },
    );
  }
}

/** Rows of an INSERT … RETURNING through either driver (postgres.js: an array; PGlite: { rows }). */
function rowCount(result: unknown): number {
  if (Array.isArray(result)) return result.length;
  const rows = (result as { rows?: unknown[] }).rows;
  return Array.isArray(rows) ? rows.length : 0;
}

function isoMillis(micro: string): string {
  return `${micro.slice(0, 23)}Z`;
}

function decodeCursor(cursor: string): [string, string] {
  const decoded = decodeKeysetCursor(cursor, isStrictE164);
  if (!decoded)
    throw new DncError('invalid_request', 'Invalid request: cursor is not a cursor this API returned.', {
      fields: [{ field: 'cursor', message: 'is not a cursor this API returned' }],
    });
  return decoded;
}
