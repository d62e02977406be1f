import fs from 'node:fs/promises';
import path from 'node:path';
import { and, desc, eq, gte, inArray, lt, type SQL, sql } from 'drizzle-orm';
import type { PlaceCallBody } from '../api/schemas.js';
import type { Config } from '../config.js';
import type { Db, Tx } from '../db/client.js';
import { decodeKeysetCursor, encodeKeysetCursor } from '../db/keyset-cursor.js';
import {
  type AccountRow,
  accounts,
  type CallRow,
  type CallWindow,
  calls,
  phoneNumbers,
} from '../db/schema.js';
import type { DncLookup } from '../dnc/deployment-list.js';
import { blockedBy, blockedByMany, type DncListName } from '../dnc/do-not-call.js';
import type { Readiness } from '../health.js';
import {
  type CallingRules,
  nextCallableAt,
  parseQuietHours,
  parseWindowSpec,
  type QuietHours,
} from '../scheduling/call-window.js';
import { timeZonesOf } from '../scheduling/number-time-zones.js';
import { webhookHostProblem } from '../webhooks/ssrf.js';
import type { CallStore } from './call-store.js';
import { type CallView, callListItem, callView } from './call-view.js';
import { countCreatedCall, effectiveCaps, enforceCaps } from './caps.js';
import { CallError, invalidField } from './errors.js';
import { checkDestination, checkNumberFormat, type GuardrailOptions } from './guardrails.js';
import { IdempotencyKeys, requestHash } from './idempotency.js';
import { PLACEMENT_HORIZON_DAYS, START_AT_MAX_DAYS } from './placement-limits.js';
import { type CallStatus, isTerminal } from './status.js';
import { TRANSFER_WHEN_DEFAULT } from './transfer-defaults.js';

export interface CallServiceDeps {
  db: Db;
  config: Config;
  calls: CallStore;
  readiness: Readiness;
  guardrails: GuardrailOptions;
  clock?: () => Date;
  /** Voices installed on this deployment; when given, `voice` must be one of them. */
  voices?: readonly string[];
  /** Told after a new call is committed as queued (not on a replay); a throw here never fails the request. */
  onCallQueued?: (callId: string) => void;
  /** The deployment-wide do-not-call list (DNC_LIST_FILE); without it only the accounts' own lists apply. */
  dncList?: DncLookup | null;
}

/**
 * What placing calls for one account needs to know once, not per call: the account row, its caller ID
 * numbers, the time of placement and the deployment's default window and quiet hours. A batch builds
 * one and prepares every row with it. Built by `CallService.createPlacementContext`.
 */
export interface PlacementContext {
  readonly account: AccountRow;
  readonly numbers: readonly { number: string; isDefault: boolean }[];
  readonly now: Date;
  /** Where the per-call lookups (do-not-call) run: the caller's transaction or the pool. */
  readonly db: Db | Tx;
  readonly defaultWindow: CallWindow;
  readonly quiet: QuietHours | null;
  /**
   * Numbers looked up on the do-not-call lists ahead of time (`preloadDnc`), and the list of each one
   * that is listed; a number outside `dncChecked` is looked up on its own.
   */
  readonly dncChecked: ReadonlySet<string>;
  readonly dncListed: ReadonlyMap<string, DncListName>;
  /** nextCallableAt answers by zones, window and start: a batch's rows share a handful of each. */
  readonly openings: Map<string, Date | null>;
}

export interface PlacementContextOptions {
  /** Destination numbers to look up on the account's do-not-call list in one query (a batch's rows). */
  preloadDnc?: Iterable<string>;
}

/** The row prepareCall builds for `calls` (no id); the caller may add batchId/batchRow and insert it. */
export type NewCallValues = typeof calls.$inferInsert & {
  accountId: string;
  toNumber: string;
  callerId: string;
  createdAt: Date;
  scheduledFor: Date | null;
  timeZones: string[];
};

export interface PlaceCallOptions {
  idempotencyKey?: string;
  /** The body as the client sent it (before defaults), hashed for the idempotency check. */
  rawBody?: unknown;
}

export interface PlaceCallAnswer {
  statusCode: number;
  body: Record<string, unknown>;
  location: string;
  /** True when this answer is the stored first answer to an Idempotency-Key. */
  replayed: boolean;
}

export interface ListCallsQuery {
  limit: number;
  cursor?: string;
  status?: string;
  /** Part of the destination number (the dashboard's search). */
  toContains?: string;
  /** Created at or after this time. */
  createdFrom?: Date;
  /** Created before this time. */
  createdBefore?: Date;
}

