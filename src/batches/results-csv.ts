import { stringify } from 'csv-stringify/sync';
import type { CallRow } from '../db/schema.js';
import type { StoredTemplate } from './batch-service.js';

export const RESULT_COLUMNS = [
  'row',
  'callId',
  'to',
  'status',
  'endedReason',
  'attempts',
  'durationSeconds',
  'optOut',
  'summary',
] as const;

/** What a line of results.csv reads of a call (not its transcript or turns). */
export type ResultCall = Pick<
  CallRow,
  | 'id'
  | 'batchRow'
  | 'toNumber'
  | 'status'
  | 'endedReason'
  | 'attempts'
  | 'dialedAt'
  | 'durationSeconds'
  | 'optOut'
  | 'summary'
  | 'extracted'
>;

export interface ResultsSource {
  template: StoredTemplate;
  /** Names of the template's extraction fields. */
  fields: string[];
  /** The batch's calls in row order, a page at a time. */
  pages: () => AsyncGenerator<ResultCall[]>;
}

/** A plain decimal number (`-3.5`, `42`, `1e3`) or an E.164 number (`+14155550100`): kept as is. */
const PLAIN_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const E164 = /^\+[1-9]\d{1,14}$/;
/** What a spreadsheet may run as a formula when a cell starts with it (OWASP CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * Neutralises text a spreadsheet would run as a formula: a cell starting with `=`, `+`, `-`, `@`, tab
 * or carriage return gets a leading single quote, unless it is plainly a number or an E.164 number.
 */
export function safeCell(text: string): string {
  if (!FORMULA_START.test(text) || PLAIN_NUMBER.test(text) || E164.test(text)) return text;
  return `'${text}`;
}

/** A cell: text as is, numbers and booleans as JSON writes them, objects as JSON, nothing as empty; then made safe. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return safeCell(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return safeCell(JSON.stringify(v));
}

/** Attempts dialled so far: the retried ones, and the current one once it left the queue. */
export function attemptsMade(
  call: Pick<CallRow, 'attempts' | 'dialedAt' | 'status' | 'endedReason'>,
): number {
  const done = call.attempts?.length ?? 0;
  return done + (call.dialedAt ? 1 : 0);
}

/** The header of results.csv: fixed columns, variables (renamed `variables.<name>` on a clash), extracted fields. */
export function resultsHeader(variables: readonly string[], fields: readonly string[]): string[] {
  const fixed = new Set<string>(RESULT_COLUMNS);
  const vars = variables.map((v) => (fixed.has(v) ? `variables.${v}` : v));
  return [...RESULT_COLUMNS, ...vars.map(safeCell), ...fields.map((f) => `extracted.${f}`)];
}

/** One line of results.csv for a call. */
export function resultsLine(call: ResultCall, source: Pick<ResultsSource, 'template' | 'fields'>): string[] {
  const vars = source.template.rowVariables?.[(call.batchRow ?? 0) - 1] ?? {};
  const extracted = call.extracted ?? {};
  return [
    cell(call.batchRow),
    call.id,
    cell(call.toNumber),
    call.status,
    cell(call.endedReason),
    cell(attemptsMade(call)),
    cell(call.durationSeconds),
    cell(call.optOut),
    cell(call.summary),
    ...(source.template.variables ?? []).map((v) => cell(vars[v])),
    ...source.fields.map((f) => cell(extracted[f])),
  ];
}

/** results.csv as a stream: the header, then each page of calls as it is read (no whole-file buffer). */
export function resultsCsvStream(source: ResultsSource): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const opts = { record_delimiter: 'windows' as const };
  let pages: AsyncGenerator<ResultCall[]> | null = null;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(
        enc.encode(stringify([resultsHeader(source.template.variables ?? [], source.fields)], opts)),
      );
    },
    async pull(controller) {
      pages ??= source.pages();
      const next = await pages.next();
      if (next.done) {
        controller.close();
        return;
      }
      controller.enqueue(
        enc.encode(
          stringify(
            next.value.map((c) => resultsLine(c, source)),
            opts,
          ),
        ),
      );
    },
    async cancel() {
      await pages?.return(undefined);
    },
  });
}
