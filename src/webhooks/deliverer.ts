import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { and, asc, eq, inArray, lte } from 'drizzle-orm';
import type { SecretBox } from '../accounts/secret-box.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { accounts, type WebhookDeliveryRow, webhookAttempts, webhookDeliveries } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { signWebhook } from './signature.js';
import { createSsrfGuard, type ResolveAll, WebhookTargetError } from './ssrf.js';

export interface WebhookDelivererDeps {
  db: Db;
  secrets: SecretBox;
  logger: Logger;
  /** A delivery succeeds on a 2xx status received within this time. */
  timeoutMs: number;
  /** Failed deliveries are retried until this long after the event, then marked dead. */
  retryHours: number;
  allowHttp: boolean;
  allowPrivate: boolean;
  pollMs?: number;
  /** Delay in ms before the retry that follows failed attempt number `attempt` (1-based). */
  backoff?: (attempt: number) => number;
  clock?: () => Date;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Host name resolution for the SSRF guard (tests inject answers). */
  resolve?: ResolveAll;
  userAgent?: string;
  /** Told after each attempt is recorded: delivered, failed (retried later) or dead (given up). */
  onAttempt?: (result: 'delivered' | 'failed' | 'dead') => void;
}

export interface WebhookDeliverer {
  start(): void;
  /** Stops polling and waits for the requests in flight (each ends within timeoutMs). */
  stop(): Promise<void>;
  /** Looks for due deliveries now (after a transition wrote one). */
  wake(): void;
  /** Claims one batch of due deliveries and attempts each; resolves with how many were attempted. */
  drainOnce(): Promise<number>;
}

export interface BackoffSchedule {
  /** Delay before the first retry. */
  firstMs: number;
  /** Each later delay is the one before times this. */
  factor: number;
  /** No delay is longer than this. */
  maxMs: number;
}

/** The default schedule: 5 s, 15 s, 45 s, … capped at 1 h (WEBHOOK_RETRY_* in the environment change it). */
export const DEFAULT_BACKOFF: BackoffSchedule = { firstMs: 5000, factor: 3, maxMs: 3_600_000 };

/** The schedule the deployment configured (WEBHOOK_RETRY_FIRST_SECONDS, _FACTOR, _MAX_SECONDS). */
export function webhookRetrySchedule(
  config: Pick<Config, 'WEBHOOK_RETRY_FIRST_SECONDS' | 'WEBHOOK_RETRY_FACTOR' | 'WEBHOOK_RETRY_MAX_SECONDS'>,
): BackoffSchedule {
  return {
    firstMs: config.WEBHOOK_RETRY_FIRST_SECONDS * 1000,
    factor: config.WEBHOOK_RETRY_FACTOR,
    maxMs: config.WEBHOOK_RETRY_MAX_SECONDS * 1000,
  };
}

/** Exponential delays, each ±20 % so a receiver that comes back is not hit by a wave. */
export function exponentialBackoff(
  schedule: BackoffSchedule,
  random: () => number = Math.random,
): (attempt: number) => number {
  return (attempt) => {
    const base = Math.min(schedule.maxMs, schedule.firstMs * schedule.factor ** Math.max(0, attempt - 1));
    return Math.round(base * (0.8 + 0.4 * random()));
  };
}

export function defaultBackoff(attempt: number, random: () => number = Math.random): number {
  return exponentialBackoff(DEFAULT_BACKOFF, random)(attempt);
}

type AttemptResult = (
  | { ok: true; statusCode: number }
  /** `permanent`: trying again cannot succeed (the SSRF guard refused the target), so the delivery is dead at once. */
  | { ok: false; statusCode: number | null; error: string; permanent?: boolean }
) & {
  /** The start of the receiver's response body, when it sent one. */
  excerpt?: string | null;
};

const MAX_ERROR_CHARS = 500;
/** Characters of the receiver's response body kept with an attempt, for the operator to read. */
export const RESPONSE_EXCERPT_CHARS = 512;
/** Bytes read from a response body at most: 512 characters of UTF-8 fit in four bytes each. */
const RESPONSE_EXCERPT_BYTES = RESPONSE_EXCERPT_CHARS * 4;
/**
 * Attempt rows kept per delivery (the newest). Retries are bounded only by time: WEBHOOK_RETRY_HOURS up to
 * 14 days with delays as short as 1 s would be a million rows for one event, and the default schedule
 * (5 s × 3, capped at 1 h, for 48 h) makes about 55; redelivery adds more without limit.
 */
