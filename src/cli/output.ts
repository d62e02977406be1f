import { CliError, type CliIo } from './types.js';

/** With --json, exactly one JSON object on stdout; otherwise the human text. */
export function emit(io: CliIo, json: boolean | undefined, result: object, human: string): void {
  io.out(json ? `${JSON.stringify(result)}\n` : `${human}\n`);
}

/** A plain aligned table for terminals; empty cells show as '-'. */
export function table(
  headers: string[],
  rows: (string | number | boolean | Date | null | undefined)[][],
): string {
  const cells = rows.map((r) => r.map(cell));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

function cell(v: string | number | boolean | Date | null | undefined): string {
  if (v === null || v === undefined || v === '') return '-';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

/** Prints a command's help on stdout; asking for help succeeds. */
export function showUsage(io: CliIo, usage: string): 0 {
  io.out(`${usage}\n`);
  return 0;
}

/** The usage error for a command whose first argument must be one of its actions. */
export function unknownAction(command: string, action: string | undefined, actions: string[]): CliError {
  const what = action === undefined ? 'missing action' : `unknown action ${JSON.stringify(action)}`;
  return new CliError(`${command}: ${what} (one of: ${actions.join(', ')})`, 2);
}