export interface RecordingFile {
  path: string;
  size: number;
  modified: Date;
  contentType: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const AUDIO_TYPES: Record<string, string> = {
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.flac': 'audio/flac',
  '.gsm': 'audio/x-gsm',
};

const notFound = () => new CallError('not_found', 'No call with this id exists for this account.');

const accountDisabled = (reason: string | null) =>
  new CallError(
    'account_disabled',
    `This account is disabled${reason ? ` (${reason})` : ''}; it cannot place calls. Ask the operator of this deployment.`,
  );

/**
 * The calls API as plain async methods: validation beyond the schema, guardrails, caps and
 * idempotency, independent of HTTP so any front end can share it. Refusals are CallErrors.
 */
export class CallService {
  private readonly now: () => Date;
  private readonly idempotency: IdempotencyKeys;

  constructor(private readonly deps: CallServiceDeps) {
    this.now = deps.clock ?? (() => new Date());
    this.idempotency = new IdempotencyKeys(this.now);
  }

  async placeCall(
    accountId: string,
    body: PlaceCallBody,
    opts: PlaceCallOptions = {},
  ): Promise<PlaceCallAnswer> {
    const { db, config } = this.deps;
    const key = opts.idempotencyKey;
    const hash = key ? requestHash(opts.rawBody ?? body) : '';
    if (key) {
      const prior = await this.idempotency.find(db, accountId, key, hash);
      if (prior) return this.replay(prior);
    }

    const ctx = await this.createPlacementContext(db, accountId);
    const values = await this.prepareCall(accountId, body, ctx);

    const report = await this.deps.readiness.report();
    if (!report.canPlaceCalls) {
      throw new CallError(
        'service_unavailable',
        `This deployment cannot place calls now: ${report.missing.map((m) => m.detail ?? m.name).join('; ')}`,
        { missing: report.missing },
      );
    }

    const answer = await db.transaction(async (tx): Promise<PlaceCallAnswer> => {
      const [account] = await tx.select().from(accounts).where(eq(accounts.id, accountId)).for('update');
      if (!account) throw new CallError('account_not_found', 'The account of this key no longer exists.');
      // Checked under the row lock: a disable that commits first is seen here, so no call slips in after it.
      if (account.disabledAt) throw accountDisabled(account.disabledReason);
      if (key) {
        const prior = await this.idempotency.reserve(tx, accountId, key, hash);
        if (prior) return this.replay(prior);
      }
      // Taken under the lock, so created_at follows the order in which the caps saw the calls.
      const now = this.now();
      const scheduledFor = values.scheduledFor && values.scheduledFor > now ? values.scheduledFor : null;
      // A call that waits for later holds no line now, so only one due now meets the concurrent cap.
      await enforceCaps(tx, accountId, effectiveCaps(account, config), now, {
        concurrent: scheduledFor === null,
      });
      const [row] = await tx
        .insert(calls)
        .values({ ...values, scheduledFor, createdAt: now })
        .returning({ id: calls.id });
      await this.deps.calls.recordPlaced(tx, row.id, now);
      await countCreatedCall(tx, accountId, now);
      const answer = {
        statusCode: 201,
        body: { callId: row.id, status: 'queued', scheduledFor: scheduledFor?.toISOString() ?? null },
        callId: row.id,
      };
      if (key) await this.idempotency.complete(tx, accountId, key, answer);
      return { statusCode: 201, body: answer.body, location: `/v1/agent/calls/${row.id}`, replayed: false };
    });
    if (!answer.replayed) {
      this.deps.calls.wrote(String(answer.body.callId), accountId);
      try {
        this.deps.onCallQueued?.(String(answer.body.callId));
      } catch {
        // The call is stored and a polling worker will claim it; a failed nudge must not fail the request.
      }
    }
    return answer;
  }