export const MAX_ATTEMPTS_KEPT = 100;
/** Time a claimed row stays invisible to other deliverers beyond the request timeout. */
const LEASE_MARGIN_MS = 30_000;

/** How far a claim pushes a row's next_attempt_at: the lease of one attempt in flight. */
export function leaseMs(timeoutMs: number): number {
  return timeoutMs + LEASE_MARGIN_MS;
}

export function createWebhookDeliverer(deps: WebhookDelivererDeps): WebhookDeliverer {
  const { db, secrets, timeoutMs, retryHours } = deps;
  const log = deps.logger.child({ component: 'webhooks' });
  const clock = deps.clock ?? (() => new Date());
  const pollMs = deps.pollMs ?? 1000;
  const backoff = deps.backoff ?? ((n: number) => defaultBackoff(n));
  const concurrency = Math.max(1, deps.concurrency ?? 8);
  const userAgent = deps.userAgent ?? 'agentline-webhooks/0.1';
  const guard = createSsrfGuard({
    allowHttp: deps.allowHttp,
    allowPrivate: deps.allowPrivate,
    resolve: deps.resolve,
  });

  let started = false;
  let stopping = false;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;
  let again = false;
  /** Every drain under way, from the loop or a direct drainOnce(): stop() waits for all of them. */
  const drains = new Set<Promise<number>>();

  async function claim(): Promise<WebhookDeliveryRow[]> {
    const now = clock();
    // Select, then update, in one transaction: a single `UPDATE … WHERE id IN (SELECT … LIMIT n FOR
    // UPDATE SKIP LOCKED)` may re-run its subquery per row and claim more than n.
    return db.transaction(async (tx) => {
      const due = await tx
        .select({ id: webhookDeliveries.id })
        .from(webhookDeliveries)
        .where(and(eq(webhookDeliveries.status, 'pending'), lte(webhookDeliveries.nextAttemptAt, now)))
        .orderBy(asc(webhookDeliveries.nextAttemptAt))
        .limit(concurrency)
        .for('update', { skipLocked: true });
      if (due.length === 0) return [];
      // Pushing next_attempt_at past the attempt is the lease: no other deliverer sees the row until
      // this attempt is recorded, or until the lease runs out because this process died mid-attempt.
      return tx
        .update(webhookDeliveries)
        .set({ nextAttemptAt: new Date(now.getTime() + leaseMs(timeoutMs)) })
        .where(
          inArray(
            webhookDeliveries.id,
            due.map((d) => d.id),
          ),
        )
        .returning();
    });
  }

  async function secretsOf(rows: WebhookDeliveryRow[]): Promise<Map<string, string | null>> {
    const ids = [...new Set(rows.map((r) => r.accountId))];
    const found = await db
      .select({ id: accounts.id, enc: accounts.webhookSecretEnc })
      .from(accounts)
      .where(inArray(accounts.id, ids));
    return new Map(found.map((a) => [a.id, a.enc]));
  }

  function post(url: URL, body: string, headers: Record<string, string>): Promise<AttemptResult> {
    return new Promise((resolve) => {
      let settled = false;
      let deadline: NodeJS.Timeout | undefined;
      /** The status once it came: a body that is slow to follow does not turn it into a timeout. */
      let answered: AttemptResult | null = null;
      const chunks: Buffer[] = [];
      let bytes = 0;
      const finish = (r: AttemptResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(r);
      };
      const send = url.protocol === 'https:' ? https.request : http.request;
      const req = send(url, {
        method: 'POST',
        headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
        lookup: guard.lookup,
        // A fresh connection each time: no pooled socket outlives stop(), and every connect is checked.
        agent: false,
      });
      deadline = setTimeout(() => {
        finish(
          answered
            ? { ...answered, excerpt: excerptOf(Buffer.concat(chunks, bytes)) }
            : { ok: false, statusCode: null, error: `no response within ${timeoutMs} ms` },
        );
        req.destroy();
      }, timeoutMs);
      req.on('response', (res) => {
        const code = res.statusCode ?? 0;
        let outcome: AttemptResult;
        if (code >= 200 && code < 300) outcome = { ok: true, statusCode: code };
        else if (code >= 300 && code < 400)
          outcome = { ok: false, statusCode: code, error: `redirect (${code}) not followed` };
        else outcome = { ok: false, statusCode: code, error: `receiver answered ${code}` };
        answered = outcome;
        // The status is the answer; of the body only the start is read, for the operator, and the socket
        // is closed after it (a receiver that streams forever must not hold the deliverer).
        const done = () => {
          finish({ ...outcome, excerpt: excerptOf(Buffer.concat(chunks, bytes)) });
          req.destroy();
        };
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          chunks.push(chunk);
          bytes += chunk.length;
          if (bytes >= RESPONSE_EXCERPT_BYTES) done();
        });
        res.on('end', done);
        // A body cut short still leaves the status as the answer.
        res.on('error', done);
        res.on('close', done);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        // The guard's lookup refused every address the name resolved to.
        if (err instanceof WebhookTargetError) {
          finish({ ok: false, statusCode: null, error: err.message, permanent: true });
          return;
        }
        finish({
          ok: false,
          statusCode: null,
          error: err.code ? `${err.code}: ${err.message}` : err.message,
        });
      });
      req.end(body);
    });
  }

  async function attempt(
    row: WebhookDeliveryRow,
    secretEnc: string | null | undefined,
  ): Promise<AttemptResult> {
    let url: URL;
    try {
      url = guard.checkUrl(row.url);
    } catch (err) {
      return { ok: false, statusCode: null, error: (err as Error).message, permanent: true };
    }
    if (!secretEnc) return { ok: false, statusCode: null, error: 'the account has no webhook secret' };
    let secret: string;
    try {
      secret = secrets.open(secretEnc);
    } catch {
      return { ok: false, statusCode: null, error: 'the account webhook secret cannot be decrypted' };
    }
    const body = JSON.stringify(row.payload);
    const t = Math.floor(clock().getTime() / 1000);
    return post(url, body, {
      'Content-Type': 'application/json',
      'User-Agent': userAgent,
      'X-BYS-Signature': signWebhook(body, secret, t),
      'X-BYS-Event-Id': row.id,
    });
  }

  /** When a try began and how long it took, for its attempt row. */
  interface Timing {
    startedAt: Date;
    durationMs: number;
  }

  /**
   * Writes the delivery's new state and the attempt's row in one transaction: the attempt count and the
   * history never disagree, whether the process dies before, during or after the commit. Returns false when
   * the attempt was not ours to record any more.
   */
  function store(
    row: WebhookDeliveryRow,
    attempts: number,
    set: Partial<typeof webhookDeliveries.$inferInsert>,
    r: AttemptResult,
    timing: Timing,
  ): Promise<boolean> {
    // Only the holder of this attempt may record it: if the lease ran out and another deliverer took
    // the row, its result wins and this one is dropped.
    const mine = and(
      eq(webhookDeliveries.id, row.id),
      eq(webhookDeliveries.status, 'pending'),
      eq(webhookDeliveries.attempts, row.attempts),
    );
    return db.transaction(async (tx) => {
      const won = await tx
        .update(webhookDeliveries)
        .set({ ...set, attempts })
        .where(mine)
        .returning({ id: webhookDeliveries.id });
      if (won.length === 0) return false;
      // The count only grows (redelivery continues it), so the number is never taken twice.
      await tx.insert(webhookAttempts).values({
        deliveryId: row.id,
        attempt: attempts,
        attemptedAt: timing.startedAt,
        durationMs: timing.durationMs,
        statusCode: r.statusCode,
        error: r.ok ? null : r.error.slice(0, MAX_ERROR_CHARS),
        responseExcerpt: r.excerpt ?? null,
      });
      if (attempts > MAX_ATTEMPTS_KEPT) {
        await tx
          .delete(webhookAttempts)
          .where(
            and(
              eq(webhookAttempts.deliveryId, row.id),
              lte(webhookAttempts.attempt, attempts - MAX_ATTEMPTS_KEPT),
            ),
          );
      }
      return true;
    });
  }

  async function record(row: WebhookDeliveryRow, r: AttemptResult, timing: Timing): Promise<void> {
    const now = clock();
    const attempts = row.attempts + 1;
    const target = {
      deliveryId: row.id,
      callId: row.callId,
      event: row.event,
      host: hostOf(row.url),
      attempts,
    };
    if (r.ok) {
      await store(
        row,
        attempts,
        { status: 'delivered', deliveredAt: now, lastStatusCode: r.statusCode, lastError: null },
        r,
        timing,
      );
      log.info({ ...target, statusCode: r.statusCode }, 'webhook delivered');
      deps.onAttempt?.('delivered');
      return;
    }
    const deadline = row.createdAt.getTime() + retryHours * 3_600_000;
    const dead = r.permanent === true || now.getTime() >= deadline;
    const next = new Date(Math.min(deadline, now.getTime() + Math.max(0, backoff(attempts))));
    await store(
      row,
      attempts,
      {
        status: dead ? 'dead' : 'pending',
        nextAttemptAt: dead ? now : next,
        lastError: r.error.slice(0, MAX_ERROR_CHARS),
        lastStatusCode: r.statusCode,
      },
      r,
      timing,
    );
    deps.onAttempt?.(dead ? 'dead' : 'failed');
    if (r.permanent) log.error({ ...target, error: r.error }, 'webhook delivery refused: target not allowed');
    else if (dead) log.error({ ...target, error: r.error }, 'webhook delivery gave up: retry window is over');
    else log.warn({ ...target, error: r.error, nextAttemptAt: next.toISOString() }, 'webhook attempt failed');
  }

  function drainOnce(): Promise<number> {
    const p = drainBatch();
    drains.add(p);
    const forget = () => drains.delete(p);
    p.then(forget, forget);
    return p;
  }

  async function drainBatch(): Promise<number> {
    const rows = await claim();
    if (rows.length === 0) return 0;
    const keys = await secretsOf(rows);
    await Promise.all(
      rows.map(async (row) => {
        try {
          const startedAt = clock();
          const t0 = performance.now();
          const r = await attempt(row, keys.get(row.accountId));
          await record(row, r, { startedAt, durationMs: Math.round(performance.now() - t0) });
        } catch (err) {
          // The lease expires and the row is tried again: at-least-once, never lost.
          log.error({ err, deliveryId: row.id }, 'could not record a webhook attempt');
        }
      }),
    );
    return rows.length;
  }

  function schedule(ms: number): void {
    if (stopping) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(loop, ms);
  }

  function loop(): void {
    timer = null;
    if (stopping || inFlight) return;
    inFlight = drainOnce()
      .then(
        (n) => {
          if (n === concurrency) again = true;
        },
        (err) => log.error({ err }, 'webhook poll failed'),
      )
      .finally(() => {
        inFlight = null;
        if (again) {
          again = false;
          schedule(0);
        } else schedule(pollMs);
      });
  }

  return {
    start() {
      if (started || stopping) return;
      started = true;
      loop();
    },
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await inFlight;
      await Promise.allSettled([...drains]);
    },
    wake() {
      if (!started || stopping) return;
      if (inFlight) again = true;
      else schedule(0);
    },
    drainOnce,
  };
}

/**
 * The first RESPONSE_EXCERPT_CHARS characters of a body as text. A character cut at the end of the bytes
 * read is dropped rather than shown broken; NUL, which Postgres text cannot hold, becomes U+FFFD.
 */
export function excerptOf(body: Buffer): string | null {
  const text = new TextDecoder('utf-8').decode(body.subarray(0, RESPONSE_EXCERPT_BYTES), { stream: true });
  // Array.from splits by code point, so a surrogate pair is never cut in half.
  const excerpt = Array.from(text.slice(0, RESPONSE_EXCERPT_CHARS * 2))
    .slice(0, RESPONSE_EXCERPT_CHARS)
    .join('')
    .replaceAll('\0', '\uFFFD');
  return excerpt === '' ? null : excerpt;
}

function hostOf(url: string): string | null {
  // Only the host is logged: paths and query strings of webhook URLs often carry tokens.
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}
