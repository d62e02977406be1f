import { CsvError, parse } from 'csv-parse/sync';
import { CallError } from '../calls/errors.js';
import type { VariableValue } from './template.js';

/** Rows a batch may have. */
export const BATCH_MAX_ROWS = 10_000;

/** One row of a batch as the client sent it (a JSON row, or a CSV line turned into one). */
export interface BatchInputRow {
  to: string;
  variables?: Record<string, VariableValue>;
  metadata?: Record<string, unknown>;
}

/** What the CSV said: the rows and the variable columns (header order), for results.csv. */
export interface ParsedCsv {
  rows: BatchInputRow[];
  variables: string[];
}

const METADATA_PREFIX = 'metadata.';

const csvRefusal = (message: string, details: Record<string, unknown>) =>
  new CallError('invalid_request', `Invalid request: csv ${message}.`, {
    ...details,
    fields: [{ field: 'csv', message }],
  });

/**
 * Rows from CSV text: a header row, then one call a line. Column `to` (any case, trimmed) is
 * required; a column `metadata.<key>` goes to the row's metadata under `<key>`; every other column is
 * a variable. An empty cell is an absent value (a row that needs that variable is refused later). A
 * UTF-8 byte order mark, CRLF line ends and blank lines are tolerated. A CSV that cannot be read is
 * refused whole (400 invalid_request, `details.line` is the line in the file).
 */
export function parseCsvRows(text: string): ParsedCsv {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      info: true,
      skip_empty_lines: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    if (err instanceof CsvError) {
      const line = (err as CsvError & { lines?: number }).lines;
      throw csvRefusal(`cannot be read at line ${line ?? '?'}: ${err.message}`, { line: line ?? null });
    }
    throw err;
  }
  if (records.length === 0) throw csvRefusal('has no header row', { line: 1 });
  const header = records[0].record.map((h) => h.trim());
  const seen = new Set<string>();
  for (const [i, h] of header.entries()) {
    if (h === '') throw csvRefusal(`header column ${i + 1} has no name`, { line: records[0].info.lines });
    const key = h.toLowerCase() === 'to' ? 'to' : h;
    if (seen.has(key)) throw csvRefusal(`header names column '${h}' twice`, { line: records[0].info.lines });
    if (h === '__proto__' || h === `${METADATA_PREFIX}__proto__`) {
      throw csvRefusal(`header column '${h}' is not allowed`, { line: records[0].info.lines });
    }
    if (h.startsWith(METADATA_PREFIX) && h.length === METADATA_PREFIX.length) {
      throw csvRefusal(`header column '${h}' names no metadata key`, { line: records[0].info.lines });
    }
    seen.add(key);
  }
  const toIndex = header.findIndex((h) => h.toLowerCase() === 'to');
  if (toIndex < 0) throw csvRefusal("header has no 'to' column", { line: records[0].info.lines });
  const data = records.slice(1);
  if (data.length === 0)
    throw csvRefusal('has no data row under its header', { line: records[0].info.lines });
  if (data.length > BATCH_MAX_ROWS) {
    throw csvRefusal(`has ${data.length} rows; at most ${BATCH_MAX_ROWS}`, { rows: data.length });
  }
  const variables = header.filter((h, i) => i !== toIndex && !h.startsWith(METADATA_PREFIX));
  const rows = data.map(({ record }): BatchInputRow => {
    const row: BatchInputRow = { to: (record[toIndex] ?? '').trim() };
    for (const [i, h] of header.entries()) {
      const v = record[i];
      if (i === toIndex || v === undefined || v === '') continue;
      if (h.startsWith(METADATA_PREFIX)) {
        row.metadata ??= {};
        row.metadata[h.slice(METADATA_PREFIX.length)] = v;
      } else {
        row.variables ??= {};
        row.variables[h] = v;
      }
    }
    return row;
  });
  return { rows, variables };
}

/** Variable names of JSON rows, in order of first appearance (the columns of results.csv). */
export function variablesOfRows(rows: readonly BatchInputRow[]): string[] {
  const names = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.variables ?? {})) names.add(k);
  return [...names];
}
