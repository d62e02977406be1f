import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import { loggableError } from './loggable-error.js';
import { redactUrls } from './redact.js';

export type { Logger };

/** Paths that could carry secrets; pino replaces them so no key or secret reaches a log line. */
const REDACT = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'apiKey',
  'key',
  'secret',
  'webhookSecret',
  'password',
  '*.password',
  '*.secret',
  '*.apiKey',
];

/** How deep into a log object strings are searched for URLs with credentials. */
const SCRUB_DEPTH = 4;

/**
 * Credentials inside URLs (ARI_URL, DATABASE_URL, LLM_URL, a webhook URL…) are blanked wherever a log
 * line carries them: in its fields, its message and an error's message and stack. Values are copied,
 * never changed in place, since they belong to the caller.
 */
function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactUrls(value);
  if (depth <= 0 || value === null || typeof value !== 'object' || value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth - 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, depth - 1)]));
}

function scrubbedError(err: unknown) {
  // Any line's error, not only the API's 500, may come from a failed query whose message and fields
  // carry the caller's data (drizzle's params, PostgreSQL's failing row): keep only what says what failed.
  // The serializer builds a fresh object for each line, so its fields can be cleaned in place.
  const out = pino.stdSerializers.err(
    err instanceof Error ? loggableError(err) : (err as Error),
  ) as unknown as Record<string, unknown>;
  if (out && typeof out === 'object') {
    for (const k of Object.keys(out)) if (typeof out[k] === 'string') out[k] = redactUrls(out[k] as string);
  }
  return out;
}

/**
 * The process's logger: JSON lines by default (for collectors), or with `format: 'pretty'`
 * (LOG_FORMAT=pretty) coloured, readable lines for a terminal, written synchronously to stdout.
 */
export function createLogger(
  level = 'info',
  destination?: DestinationStream,
  format: 'json' | 'pretty' = 'json',
): Logger {
  const out =
    format === 'pretty'
      ? pretty({
          destination: destination ?? 1,
          colorize: !destination && process.stdout.isTTY === true,
          sync: true,
          translateTime: 'SYS:HH:MM:ss.l',
        })
      : destination;
  return pino(
    {
      level,
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { svc: 'agentline' },
      serializers: { err: scrubbedError },
      formatters: { log: (obj) => scrub(obj, SCRUB_DEPTH) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          const clean = args.map((a) => (typeof a === 'string' ? redactUrls(a) : a)) as typeof args;
          return method.apply(this, clean);
        },
      },
    },
    out,
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
