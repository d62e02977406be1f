import { type Logger, pino } from 'pino';

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

export function createLogger(level = 'info'): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { svc: 'agentline' } });
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
