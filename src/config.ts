import path from 'node:path';
import { z } from 'zod';
import { redactUrl } from './redact.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const countryList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((c) => c.trim().toUpperCase())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[A-Z]{2}$/, 'each country must be an ISO 3166-1 alpha-2 code')).min(1));

/** Every setting the process reads from its environment, with the defaults of an embedded single-box install. */
export const configSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  PORT: int(0, 65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  PUBLIC_BASE_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `json` (default): one JSON object a line, for collectors. `pretty`: coloured lines for a terminal (pino-pretty). */
  LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  /**
   * Bearer token for GET /metrics. Set: only requests with `Authorization: Bearer <token>` get them.
   * Unset: only loopback and private-network clients (by the socket's address, not through a proxy).
   */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * A second listener on this port (on HOST) that serves only /metrics: the way to scrape a
   * `--role worker` process, which has no API server. Unset: no such listener.
   */
  METRICS_PORT: int(0, 65535).optional(),
  /** 32-byte key (hex or base64) that encrypts webhook secrets at rest; generated under DATA_DIR when absent. */
  SECRET_KEY: z.string().optional(),

  ALLOWED_COUNTRIES: countryList.default(['US', 'CA', 'GB', 'AU', 'NZ', 'IL']),
  IRSF_LIST_FILE: z.string().optional(),
  DEFAULT_LANGUAGE: z.string().default('en-US'),
  DEFAULT_VOICE: z.string().optional(),

  /**
   * Calling hours of accounts that set none, in the callee's local time: "HH:MM-HH:MM" and optionally
   * the days ("09:00-20:00 mon,tue,wed,thu,fri"), or "always". A default, not legal advice.
   */
  DEFAULT_CALL_WINDOW: z
    .string()
    .trim()
    .regex(
      /^(always|\d{2}:\d{2}-\d{2}:\d{2}( (mon|tue|wed|thu|fri|sat|sun)(,(mon|tue|wed|thu|fri|sat|sun))*)?)$/,
      'must be "HH:MM-HH:MM", optionally followed by days such as "mon,tue,wed", or "always"',
    )
    .default('09:00-20:00'),
  /** Hours when no call of this deployment rings, in the callee's local time ("21:00-08:00"); no account can override them. */
  QUIET_HOURS: z
    .string()
    .trim()
    .regex(/^\d{2}:\d{2}-\d{2}:\d{2}$/, 'must be "HH:MM-HH:MM" in the callee\'s local time')
    .refine(
      (v) => v.slice(0, 5) !== v.slice(6),
      'must not start and end at the same time (that would stop every call)',
    )
    .optional(),
  /** A do-not-call list for every account: one E.164 number a line (# comments), read at start and on change. */
  DNC_LIST_FILE: z.string().optional(),
  /** Call attempts a second the SIP trunk accepts, across every worker of the database; unset: no limit. */
  TRUNK_MAX_CPS: z.coerce.number().positive().max(1000).optional(),
  /** Channels (calls dialing or live) the trunk carries at once, across every worker; unset: no limit. */
  TRUNK_MAX_CHANNELS: int(1, 100_000).optional(),

  CAP_CALLS_PER_MINUTE: int(1, 1_000_000).default(10),
  CAP_CONCURRENT_CALLS: int(1, 100_000).default(5),
  CAP_CALLS_PER_DAY: int(1, 10_000_000).default(500),
  CAP_MINUTES_PER_MONTH: int(1, 100_000_000).default(10_000),

  WEBHOOK_ALLOW_HTTP: bool.default(false),
  WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  WEBHOOK_TIMEOUT_MS: int(100, 60_000).default(10_000),
  /** How long failed deliveries keep being retried; the spec asks for at least 24 h. */
  WEBHOOK_RETRY_HOURS: int(24, 24 * 14).default(48),
  /** Retry schedule: the first retry after this, each next one WEBHOOK_RETRY_FACTOR times longer, capped (±20 % jitter). */
  WEBHOOK_RETRY_FIRST_SECONDS: int(1, 86_400).default(5),
  WEBHOOK_RETRY_FACTOR: z.coerce.number().min(1).max(100).default(3),
  WEBHOOK_RETRY_MAX_SECONDS: int(1, 86_400).default(3600),
  /** How often a deliverer looks for due deliveries (it is also woken at once by each status change). */
  WEBHOOK_POLL_MS: int(50, 60_000).default(1000),

  /**
   * Calls a worker carries at once. `auto` (default): as many as its engines, measured at start, keep
   * at the voice quality aimed for, lowered while the machine is busy with other work or replies come
   * late (src/capacity); a call beyond it waits in `queued`. A number: exactly that many, as before.
   */
  WORKER_CONCURRENCY: z.union([z.literal('auto'), int(1, 1000)]).default('auto'),
  WORKER_POLL_MS: int(10, 60_000).default(500),
  WORKER_STALE_SECONDS: int(5, 3600).default(30),
  /**
   * On SIGTERM a worker claims nothing new and lets its live calls finish for up to this long, then
   * ends the rest politely (the agent says goodbye). Default 600 s: the default maxDurationSeconds.
   * Give the process manager more (compose `stop_grace_period`, systemd `TimeoutStopSec`): this plus
   * about a minute for the goodbyes and the post-call summaries.
   */
  DRAIN_SECONDS: int(0, 86_400).default(600),
  /** A worker whose event loop lags more than this (ms) claims no new call until it catches up. */
  WORKER_MAX_LAG_MS: int(20, 60_000).default(500),
  /** The post-call summary and extraction are cut off after this long; a shorter summary is used then. */
  SUMMARY_TIMEOUT_SECONDS: int(1, 600).default(45),
  /** Most tokens the dialogue model may write for the post-call summary and extracted values. */
  SUMMARY_MAX_TOKENS: int(32, 8192).default(384),

  ARI_URL: z.string().url().optional(),
  ARI_USERNAME: z.string().default('agentline'),
  ARI_PASSWORD: z.string().default('agentline'),
  ARI_APP: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default('agentline'),
  DIAL_STRING: z.string().includes('{to}', { message: 'must contain {to}' }).default('PJSIP/{to}@trunk'),
  RING_TIMEOUT_SECONDS: int(5, 300).default(30),
  /**
   * Unset: websocket (slin16) with the simulated PBX; with a real Asterisk, websocket on 22.6 and newer
   * and rtp (ulaw) before, as `GET /asterisk/info` says (rtp too when MEDIA_FORMAT is ulaw or alaw).
   */
  MEDIA_TRANSPORT: z.enum(['rtp', 'websocket']).optional(),
  MEDIA_FORMAT: z.enum(['ulaw', 'alaw', 'slin16']).optional(),
  MEDIA_HOST: z.string().default('127.0.0.1'),
  RTP_PORT_MIN: int(1024, 65535).default(20000),
  RTP_PORT_MAX: int(1024, 65535).default(20999),
  /** A transferred call: seconds of the connected part (callee and person) the recording keeps. */
  TRANSFER_RECORD_SECONDS: int(0, 3600).default(60),
  /** A transferred call: the longest the connected legs are kept up; past it both are hung up. */
  TRANSFER_MAX_SECONDS: int(60, 86_400).default(3600),
  RECORDINGS_DIR: z.string().optional(),
  RECORDINGS_RETENTION_DAYS: int(1, 3650).default(30),
  SCENARIOS_DIR: z.string().optional(),

  STT_ENGINE: z.enum(['vosk', 'pocketsphinx']).optional(),
  TTS_ENGINE: z.enum(['piper', 'flite']).optional(),
  DIALOGUE_ENGINE: z.enum(['llama-cpp', 'openai']).optional(),
  LLM_MODEL: z.string().optional(),
  LLM_URL: z.string().url().optional(),
  LLM_API_KEY: z.string().optional(),
  /** llama.cpp CPU threads; default: all cores but one, which media and speech need. */
  LLM_THREADS: int(1, 512).optional(),
  /** llama.cpp CPU threads while a reply is generated (the callee is silent then); default: all cores. */
  LLM_TURN_THREADS: int(1, 512).optional(),
  MODELS_DIR: z.string().optional(),
  MODELS_AUTO_FETCH: bool.default(true),

  /** Dashboard: a session unused this long ends (minutes; default 12 hours). */
  /** The dashboard owner the first start creates (with the first account), signed in by a one-time link. */
  FIRST_OWNER_EMAIL: z.string().trim().email().default('admin@agentline.local'),
  DASHBOARD_SESSION_IDLE_MINUTES: int(5, 525_600).default(720),
  /** Dashboard: a session ends this long after its sign-in however busy it is (hours; default 7 days). */
  DASHBOARD_SESSION_MAX_HOURS: int(1, 8760).default(168),
});

