import crypto from 'node:crypto';
import { and, asc, desc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { PlaceCallBody } from '../api/schemas.js';
import type { CallService, NewCallValues, PlacementContext } from '../calls/call-service.js';
import type { CallStore } from '../calls/call-store.js';
import { webhookPayload } from '../calls/call-view.js';
import { effectiveCaps } from '../calls/caps.js';
import { CallError } from '../calls/errors.js';
import { IdempotencyKeys, requestHash } from '../calls/idempotency.js';
import { CALL_STATUSES, isTerminal } from '../calls/status.js';
import type { Config } from '../config.js';
import { type Db, rowsOf, type Tx } from '../db/client.js';
import { decodeKeysetCursor, encodeKeysetCursor } from '../db/keyset-cursor.js';
import {
  accounts,
  type BatchRefusal,
  type BatchRow,
  type BatchStatus,
  batches,
  type CallRow,
  callEvents,
  calls,
  usageCounters,
  webhookDeliveries,
} from '../db/schema.js';
import type { Readiness } from '../health.js';
import { completeBatchIfDone } from './batch-completion.js';
import { insertJsonRows } from './bulk-insert.js';
import type { ResultCall } from './results-csv.js';
import type { BatchInputRow } from './rows.js';
import { renderTemplate, type VariableValue } from './template.js';

/** The call template of a batch as the schema accepted it (PlaceCallBody without `to` and the scheduling options). */
export type BatchTemplate = Omit<PlaceCallBody, 'to' | 'callWindow' | 'startAt' | 'expiresAt' | 'retry'>;

/** Options of the whole batch that every row's call gets. */
export type BatchCallOptions = Pick<PlaceCallBody, 'callWindow' | 'startAt' | 'expiresAt' | 'retry'>;

export interface CreateBatchInput extends BatchCallOptions {
  name?: string;
  template: BatchTemplate;
  rows: BatchInputRow[];
  /** Variable names in column order (the CSV header, or the JSON rows' keys): results.csv's columns. */
  variables: string[];
  concurrency?: number;
  metadata?: Record<string, unknown>;
}

/** What the schema of a single call makes of one rendered row: the parsed body, or the refusal. */
export type CallBodyCheck = (
  raw: unknown,
) => { ok: true; body: PlaceCallBody } | { ok: false; error: CallError };

export interface BatchServiceDeps {
  db: Db;
  config: Config;
  calls: CallStore;
  service: Pick<CallService, 'prepareCall' | 'createPlacementContext'>;
  readiness: Readiness;
  /** The single call's request schema, applied to each rendered row (invalid_request with its field problems). */
  checkCallBody: CallBodyCheck;
  clock?: () => Date;
  /** Told once after a batch is committed (not on a replay), with its first call: wakes the worker. */
  onCallQueued?: (callId: string) => void;
}

export interface CreateBatchAnswer {
  statusCode: number;
  body: Record<string, unknown>;
  location: string;
  replayed: boolean;
}

/** What a stored batch row keeps in `template` besides the call template itself. */
export interface StoredTemplate extends Record<string, unknown> {
  /** Variable names (columns of results.csv). */
  variables: string[];
  /** Each row's variables, by batch row (index = row - 1); null for a row without any. */
  rowVariables: (Record<string, VariableValue> | null)[];
}

export const BATCH_COUNT_STATUSES = CALL_STATUSES;
export type BatchCounts = Record<(typeof CALL_STATUSES)[number], number>;

export interface BatchSummaryView {
  batchId: string;
  id: string;
  name: string | null;
  status: BatchStatus;
  concurrency: number | null;
  webhookUrl: string | null;
  createdAt: string;
  pausedAt: string | null;
  canceledAt: string | null;
  completedAt: string | null;
  metadata: Record<string, unknown> | null;
  totalRows: number;
  acceptedRows: number;
  refusedRows: number;
  counts: BatchCounts;
  progress: { ended: number; total: number };
}

export interface BatchCallItem {
  row: number;
  callId: string;
  to: string;
  status: string;
  endedReason: string | null;
  attempt: number;
  scheduledFor: string | null;
}

export type BatchView = BatchSummaryView & { refused: BatchRefusal[] };
export type BatchDetailView = BatchView & { calls: BatchCallItem[]; nextCursor: string | null };

/** Calls inserted per statement (one JSON parameter each, about 1 KB a call). */
const INSERT_CHUNK = 2_000;
/** Queued calls ended per transaction on cancel. */
const CANCEL_CHUNK = 1_000;
/** Rows prepared at once (each may look up a number's time zones). */
const PREPARE_PARALLEL = 16;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const utcDay = (d: Date) => d.toISOString().slice(0, 10);
const utcMonthStart = (d: Date) => `${d.toISOString().slice(0, 7)}-01`;

const notFound = () => new CallError('not_found', 'No batch with this id exists for this account.');

const accountDisabled = (reason: string | null) =>
  new CallError(
    'account_disabled',
    `This account is disabled${reason ? ` (${reason})` : ''}; it cannot place calls. Ask the operator of this deployment.`,
  );

const alreadyEnded = (status: string) =>
  new CallError('batch_already_ended', `The batch already ended with status ${status}.`, { status });

/**
 * Every row was refused, so no batch is stored: `invalid_request` with `details.refused`, which the
 * API answers with 422 (the request was well formed; none of its rows could be placed).
 */
export class NoRowAccepted extends CallError {
  constructor(readonly refused: BatchRefusal[]) {
    super('invalid_request', 'No row was accepted; details.refused says why for each row.', { refused });
    this.name = 'NoRowAccepted';
  }
}

const badCursor = () =>
  new CallError('invalid_request', 'Invalid request: cursor is not a cursor this API returned.', {
    fields: [{ field: 'cursor', message: 'is not a cursor this API returned' }],
  });

/**
 * Batches: many calls from one template, accepted row by row with the checks of a single call, stored
 * in one transaction, then run by the ordinary queue (the worker honours pause and the batch's
 * concurrency). Refusals are CallErrors, as in CallService.
 */
export class BatchService {
  private readonly now: () => Date;
  private readonly idempotency: IdempotencyKeys;

  constructor(private readonly deps: BatchServiceDeps) {
    this.now = deps.clock ?? (() => new Date());
    this.idempotency = new IdempotencyKeys(this.now);
  }

  async create(
    accountId: string,
    input: CreateBatchInput,
    opts: { idempotencyKey?: string; rawBody?: unknown } = {},
  ): Promise<CreateBatchAnswer> {
    const { db } = this.deps;
    const key = opts.idempotencyKey;
    // Scoped apart from calls: the same key on a call and on a batch is a conflict, never a replay of the other.
    const hash = key ? requestHash({ batch: opts.rawBody ?? input }) : '';
    if (key) {
      const prior = await this.idempotency.find(db, accountId, key, hash);
      if (prior) return replay(prior);
    }

    const report = await this.deps.readiness.report();
    if (!report.canPlaceCalls) {
      throw new CallError(
        'service_unavailable',
        `This deployment cannot place calls now: ${report.missing.map((m) => m.detail ?? m.name).join('; ')}`,
        { missing: report.missing },
      );
    }

    const ctx = await this.deps.service.createPlacementContext(db, accountId, this.now(), {
      preloadDnc: new Set(input.rows.map((r) => r.to)),
    });
    const prepared = await this.prepareRows(accountId, input, ctx);

    const answer = await db.transaction(async (tx): Promise<CreateBatchAnswer & { firstCallId?: string }> => {
      const [account] = await tx.select().from(accounts).where(eq(accounts.id, accountId)).for('update');
      if (!account) throw new CallError('account_not_found', 'The account of this key no longer exists.');
      if (account.disabledAt) throw accountDisabled(account.disabledReason);
      if (key) {
        const prior = await this.idempotency.reserve(tx, accountId, key, hash);
        if (prior) return replay(prior);
      }
      const now = this.now();
      const refused = [...prepared.refused];
      const accepted = await this.applyCaps(tx, account, now, prepared.accepted, refused);
      refused.sort((a, b) => a.row - b.row);
      if (accepted.length === 0) {
        throw new NoRowAccepted(refused);
      }

      const batchId = crypto.randomUUID();
      const template: StoredTemplate = {
        ...input.template,
        variables: input.variables,
        rowVariables: input.rows.map((r) =>
          r.variables && Object.keys(r.variables).length > 0 ? r.variables : null,
        ),
      };
      await tx.insert(batches).values({
        id: batchId,
        accountId,
        name: input.name ?? null,
        status: 'running',
        template,
        concurrency: input.concurrency ?? null,
        webhookUrl: input.template.webhookUrl ?? null,
        metadata: input.metadata ?? null,
        totalRows: input.rows.length,
        acceptedRows: accepted.length,
        refused,
        createdAt: now,
      });
      const ids = await insertCalls(tx, batchId, accepted, now);
      await tx
        .insert(usageCounters)
        .values({ accountId, day: utcDay(now), calls: accepted.length })
        .onConflictDoUpdate({
          target: [usageCounters.accountId, usageCounters.day],
          set: { calls: sql`${usageCounters.calls} + ${accepted.length}` },
        });
      const body = {
        batchId,
        status: 'running',
        totalRows: input.rows.length,
        acceptedRows: accepted.length,
        refusedRows: refused.length,
        accepted: accepted.map((a, i) => ({ row: a.row, callId: ids[i] })),
        refused,
      };
      if (key) await this.idempotency.complete(tx, accountId, key, { statusCode: 201, body, callId: null });
      return {
        statusCode: 201,
        body,
        location: `/v1/agent/batches/${batchId}`,
        replayed: false,
        firstCallId: ids[0],
      };
    });
    const { firstCallId, ...out } = answer;
    if (!out.replayed && firstCallId) {
      // Live streams and the worker wake once for the whole batch (the account stream reads every new call).
      this.deps.calls.wrote(firstCallId, accountId);
      try {
        this.deps.onCallQueued?.(firstCallId);
      } catch {
        // The calls are stored and a polling worker will claim them.
      }
    }
    return out;
  }

  /** Renders and checks every row as a single call; a bad row is refused, never the batch. */
  private async prepareRows(
    accountId: string,
    input: CreateBatchInput,
    ctx: PlacementContext,
  ): Promise<{ accepted: { row: number; values: NewCallValues }[]; refused: BatchRefusal[] }> {
    const results: ({ row: number; values: NewCallValues } | BatchRefusal)[] = new Array(input.rows.length);
    let next = 0;
    const work = async () => {
      for (;;) {
        const i = next++;
        if (i >= input.rows.length) return;
        results[i] = await this.prepareRow(accountId, input, input.rows[i], i + 1, ctx);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PREPARE_PARALLEL, input.rows.length) }, work));
    const accepted: { row: number; values: NewCallValues }[] = [];
    const refused: BatchRefusal[] = [];
    for (const r of results) {
      if ('values' in r) accepted.push(r);
      else refused.push(r);
    }
    return { accepted, refused };
  }

  private async prepareRow(
    accountId: string,
    input: CreateBatchInput,
    row: BatchInputRow,
    index: number,
    ctx: PlacementContext,
  ): Promise<{ row: number; values: NewCallValues } | BatchRefusal> {
    const to = typeof row.to === 'string' ? row.to : null;
    const refuse = (err: CallError): BatchRefusal => ({
      row: index,
      to,
      code: err.code,
      message: err.message,
      ...(err.details === undefined ? {} : { details: err.details }),
    });
    const rendered = renderTemplate(input.template, row.variables ?? {});
    if (!rendered.ok) {
      const names = rendered.missing.map((m) => `'${m}'`).join(', ');
      return refuse(
        new CallError(
          'invalid_request',
          `Row ${index} has no value for ${rendered.missing.length > 1 ? 'variables' : 'variable'} ${names}, which the template uses.`,
          { missingVariables: rendered.missing },
        ),
      );
    }
    const metadata =
      input.template.metadata || row.metadata ? { ...input.template.metadata, ...row.metadata } : undefined;
    const raw: Record<string, unknown> = {
      ...rendered.value,
      to: row.to,
      ...(metadata ? { metadata } : {}),
      ...(input.callWindow ? { callWindow: input.callWindow } : {}),
      ...(input.startAt ? { startAt: input.startAt } : {}),
      ...(input.expiresAt ? { expiresAt: input.expiresAt } : {}),
      ...(input.retry ? { retry: input.retry } : {}),
    };
    const checked = this.deps.checkCallBody(raw);
    if (!checked.ok) return refuse(checked.error);
    try {
      const values = await this.deps.service.prepareCall(accountId, checked.body, ctx);
      return { row: index, values };
    } catch (err) {
      if (err instanceof CallError) return refuse(err);
      throw err;
    }
  }

  /**
   * The caps a batch meets, under the account lock: rows past what today's calls_per_day leaves are
   * refused one by one (usage_cap_reached); a used-up month refuses every row. The per-minute and
   * concurrent caps do not apply to a batch: its calls are paced by the worker (the batch's
   * concurrency, the account's concurrent cap at dial time, the trunk limits).
   */
  private async applyCaps(
    tx: Tx,
    account: typeof accounts.$inferSelect,
    now: Date,
    rows: { row: number; values: NewCallValues }[],
    refused: BatchRefusal[],
  ): Promise<{ row: number; values: NewCallValues }[]> {
    const caps = effectiveCaps(account, this.deps.config);
    const [u] = rowsOf<{ today: number; month_seconds: number }>(
      await tx.execute(sql`select
        (select coalesce(sum(${usageCounters.calls}), 0) from ${usageCounters}
           where ${usageCounters.accountId} = ${account.id} and ${usageCounters.day} = ${utcDay(now)})::int as today,
        (select coalesce(sum(${usageCounters.callSeconds}), 0) from ${usageCounters}
           where ${usageCounters.accountId} = ${account.id}
             and ${usageCounters.day} >= ${utcMonthStart(now)})::float8 as month_seconds`),
    );
    const usedSeconds = Number(u.month_seconds);
    let room = Math.max(0, caps.callsPerDay - Number(u.today));
    let refusal: (row: { row: number; values: NewCallValues }) => BatchRefusal;
    if (usedSeconds >= caps.minutesPerMonth * 60) {
      room = 0;
      refusal = (r) => ({
        row: r.row,
        to: r.values.toNumber,
        code: 'usage_cap_reached',
        message: `The monthly cap of ${caps.minutesPerMonth} call minutes is used up; it resets on the 1st (UTC).`,
        details: {
          cap: 'minutes_per_month',
          limit: caps.minutesPerMonth,
          usedMinutes: Math.floor(usedSeconds / 60),
        },
      });
    } else {
      refusal = (r) => ({
        row: r.row,
        to: r.values.toNumber,
        code: 'usage_cap_reached',
        message: `The daily cap of ${caps.callsPerDay} calls is used up by the rows before this one; it resets at 00:00 UTC.`,
        details: { cap: 'calls_per_day', limit: caps.callsPerDay },
      });
    }
    if (rows.length <= room) return rows;
    for (const r of rows.slice(room)) refused.push(refusal(r));
    return rows.slice(0, room);
  }

  async list(accountId: string, q: { limit: number; cursor?: string }) {
    const conds = [eq(batches.accountId, accountId)];
    if (q.cursor) {
      const [at, id] = decodeListCursor(q.cursor);
      conds.push(sql`(${batches.createdAt}, ${batches.id}) < (${at}::timestamptz, ${id}::uuid)`);
    }
    const rows = await this.deps.db
      .select({
        ...summaryColumns,
        at: sql<string>`to_char(${batches.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
      })
      .from(batches)
      .where(and(...conds))
      .orderBy(desc(batches.createdAt), desc(batches.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const counts = await this.counts(page.map((r) => r.id));
    const last = page.at(-1);
    return {
      batches: page.map((r) => summaryView(r, counts.get(r.id))),
      nextCursor: rows.length > q.limit && last ? encodeKeysetCursor(last.at, last.id) : null,
    };
  }

  /** The batch with its counts and refusals (no calls): what pause, resume and cancel answer. */
  async get(accountId: string, id: string): Promise<BatchView> {
    const b = await this.find(accountId, id);
    const counts = await this.counts([b.id]);
    return { ...summaryView(b, counts.get(b.id)), refused: b.refused };
  }

  /** The batch and one page of its calls in row order. */
  async detail(
    accountId: string,
    id: string,
    q: { limit: number; cursor?: string },
  ): Promise<BatchDetailView> {
    const view = await this.get(accountId, id);
    let after = 0;
    if (q.cursor) after = decodeRowCursor(q.cursor);
    const rows = await this.deps.db
      .select({
        row: calls.batchRow,
        callId: calls.id,
        to: calls.toNumber,
        status: calls.status,
        endedReason: calls.endedReason,
        attempt: calls.attempt,
        scheduledFor: calls.scheduledFor,
      })
      .from(calls)
      .where(and(eq(calls.batchId, view.id), gt(calls.batchRow, after)))
      .orderBy(asc(calls.batchRow))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      ...view,
      calls: page.map((r) => ({
        row: r.row ?? 0,
        callId: r.callId,
        to: r.to,
        status: r.status,
        endedReason: r.endedReason ?? null,
        attempt: r.attempt,
        scheduledFor: iso(r.scheduledFor),
      })),
      nextCursor: rows.length > q.limit && last ? encodeRowCursor(last.row ?? 0) : null,
    };
  }

  /** Its queued calls stay unclaimed until resume; live ones go on. Pausing a paused batch changes nothing. */
  async pause(accountId: string, id: string): Promise<BatchView> {
    await this.setStatus(accountId, id, (b, now) => {
      if (b.status === 'paused') return null;
      return { status: 'paused', pausedAt: now };
    });
    return this.get(accountId, id);
  }

  /** The worker claims its queued calls again. Resuming a running batch changes nothing. */
  async resume(accountId: string, id: string): Promise<BatchView> {
    const changed = await this.setStatus(accountId, id, (b) => {
      if (b.status === 'running') return null;
      return { status: 'running', pausedAt: null };
    });
    if (changed) {
      const [first] = await this.deps.db
        .select({ id: calls.id })
        .from(calls)
        .where(and(eq(calls.batchId, changed.id), eq(calls.status, 'queued')))
        .limit(1);
      if (first) {
        try {
          this.deps.onCallQueued?.(first.id);
        } catch {
          // A polling worker claims them anyway.
        }
      }
    }
    return this.get(accountId, id);
  }

  /**
   * The batch becomes canceled at once (the worker claims none of it from then on); its queued calls
   * end failed/canceled in chunks, each one as CallStore.transition would end it (event, webhook);
   * dialing and live calls finish. When none is left running the batch gets its completedAt.
   */
  async cancel(accountId: string, id: string): Promise<BatchView> {
    let batch: BatchRow | null;
    try {
      batch = await this.setStatus(accountId, id, (_b, now) => ({ status: 'canceled', canceledAt: now }));
    } catch (err) {
      // A cancel cut off half way (the process stopped) left queued calls in a canceled batch; the
      // worker never claims them, and canceling again ends them. Otherwise an ended batch is a 409.
      batch = await this.unfinishedCancel(err, accountId, id);
    }
    if (!batch) throw new Error('cancel changed nothing');
    await this.cancelQueuedCalls(batch);
    return this.get(accountId, id);
  }

  private async unfinishedCancel(err: unknown, accountId: string, id: string): Promise<BatchRow> {
    if (!(err instanceof CallError) || err.code !== 'batch_already_ended') throw err;
    const [b] = await this.deps.db
      .select()
      .from(batches)
      .where(and(eq(batches.id, id.toLowerCase()), eq(batches.accountId, accountId)));
    if (b?.status !== 'canceled') throw err;
    const [queued] = await this.deps.db
      .select({ id: calls.id })
      .from(calls)
      .where(and(eq(calls.batchId, b.id), eq(calls.status, 'queued')))
      .limit(1);
    if (!queued) throw err;
    return b;
  }

  private async cancelQueuedCalls(batch: BatchRow): Promise<void> {
    const { db, calls: store } = this.deps;
    const publicBaseUrl = this.deps.config.publicBaseUrl;
    let after = 0;
    for (;;) {
      const at = this.now();
      const ended = await db.transaction(async (tx): Promise<CallRow[]> => {
        // The batch row first, then its calls: the order CallStore takes them in when a call ends.
        await tx.select({ id: batches.id }).from(batches).where(eq(batches.id, batch.id)).for('update');
        // Calls never dialled (first attempt): locked in row order, and a row a worker changed meanwhile
        // is re-read and left out once it is no longer queued. A retried call (it may have turns and
        // a history of attempts) is ended by the store below, exactly as a single cancel would end it.
        const picked = tx
          .select({ id: calls.id })
          .from(calls)
          .where(
            and(
              eq(calls.batchId, batch.id),
              eq(calls.status, 'queued'),
              gt(calls.batchRow, after),
              eq(calls.attempt, 1),
              sql`${calls.attempts} = '[]'::jsonb`,
            ),
          )
          .orderBy(asc(calls.batchRow))
          .limit(CANCEL_CHUNK)
          .for('update');
        // As CallStore.transition ends a queued call: no turns, no time on the line.
        const updated = await tx
          .update(calls)
          .set({
            status: 'failed',
            endedReason: 'canceled',
            endedAt: at,
            durationSeconds: 0,
            transcript: null,
          })
          .where(and(inArray(calls.id, picked), eq(calls.status, 'queued')))
          .returning();
        if (updated.length === 0) return updated;
        await tx.execute(sql`insert into ${callEvents} (call_id, from_status, to_status, reason, at)
          select id, 'queued', 'failed', 'canceled', ${at.toISOString()}::timestamptz
          from unnest(${`{${updated.map((c) => c.id).join(',')}}`}::uuid[]) as t(id)`);
        const hooks = updated.filter((c) => c.webhookUrl);
        if (hooks.length > 0) {
          await tx
            .insert(webhookDeliveries)
            .values(
              hooks.map((c) => {
                const eventId = crypto.randomUUID();
                return {
                  id: eventId,
                  accountId: c.accountId,
                  callId: c.id,
                  attempt: c.attempt,
                  event: 'call.failed',
                  url: c.webhookUrl as string,
                  payload: webhookPayload('call.failed', eventId, at, c, [], publicBaseUrl),
                  nextAttemptAt: at,
                };
              }),
            )
            .onConflictDoNothing();
        }
        return updated;
      });
      if (ended.length === 0) break;
      after = Math.max(...ended.map((c) => c.batchRow ?? 0));
      // One wake a chunk: the account's stream reads every change; a call's own stream also polls.
      store.wrote(ended[0].id, ended[0].accountId);
    }
    const retried = await db
      .select({ id: calls.id })
      .from(calls)
      .where(and(eq(calls.batchId, batch.id), eq(calls.status, 'queued')))
      .orderBy(asc(calls.batchRow));
    for (const { id } of retried) {
      await store.transition(id, 'failed', { reason: 'canceled', onlyFrom: 'queued' });
    }
    // The store completes a batch when its last running call ends; when none was running, it is done now.
    await db.transaction((tx) => completeBatchIfDone(tx, batch.id, this.now(), publicBaseUrl));
  }

  /**
   * Changes the batch's status under its row lock. `change` returns the new values, or null when the
   * batch is already as asked; an ended batch (completed or canceled) is refused with batch_already_ended.
   */
  private async setStatus(
    accountId: string,
    id: string,
    change: (b: BatchRow, now: Date) => Partial<typeof batches.$inferInsert> | null,
  ): Promise<BatchRow | null> {
    if (!UUID.test(id)) throw notFound();
    return this.deps.db.transaction(async (tx) => {
      const [b] = await tx
        .select()
        .from(batches)
        .where(and(eq(batches.id, id.toLowerCase()), eq(batches.accountId, accountId)))
        .for('update');
      if (!b) throw notFound();
      if (b.status === 'completed' || b.status === 'canceled') throw alreadyEnded(b.status);
      const set = change(b, this.now());
      if (!set) return null;
      const [updated] = await tx.update(batches).set(set).where(eq(batches.id, b.id)).returning();
      return updated;
    });
  }

  private async find(accountId: string, id: string) {
    if (!UUID.test(id)) throw notFound();
    const [b] = await this.deps.db
      .select({ ...summaryColumns, refused: batches.refused })
      .from(batches)
      .where(and(eq(batches.id, id.toLowerCase()), eq(batches.accountId, accountId)))
      .limit(1);
    if (!b) throw notFound();
    return b;
  }

  /** Calls of each batch by status. */
  private async counts(batchIds: string[]): Promise<Map<string, BatchCounts>> {
    const out = new Map<string, BatchCounts>();
    if (batchIds.length === 0) return out;
    const rows = await this.deps.db
      .select({ batchId: calls.batchId, status: calls.status, n: sql<number>`count(*)::int` })
      .from(calls)
      .where(inArray(calls.batchId, batchIds))
      .groupBy(calls.batchId, calls.status);
    for (const r of rows) {
      if (!r.batchId) continue;
      let c = out.get(r.batchId);
      if (!c) {
        c = emptyCounts();
        out.set(r.batchId, c);
      }
      if (r.status in c) c[r.status as keyof BatchCounts] = Number(r.n);
    }
    return out;
  }

  /**
   * The rows of results.csv's source, in row order, one page at a time: each call of the batch with
   * what the CSV needs. Null when the batch is not this account's.
   */
  async resultsSource(
    accountId: string,
    id: string,
  ): Promise<{
    template: StoredTemplate;
    fields: string[];
    pages: () => AsyncGenerator<ResultCall[]>;
  }> {
    if (!UUID.test(id)) throw notFound();
    const [b] = await this.deps.db
      .select({ id: batches.id, template: batches.template })
      .from(batches)
      .where(and(eq(batches.id, id.toLowerCase()), eq(batches.accountId, accountId)))
      .limit(1);
    if (!b) throw notFound();
    const template = b.template as StoredTemplate;
    const fields = Array.isArray(template.fields)
      ? (template.fields as { name: string }[]).map((f) => f.name)
      : [];
    const db = this.deps.db;
    async function* pages(): AsyncGenerator<ResultCall[]> {
      let after = 0;
      for (;;) {
        const rows = await db
          .select({
            id: calls.id,
            batchRow: calls.batchRow,
            toNumber: calls.toNumber,
            status: calls.status,
            endedReason: calls.endedReason,
            attempts: calls.attempts,
            dialedAt: calls.dialedAt,
            durationSeconds: calls.durationSeconds,
            optOut: calls.optOut,
            summary: calls.summary,
            extracted: calls.extracted,
          })
          .from(calls)
          .where(and(eq(calls.batchId, b.id), gt(calls.batchRow, after)))
          .orderBy(asc(calls.batchRow))
          .limit(500);
        if (rows.length === 0) return;
        yield rows;
        after = rows.at(-1)?.batchRow ?? after;
        if (rows.length < 500) return;
      }
    }
    return { template, fields, pages };
  }
}

/** Every column of a batch but its template (which holds every row's variables). */
const summaryColumns = {
  id: batches.id,
  name: batches.name,
  status: batches.status,
  concurrency: batches.concurrency,
  webhookUrl: batches.webhookUrl,
  metadata: batches.metadata,
  totalRows: batches.totalRows,
  acceptedRows: batches.acceptedRows,
  refusedRows: sql<number>`jsonb_array_length(${batches.refused})::int`,
  createdAt: batches.createdAt,
  pausedAt: batches.pausedAt,
  canceledAt: batches.canceledAt,
  completedAt: batches.completedAt,
};

type SummaryRow = {
  id: string;
  name: string | null;
  status: BatchStatus;
  concurrency: number | null;
  webhookUrl: string | null;
  metadata: Record<string, unknown> | null;
  totalRows: number;
  acceptedRows: number;
  refusedRows: number;
  createdAt: Date;
  pausedAt: Date | null;
  canceledAt: Date | null;
  completedAt: Date | null;
};

function emptyCounts(): BatchCounts {
  return Object.fromEntries(CALL_STATUSES.map((s) => [s, 0])) as BatchCounts;
}

function summaryView(b: SummaryRow, counts: BatchCounts = emptyCounts()): BatchSummaryView {
  const ended = CALL_STATUSES.filter(isTerminal).reduce((n, s) => n + counts[s], 0);
  return {
    batchId: b.id,
    id: b.id,
    name: b.name ?? null,
    status: b.status,
    concurrency: b.concurrency ?? null,
    webhookUrl: b.webhookUrl ?? null,
    createdAt: b.createdAt.toISOString(),
    pausedAt: iso(b.pausedAt),
    canceledAt: iso(b.canceledAt),
    completedAt: iso(b.completedAt),
    metadata: b.metadata ?? null,
    totalRows: b.totalRows,
    acceptedRows: b.acceptedRows,
    refusedRows: Number(b.refusedRows),
    counts,
    progress: { ended, total: b.acceptedRows },
  };
}

function replay(prior: { statusCode: number; body: Record<string, unknown> }): CreateBatchAnswer {
  return {
    statusCode: prior.statusCode,
    body: prior.body,
    location: `/v1/agent/batches/${String(prior.body.batchId)}`,
    replayed: true,
  };
}

/**
 * The accepted rows as calls, in chunks: multi-row inserts of the calls (ids made here) and of their
 * first events (null → queued), as CallStore.recordPlaced writes them one at a time.
 */
async function insertCalls(
  tx: Tx,
  batchId: string,
  rows: { row: number; values: NewCallValues }[],
  now: Date,
): Promise<string[]> {
  const ids = rows.map(() => crypto.randomUUID());
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK);
    const chunkIds = ids.slice(i, i + INSERT_CHUNK);
    await insertJsonRows(
      tx,
      calls,
      chunk.map((r, j) => ({
        ...r.values,
        id: chunkIds[j],
        batchId,
        batchRow: r.row,
        createdAt: now,
        scheduledFor: r.values.scheduledFor && r.values.scheduledFor > now ? r.values.scheduledFor : null,
      })),
    );
    await tx.execute(sql`insert into ${callEvents} (call_id, from_status, to_status, reason, at)
      select id, null, 'queued', null, ${now.toISOString()}::timestamptz
      from unnest(${`{${chunkIds.join(',')}}`}::uuid[]) as t(id)`);
  }
  return ids;
}

function decodeListCursor(cursor: string): [string, string] {
  const decoded = decodeKeysetCursor(cursor, (id) => UUID.test(id));
  if (!decoded) throw badCursor();
  return decoded;
}

function encodeRowCursor(row: number): string {
  return Buffer.from(`row:${row}`).toString('base64url');
}

function decodeRowCursor(cursor: string): number {
  const m = /^row:(\d{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw badCursor();
  return Number(m[1]);
}
