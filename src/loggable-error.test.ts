import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture() {
  const lines: string[] = [];
  return { lines, logger: createLogger('info', { write: (s: string) => void lines.push(s) }) };
}

/** A failed insert as drizzle throws it: the SQL and its parameters in the message, PostgreSQL's error as the cause. */
function failedInsert(): Error {
  const pg = Object.assign(
    new Error('new row for relation "calls" violates check constraint "objective_len"'),
    {
      code: '23514',
      table_name: 'calls',
      constraint_name: 'objective_len',
      detail: 'Failing row contains (Call Mrs Smith about her biopsy results)',
      parameters: ['Call Mrs Smith about her biopsy results'],
    },
  );
  return new Error(
    'Failed query: insert into "calls" ("objective") values ($1)\nparams: Call Mrs Smith about her biopsy results',
    {
      cause: pg,
    },
  );
}

describe('every log line, not only the API 500', () => {
  it("keeps what failed and drops the caller's data from a failed query", () => {
    const { lines, logger } = capture();
    logger.child({ part: 'worker' }).error({ err: failedInsert() }, 'could not store the call');
    const line = lines.join('\n');
    expect(line).not.toContain('biopsy');
    const parsed = JSON.parse(lines[0] as string);
    expect(parsed.err.message).toContain('Failed query: insert into "calls"');
    expect(parsed.err.code).toBe('23514');
    expect(parsed.err.constraint_name).toBe('objective_len');
    expect(parsed.err.stack).toContain('at ');
  });

  it("keeps an error's own plain fields, such as a failed ARI request's method, path and status", () => {
    const { lines, logger } = capture();
    const err = Object.assign(new Error('Channel not in Stasis application'), {
      method: 'POST',
      path: '/bridges/b1/addChannel',
      status: 422,
    });
    logger.warn({ err }, 'ari request failed');
    const parsed = JSON.parse(lines[0] as string);
    expect(parsed.err).toMatchObject({ method: 'POST', path: '/bridges/b1/addChannel', status: 422 });
  });
});