  /**
   * Loads what placing calls for this account needs once (see PlacementContext). `db` may be a
   * transaction: the do-not-call lookups of prepareCall then run in it. Throws account_not_found.
   */
  async createPlacementContext(
    db: Db | Tx,
    accountId: string,
    now: Date = this.now(),
    opts: PlacementContextOptions = {},
  ): Promise<PlacementContext> {
    const { config } = this.deps;
    const [account] = await db.select().from(accounts).where(eq(accounts.id, accountId));
    if (!account) throw new CallError('account_not_found', 'The account of this key no longer exists.');
    const numbers = await db
      .select({ number: phoneNumbers.number, isDefault: phoneNumbers.isDefault })
      .from(phoneNumbers)
      .where(eq(phoneNumbers.accountId, accountId));
    // Only strings: a batch hands its rows' `to` before they are validated.
    const dncChecked = new Set([...(opts.preloadDnc ?? [])].filter((n) => typeof n === 'string'));
    const dncListed =
      dncChecked.size > 0
        ? await blockedByMany(db, accountId, [...dncChecked], this.deps.dncList)
        : new Map<string, DncListName>();
    return {
      account,
      numbers,
      now,
      db,
      defaultWindow: parseWindowSpec(config.DEFAULT_CALL_WINDOW),
      quiet: parseQuietHours(config.QUIET_HOURS),
      dncChecked,
      dncListed,
      openings: new Map(),
    };
  }

  /**
   * Every check of one call, without storing it: the deployment's rules for webhookUrl and voice,
   * the destination guardrails (for `to` and `transfer.to`), the caller ID, the do-not-call lists,
   * startAt/expiresAt, and the calling hours in the callee's zones, which give `scheduledFor` (null:
   * callable now). Returns the values to insert; throws a CallError. Caps, idempotency and readiness
   * are the caller's (placeCall, or a batch).
   */
  async prepareCall(accountId: string, body: PlaceCallBody, ctx: PlacementContext): Promise<NewCallValues> {
    const { config } = this.deps;
    const now = ctx.now;
    this.checkDeploymentRules(body);
    const to = checkDestination(body.to, this.deps.guardrails);
    if (to) throw new CallError(to.code, to.message, to.details);
    this.checkTransferTarget(body.transfer?.to);
    const callerId = this.resolveCallerId(ctx, body.callerId);
    const startAt = body.startAt === undefined ? null : new Date(body.startAt);
    const expiresAt = body.expiresAt === undefined ? null : new Date(body.expiresAt);
    this.checkTimes(startAt, expiresAt, now);
    await this.checkDoNotCall(accountId, body.to, ctx);

    const zones = await timeZonesOf(body.to);
    const rules: CallingRules = {
      zones,
      window: body.callWindow ?? ctx.account.callWindow ?? ctx.defaultWindow,
      quiet: ctx.quiet,
    };
    const from = startAt && startAt > now ? startAt : now;
    const next = nextOpening(ctx, from, rules);
    if (!next || (expiresAt && next >= expiresAt)) throw outsideCallingHours(rules, from, expiresAt, next);

    return {
      accountId,
      status: 'queued',
      toNumber: body.to,
      callerId,
      objective: body.objective.trim(),
      context: body.context ?? null,
      fields: (body.fields ?? []).map((f) =>
        f.description === undefined
          ? { name: f.name, type: f.type }
          : { name: f.name, type: f.type, description: f.description },
      ),
      language: body.language ? Intl.getCanonicalLocales(body.language)[0] : config.DEFAULT_LANGUAGE,
      voice: body.voice ?? config.DEFAULT_VOICE ?? null,
      metadata: body.metadata ?? null,
      webhookUrl: body.webhookUrl ?? null,
      maxDurationSeconds: body.maxDurationSeconds ?? 600,
      voicemail: body.voicemail ?? { action: 'hangup' },
      transfer: body.transfer
        ? {
            to: body.transfer.to,
            mode: body.transfer.mode,
            when: body.transfer.when?.trim() ?? TRANSFER_WHEN_DEFAULT,
          }
        : null,
      createdAt: now,
      startAt,
      expiresAt,
      scheduledFor: next > now ? next : null,
      // The call's own window only: null follows the account's (and the deployment's) when it changes.
      callWindow: body.callWindow ?? null,
      timeZones: zones,
      retryPolicy: body.retry ?? ctx.account.retryPolicy ?? null,
    };
  }

  async getCall(accountId: string, id: string, baseUrl: string): Promise<CallView> {
    const call = await this.find(accountId, id);
    const [turns, events] = await Promise.all([
      this.deps.calls.turns(call.id),
      this.deps.calls.events(call.id),
    ]);
    return callView(call, turns, baseUrl, events);
  }

  async listCalls(accountId: string, q: ListCallsQuery) {
    const page = await this.listCallRows(accountId, q);
    return { calls: page.rows.map(callListItem), nextCursor: page.nextCursor };
  }