type RawConfig = z.infer<typeof configSchema>;
export type Config = RawConfig & {
  dataDir: string;
  recordingsDir: string;
  modelsDir: string;
  /** Used to build absolute URLs (recordingUrl) when PUBLIC_BASE_URL is unset. */
  publicBaseUrl: string;
};

/** Settings whose value is a secret as a whole: a config error names them but never shows them. */
const SECRET_SETTING = /(PASSWORD|SECRET|_KEY$|TOKEN)/;

/** A bad value as a config error may show it: secrets not at all, URLs without their credentials. */
function shownValue(key: string, value: string | undefined): string {
  if (value === undefined) return 'nothing';
  if (SECRET_SETTING.test(key)) return `a value of ${value.length} characters, not shown`;
  return JSON.stringify(redactUrl(value));
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the environment; every bad value is named in one error. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const key = String(i.path[0] ?? '');
        return `${key}: ${i.message} (got ${shownValue(key, cleaned[key])})`;
      }),
    );
  }
  const c = parsed.data;
  if (c.WEBHOOK_RETRY_FIRST_SECONDS > c.WEBHOOK_RETRY_MAX_SECONDS) {
    throw new ConfigError([
      `WEBHOOK_RETRY_FIRST_SECONDS (${c.WEBHOOK_RETRY_FIRST_SECONDS}) must not be above WEBHOOK_RETRY_MAX_SECONDS (${c.WEBHOOK_RETRY_MAX_SECONDS})`,
    ]);
  }
  if (c.RTP_PORT_MIN >= c.RTP_PORT_MAX) {
    throw new ConfigError([
      `RTP_PORT_MIN (${c.RTP_PORT_MIN}) must be below RTP_PORT_MAX (${c.RTP_PORT_MAX})`,
    ]);
  }
  const dataDir = path.resolve(c.DATA_DIR);
  return {
    ...c,
    dataDir,
    recordingsDir: path.resolve(c.RECORDINGS_DIR ?? path.join(dataDir, 'recordings')),
    modelsDir: path.resolve(c.MODELS_DIR ?? path.join(dataDir, 'models')),
    publicBaseUrl: (c.PUBLIC_BASE_URL ?? `http://127.0.0.1:${c.PORT}`).replace(/\/+$/, ''),
  };
}
