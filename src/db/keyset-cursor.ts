/**
 * The opaque cursor of the API's newest-first lists (calls, batches, do-not-call numbers): the last
 * row's created_at as PostgreSQL's microsecond text and its unique key, as base64url JSON. Microseconds,
 * not a JS Date: a Date drops them, and the next page would skip or repeat rows created in the same
 * millisecond.
 */
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function encodeKeysetCursor(at: string, key: string): string {
  return Buffer.from(JSON.stringify([at, key])).toString('base64url');
}

/**
 * A time as encodeKeysetCursor writes it, and one PostgreSQL takes: Date.parse rolls 2020-02-31 over
 * to March and accepts year 0, both of which timestamptz refuses.
 */
function isCursorTime(s: string): boolean {
  if (!CURSOR_TIME.test(s)) return false;
  const ms = Date.parse(s);
  return (
    !Number.isNaN(ms) && ms >= Date.UTC(1, 0, 1) && new Date(ms).toISOString().slice(0, 23) === s.slice(0, 23)
  );
}

/** `[createdAt, key]` of a cursor this API wrote, or null for anything else (the caller answers 400). */
export function decodeKeysetCursor(cursor: string, isKey: (key: string) => boolean): [string, string] | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'string' ||
    typeof parsed[1] !== 'string' ||
    !isCursorTime(parsed[0]) ||
    !isKey(parsed[1])
  ) {
    return null;
  }
  return [parsed[0], parsed[1]];
}