  /** listCalls' page as stored rows; a null `accountId` pages every account (the dashboard's instance admin). */
  async listCallRows(
    accountId: string | null,
    q: ListCallsQuery,
  ): Promise<{ rows: CallRow[]; nextCursor: string | null }> {
    const conds: SQL[] = accountId === null ? [] : [eq(calls.accountId, accountId)];
    // strpos, not LIKE: a searched number needs no escaping of % or _.
    if (q.toContains) conds.push(sql`strpos(${calls.toNumber}, ${q.toContains}) > 0`);
    if (q.createdFrom) conds.push(gte(calls.createdAt, q.createdFrom));
    if (q.createdBefore) conds.push(lt(calls.createdAt, q.createdBefore));
    if (q.status) {
      const statuses = [...new Set(q.status.split(',').map((s) => s.trim()))];
      conds.push(inArray(calls.status, statuses));
    }
    if (q.cursor) {
      const [at, id] = decodeCursor(q.cursor);
      conds.push(sql`(${calls.createdAt}, ${calls.id}) < (${at}::timestamptz, ${id}::uuid)`);
    }
    // Microsecond text of created_at: a JS Date would drop the microseconds and skip or repeat rows.
    const rows = await this.deps.db
      .select({
        call: calls,
        at: sql<string>`to_char(${calls.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
      })
      .from(calls)
      .where(and(...conds))
      .orderBy(desc(calls.createdAt), desc(calls.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      rows: page.map((r) => r.call),
      nextCursor: rows.length > q.limit && last ? encodeKeysetCursor(last.at, last.call.id) : null,
    };
  }

  /** Ends a non-terminal call as failed/canceled; the worker running it sees the status and hangs up. */
  async cancelCall(accountId: string, id: string, baseUrl: string): Promise<CallView> {
    const call = await this.find(accountId, id);
    if (isTerminal(call.status)) throw this.alreadyEnded(call.status);
    const res = await this.deps.calls.transition(call.id, 'failed', { reason: 'canceled' });
    if (!res.ok) {
      const status = res.call?.status ?? call.status;
      if (isTerminal(status)) throw this.alreadyEnded(status);
      throw new Error(`cancel of call ${call.id} refused from status ${status}`);
    }
    const [turns, events] = await Promise.all([
      this.deps.calls.turns(call.id),
      this.deps.calls.events(call.id),
    ]);
    return callView(res.call, turns, baseUrl, events);
  }

  /** The recording file of a call, checked to exist and to lie inside the recordings directory. */
  async recording(accountId: string, id: string): Promise<RecordingFile> {
    const call = await this.find(accountId, id);
    const none = new CallError('not_found', 'This call has no recording.');
    if (!call.recordingFile) throw none;
    const dir = path.resolve(this.deps.config.recordingsDir);
    const file = path.resolve(dir, call.recordingFile);
    if (!file.startsWith(dir + path.sep)) throw none;
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) throw none;
      const contentType = AUDIO_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
      return { path: file, size: st.size, modified: st.mtime, contentType };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw none;
      throw err;
    }
  }

  private async find(accountId: string, id: string) {
    if (!UUID.test(id)) throw notFound();
    const call = await this.deps.calls.get(id.toLowerCase(), accountId);
    if (!call) throw notFound();
    return call;
  }

  private alreadyEnded(status: string) {
    return new CallError('call_already_ended', `The call already ended with status ${status}.`, {
      status: status as CallStatus,
    });
  }

  private replay(prior: {
    statusCode: number;
    body: Record<string, unknown>;
    callId: string | null;
  }): PlaceCallAnswer {
    return {
      statusCode: prior.statusCode,
      body: prior.body,
      location: `/v1/agent/calls/${prior.callId}`,
      replayed: true,
    };
  }

  private checkDeploymentRules(body: PlaceCallBody): void {
    const { config, voices } = this.deps;
    if (body.webhookUrl) {
      const u = new URL(body.webhookUrl);
      if (u.protocol !== 'https:' && !(u.protocol === 'http:' && config.WEBHOOK_ALLOW_HTTP)) {
        throw invalidField(
          'webhookUrl',
          config.WEBHOOK_ALLOW_HTTP ? 'must be an http or https URL' : 'must be an https URL',
        );
      }
      if (u.username || u.password) throw invalidField('webhookUrl', 'must not carry credentials');
      // The delivery's own SSRF rules, so `localhost.` or `[::127.0.0.1]` is refused here as well as there.
      if (webhookHostProblem(u.hostname, config.WEBHOOK_ALLOW_PRIVATE)) {
        throw invalidField('webhookUrl', 'must not point to a private, loopback or reserved address');
      }
    }
    if (body.voice && voices && !voices.includes(body.voice)) {
      throw invalidField('voice', `is not installed here; installed voices: ${voices.join(', ') || 'none'}`);
    }
  }

  /**
   * A transfer number is dialled like `to`, so the same destination guardrails apply (a premium-rate
   * number must not be reachable through a transfer); the refusal names `transfer.to`. SIP URIs were
   * checked for shape by the schema.
   */
  private checkTransferTarget(target: string | undefined): void {
    if (target === undefined || target.startsWith('sip')) return;
    const bad = checkDestination(target, this.deps.guardrails);
    if (!bad) return;
    throw new CallError(bad.code, `transfer.to: ${bad.message}`, {
      ...bad.details,
      field: 'transfer.to',
    });
  }

  private resolveCallerId(ctx: PlacementContext, wanted: string | undefined): string {
    if (wanted !== undefined) {
      const bad = checkNumberFormat(wanted, 'callerId');
      if (bad) throw new CallError(bad.code, bad.message, bad.details);
      if (!ctx.numbers.some((n) => n.number === wanted)) {
        throw new CallError('caller_id_not_owned', `${wanted} is not a caller ID number of this account.`, {
          callerId: wanted,
        });
      }
      return wanted;
    }
    const def = ctx.numbers.find((n) => n.isDefault);
    if (!def) {
      throw new CallError(
        'no_caller_id',
        'No callerId was given and this account has no default caller ID; add a number or pass callerId.',
      );
    }
    return def.number;
  }

  /** startAt and expiresAt against the time of placement (the schema checked their form). */
  private checkTimes(startAt: Date | null, expiresAt: Date | null, now: Date): void {
    const maxStart = now.getTime() + START_AT_MAX_DAYS * 86_400_000;
    if (startAt && startAt.getTime() > maxStart) {
      throw invalidField('startAt', `must be at most ${START_AT_MAX_DAYS} days ahead`);
    }
    if (expiresAt && expiresAt <= now) throw invalidField('expiresAt', 'must be later than now');
    if (expiresAt && startAt && expiresAt <= startAt) {
      throw invalidField('expiresAt', 'must be later than startAt');
    }
  }

  private async checkDoNotCall(accountId: string, number: string, ctx: PlacementContext): Promise<void> {
    const list = ctx.dncChecked.has(number)
      ? (ctx.dncListed.get(number) ?? null)
      : await blockedBy(ctx.db, accountId, number, this.deps.dncList);
    if (!list) return;
    throw new CallError(
      'destination_blocked',
      list === 'account'
        ? `${number} is on this account's do-not-call list.`
        : `${number} is on this deployment's do-not-call list.`,
      { category: 'do_not_call', list },
    );
  }
}

/** nextCallableAt within the placement horizon, remembered in the context (its quiet hours are fixed). */
function nextOpening(ctx: PlacementContext, from: Date, rules: CallingRules): Date | null {
  const w = rules.window;
  const key = `${from.getTime()} ${w.start} ${w.end} ${w.days.join(',')} ${rules.zones.join(',')}`;
  let next = ctx.openings.get(key);
  if (next === undefined) {
    next = nextCallableAt(from, rules, PLACEMENT_HORIZON_DAYS);
    ctx.openings.set(key, next);
  }
  return next;
}

/** No opening of the calling hours within the horizon, or none before expiresAt. */
function outsideCallingHours(
  rules: CallingRules,
  from: Date,
  expiresAt: Date | null,
  next: Date | null,
): CallError {
  const why = next
    ? `its first opening (${next.toISOString()}) is not before expiresAt (${expiresAt?.toISOString()})`
    : `they leave no time to call in the ${PLACEMENT_HORIZON_DAYS} days from ${from.toISOString()}`;
  return new CallError(
    'outside_calling_hours',
    `The call cannot be placed within its calling hours in the callee's time zone${rules.zones.length > 1 ? 's' : ''} (${rules.zones.join(', ')}): ${why}.`,
    {
      timeZones: rules.zones,
      callWindow: rules.window,
      quietHours: rules.quiet,
      from: from.toISOString(),
      expiresAt: expiresAt?.toISOString() ?? null,
      nextOpening: next?.toISOString() ?? null,
      horizonDays: PLACEMENT_HORIZON_DAYS,
    },
  );
}

export function createCallService(deps: CallServiceDeps): CallService {
  return new CallService(deps);
}

function decodeCursor(cursor: string): [string, string] {
  const decoded = decodeKeysetCursor(cursor, (id) => UUID.test(id));
  if (!decoded) throw invalidField('cursor', 'is not a cursor this API returned');
  return decoded;
}
