/**
 * Fields of a thrown error left out of the log on purpose: a query's parameters and PostgreSQL's
 * `detail` ("Failing row contains (…)"), `where` and `internal_query`, which hold the caller's
 * objective, context and metadata. Every other plain field stays (PostgreSQL's SQLSTATE and table,
 * Node's errno, an ARI error's method, path and status), since it says what failed.
 */
const DROPPED_FIELDS = new Set([
  'params',
  'parameters',
  'args',
  'detail',
  'where',
  'internal_query',
  'query',
]);
const MAX_CAUSES = 4;

/** Drizzle writes the parameters into the message: `Failed query: <sql>\nparams: <values>`. */
function safeMessage(err: Error): string {
  const cut = err.message.indexOf('\nparams:');
  return cut >= 0 ? err.message.slice(0, cut) : err.message;
}

/**
 * A copy of `err` for the log: its type, message, call frames, cause chain and the fields above,
 * without query parameters or row contents. The stack is rebuilt from its frames because its first
 * line repeats the message, parameters included.
 */
export function loggableError(err: unknown, depth = 0): Error {
  if (!(err instanceof Error)) return new Error(`a non-Error value was thrown (${typeof err})`);
  const message = safeMessage(err);
  const out = new Error(message);
  out.name = err.name;
  const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  out.stack = [`${err.name}: ${message}`, ...frames].join('\n');
  if (err.cause !== undefined && depth < MAX_CAUSES) out.cause = loggableError(err.cause, depth + 1);
  // The log shows a cause's message and stack only, so its SQLSTATE is lifted here (first one wins).
  const fields = out as unknown as Record<string, unknown>;
  let e: unknown = err;
  for (let i = 0; i <= MAX_CAUSES && e instanceof Error; i++, e = e.cause) {
    const from = e as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(from)) {
      if (DROPPED_FIELDS.has(k) || k === 'message' || k === 'stack' || k === 'name') continue;
      const plain = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
      if (fields[k] === undefined && plain) fields[k] = v;
    }
  }
  return out;
}
