import type { Context, Hono } from 'hono';
import { zodProblems } from '../../api/error-handler.js';
import { CreateBatchBodySchema, checkCallBody } from '../../api/routes/batches.js';
import {
  BATCH_COUNT_STATUSES,
  type BatchCallItem,
  type BatchDetailView,
  BatchService,
  type BatchSummaryView,
  NoRowAccepted,
} from '../../batches/batch-service.js';
import { resultsCsvStream } from '../../batches/results-csv.js';
import { parseCsvRows } from '../../batches/rows.js';
import { CallError } from '../../calls/errors.js';
import type { BatchRefusal } from '../../db/schema.js';
import { ALL_DAYS } from '../../scheduling/call-window.js';
import { requireUser } from '../auth/require-user.js';
import { formatDateTime, statusLabel } from '../calls/format.js';
import { CsrfField } from '../components/csrf-field.js';
import { renderNotFound } from '../components/error-pages.js';
import { Field } from '../components/field.js';
import { type FlashMessage, setFlash, takeFlash } from '../components/flash.js';
import { Layout } from '../layout.js';
import type { DashboardDeps, DashboardEnv, DashboardUser } from '../types.js';
import { StatusBadge } from './calls-list.js';

type Ctx = Context<DashboardEnv>;

/** Largest CSV the upload form takes (the API's batch body limit). */
export const BATCH_UPLOAD_MAX_BYTES = 8 * 1024 * 1024;
const LIST_PAGE = 50;
const CALLS_PAGE = 100;
/** Refused rows listed on a batch's page (the API and results.csv have them all). */
const REFUSED_SHOWN = 50;

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const ID = `:id{${UUID}}`;

const isOwner = (u: DashboardUser) => u.role === 'owner' || u.instanceAdmin;
const userOf = (c: Ctx) => c.get('user') as DashboardUser;

/** What the upload form sent back, to show it again with the errors. */
export interface UploadForm {
  name: string;
  objective: string;
  context: string;
  callerId: string;
  concurrency: string;
  windowStart: string;
  windowEnd: string;
}

const EMPTY_FORM: UploadForm = {
  name: '',
  objective: '',
  context: '',
  callerId: '',
  concurrency: '',
  windowStart: '',
  windowEnd: '',
};

/** Form field → the request field its errors are reported under. */
const FORM_FIELDS: Record<keyof UploadForm | 'rows', string[]> = {
  name: ['name'],
  objective: ['template.objective'],
  context: ['template.context'],
  callerId: ['template.callerId'],
  concurrency: ['concurrency'],
  windowStart: ['callWindow', 'callWindow.start', 'callWindow.days'],
  windowEnd: ['callWindow.end'],
  rows: ['csv', 'rows'],
};

function text(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  return typeof v === 'string' ? v : '';
}

/**
 * The batch request the form describes, as the API's JSON would carry it (the CSV as `csv`): empty
 * optional fields are left out, the calling window applies every day. Numbers that are not numbers
 * stay strings, so the schema names the field.
 */
export function batchRequestOf(form: UploadForm, csv: string): Record<string, unknown> {
  const template: Record<string, unknown> = { objective: form.objective.trim() };
  if (form.context.trim()) template.context = form.context.trim();
  if (form.callerId.trim()) template.callerId = form.callerId.trim();
  const req: Record<string, unknown> = { template, csv };
  if (form.name.trim()) req.name = form.name.trim();
  const conc = form.concurrency.trim();
  if (conc) req.concurrency = /^\d+$/.test(conc) ? Number(conc) : conc;
  const start = form.windowStart.trim();
  const end = form.windowEnd.trim();
  if (start || end) req.callWindow = { start, end, days: [...ALL_DAYS] };
  return req;
}

/** A field problem of the request, under the form field that caused it ('' when none fits). */
function formFieldOf(field: string): keyof UploadForm | 'rows' | '' {
  for (const [k, names] of Object.entries(FORM_FIELDS)) {
    if (names.some((n) => field === n || field.startsWith(`${n}.`) || field.startsWith(`${n}[`))) {
      return k as keyof UploadForm | 'rows';
    }
  }
  return '';
}

function Progress(props: { b: BatchSummaryView }) {
  const { ended, total } = props.b.progress;
  return (
    <>
      <progress max={Math.max(total, 1)} value={ended} aria-label={`${ended} of ${total} calls ended`} />{' '}
      <span data-progress>
        {ended} of {total} ended
      </span>
    </>
  );
}

function BatchStatus(props: { status: string }) {
  return <span class={`badge batch-status batch-status-${props.status}`}>{statusLabel(props.status)}</span>;
}

interface ListProps {
  user: DashboardUser;
  csrfToken: string;
  batches: BatchSummaryView[];
  nextCursor: string | null;
  paged: boolean;
  flash: FlashMessage | null;
  form: UploadForm;
  errors: Partial<Record<keyof UploadForm | 'rows' | 'form', string>>;
  refused: BatchRefusal[];
  numbers: { number: string; isDefault: boolean }[];
}

function RefusedTable(props: { refused: BatchRefusal[]; caption: string }) {
  const shown = props.refused.slice(0, REFUSED_SHOWN);
  return (
    <div class="table-wrap">
      <table id="batch-refused">
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Row</th>
            <th scope="col">To</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr data-row={r.row}>
              <th scope="row">{r.row}</th>
              <td class="number">{r.to ?? '—'}</td>
              <td>
                <code>{r.code}</code> {r.message}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.refused.length > shown.length ? (
        <p class="muted">
          And {props.refused.length - shown.length} more; the API's batch answer lists them all.
        </p>
      ) : null}
    </div>
  );
}

function UploadFormSection(p: ListProps) {
  const f = p.form;
  const def = p.numbers.find((n) => n.isDefault);
  return (
    <section class="panel" aria-labelledby="batch-upload-title">
      <h2 id="batch-upload-title">Upload a batch</h2>
      <p class="muted">
        One call per CSV row. The header row names the columns: <code>to</code> (required, E.164), then any
        variables your objective and context use as <code>{'{{name}}'}</code>; columns{' '}
        <code>metadata.&lt;key&gt;</code> go to each call's metadata. Every row is checked as a single call
        would be; refused rows are listed and the rest are placed.
      </p>
      {p.errors.form ? (
        <p class="flash flash-error" role="alert" id="batch-upload-error">
          {p.errors.form}
        </p>
      ) : null}
      {p.refused.length > 0 ? <RefusedTable refused={p.refused} caption="Rows refused" /> : null}
      <form
        method="post"
        action="/batches"
        enctype="multipart/form-data"
        class="stack"
        id="batch-upload-form"
      >
        <CsrfField token={p.csrfToken} />
        <Field name="name" label="Name (optional)" value={f.name} error={p.errors.name} />
        <Field
          name="objective"
          label="Objective (required)"
          as="textarea"
          required
          value={f.objective}
          error={p.errors.objective}
          hint="What the agent must achieve on each call; {{variables}} are filled from the row."
          attrs={{ rows: 3 }}
        />
        <Field
          name="context"
          label="Context (optional)"
          as="textarea"
          value={f.context}
          error={p.errors.context}
          hint="Private background for the agent; {{variables}} work here too."
          attrs={{ rows: 3 }}
        />
        <Field
          name="callerId"
          label="From (caller ID)"
          as="select"
          value={f.callerId}
          error={p.errors.callerId}
          options={[
            { value: '', label: def ? `Account default (${def.number})` : 'Account default (none set)' },
            ...p.numbers.map((n) => ({ value: n.number, label: n.number })),
          ]}
        />
        <Field
          name="concurrency"
          label="Concurrency (optional)"
          type="number"
          value={f.concurrency}
          error={p.errors.concurrency}
          hint="At most this many of the batch's calls at once (1 to 1000); empty: no batch limit."
          attrs={{ min: 1, max: 1000, inputmode: 'numeric' }}
        />
        <fieldset class="stack">
          <legend>Calling window (optional, the callee's local time, every day)</legend>
          <Field
            name="windowStart"
            label="Calls start at"
            type="time"
            value={f.windowStart}
            error={p.errors.windowStart}
          />
          <Field
            name="windowEnd"
            label="Calls end by"
            type="time"
            value={f.windowEnd}
            error={p.errors.windowEnd}
          />
        </fieldset>
        <Field
          name="rows"
          label="Rows (CSV file, required)"
          type="file"
          required
          error={p.errors.rows}
          hint="Up to 10,000 rows and 8 MB."
          attrs={{ accept: '.csv,text/csv' }}
        />
        <button type="submit">Upload and start</button>
      </form>
    </section>
  );
}

function BatchesPage(p: ListProps) {
  return (
    <Layout title="Batches" user={p.user} csrfToken={p.csrfToken} active="batches" flash={p.flash}>
      <h1>Batches</h1>
      <div class="table-wrap">
        <table id="batches-list">
          <caption>Batches of this account, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Batch</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Rows accepted</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {p.batches.map((b) => (
              <tr data-batch-id={b.id}>
                <th scope="row">
                  <a href={`/batches/${b.id}`}>{b.name ?? `Batch ${b.id.slice(0, 8)}`}</a>
                </th>
                <td>
                  <BatchStatus status={b.status} />
                </td>
                <td>
                  <Progress b={b} />
                </td>
                <td>
                  {b.acceptedRows} of {b.totalRows}
                  {b.refusedRows > 0 ? ` (${b.refusedRows} refused)` : ''}
                </td>
                <td>{formatDateTime(b.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {p.batches.length === 0 ? (
        <p id="batches-empty">No batches{p.paged ? ' past this point' : ' yet'}.</p>
      ) : null}
      <nav aria-label="Pages of batches" class="pager">
        {p.paged ? <a href="/batches">Newest</a> : null}{' '}
        {p.nextCursor ? (
          <a href={`/batches?cursor=${encodeURIComponent(p.nextCursor)}`} rel="next">
            Older batches
          </a>
        ) : null}
      </nav>
      {isOwner(p.user) ? <UploadFormSection {...p} /> : null}
    </Layout>
  );
}

interface DetailProps {
  user: DashboardUser;
  csrfToken: string;
  batch: BatchDetailView;
  paged: boolean;
  flash: FlashMessage | null;
}

function CallRowItem(props: { call: BatchCallItem }) {
  const c = props.call;
  return (
    <tr data-call-id={c.callId} data-row={c.row}>
      <th scope="row">{c.row}</th>
      <td class="number">
        <a href={`/calls/${c.callId}`}>{c.to}</a>
      </td>
      <td>
        <StatusBadge status={c.status} />
      </td>
      <td>{c.endedReason ?? '—'}</td>
      <td>{c.attempt}</td>
      <td>{c.status === 'queued' && c.scheduledFor ? formatDateTime(c.scheduledFor) : '—'}</td>
    </tr>
  );
}

function BatchAction(props: { id: string; action: 'pause' | 'resume' | 'cancel'; csrfToken: string }) {
  const label = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel batch' }[props.action];
  return (
    <form method="post" action={`/batches/${props.id}/${props.action}`} class="inline-form">
      <CsrfField token={props.csrfToken} />
      <button type="submit" class={props.action === 'cancel' ? 'danger' : 'button-secondary'}>
        {label}
      </button>
    </form>
  );
}

function BatchPage(p: DetailProps) {
  const b = p.batch;
  const ended = b.status === 'canceled' || b.status === 'completed';
  const title = b.name ?? `Batch ${b.id.slice(0, 8)}`;
  return (
    <Layout title={title} user={p.user} csrfToken={p.csrfToken} active="batches" flash={p.flash}>
      <p>
        <a href="/batches">All batches</a>
      </p>
      <h1 id="batch-title">{title}</h1>
      <dl class="call-facts" id="batch-facts" data-batch-id={b.id}>
        <div>
          <dt>Status</dt>
          <dd id="batch-status">
            <BatchStatus status={b.status} />
          </dd>
        </div>
        <div>
          <dt>Progress</dt>
          <dd>
            <Progress b={b} />
          </dd>
        </div>
        <div>
          <dt>Rows</dt>
          <dd id="batch-rows">
            {b.acceptedRows} of {b.totalRows} accepted{b.refusedRows > 0 ? `, ${b.refusedRows} refused` : ''}
          </dd>
        </div>
        <div>
          <dt>Concurrency</dt>
          <dd>{b.concurrency ?? 'no batch limit'}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{formatDateTime(b.createdAt)}</dd>
        </div>
        {b.pausedAt ? (
          <div>
            <dt>Paused</dt>
            <dd>{formatDateTime(b.pausedAt)}</dd>
          </div>
        ) : null}
        {b.canceledAt ? (
          <div>
            <dt>Canceled</dt>
            <dd>{formatDateTime(b.canceledAt)}</dd>
          </div>
        ) : null}
        {b.completedAt ? (
          <div>
            <dt>Completed</dt>
            <dd>{formatDateTime(b.completedAt)}</dd>
          </div>
        ) : null}
      </dl>
      <div class="call-actions">
        {isOwner(p.user) && !ended ? (
          <>
            {b.status === 'paused' ? (
              <BatchAction id={b.id} action="resume" csrfToken={p.csrfToken} />
            ) : (
              <BatchAction id={b.id} action="pause" csrfToken={p.csrfToken} />
            )}
            <BatchAction id={b.id} action="cancel" csrfToken={p.csrfToken} />
          </>
        ) : null}
        <a href={`/batches/${b.id}/results.csv`} download id="batch-results">
          Download results (CSV)
        </a>
      </div>
      <section class="panel" aria-labelledby="batch-counts-title">
        <h2 id="batch-counts-title">Calls by status</h2>
        <table id="batch-counts">
          <caption class="visually-hidden">Calls of the batch by status</caption>
          <tbody>
            {BATCH_COUNT_STATUSES.map((s) => (
              <tr data-status={s}>
                <th scope="row">
                  <StatusBadge status={s} />
                </th>
                <td data-count>{b.counts[s]}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {b.refused.length > 0 ? (
        <section class="panel" aria-labelledby="batch-refused-title">
          <h2 id="batch-refused-title">Refused rows</h2>
          <RefusedTable refused={b.refused} caption="Rows that were not placed, and why" />
        </section>
      ) : null}
      <section aria-labelledby="batch-calls-title">
        <h2 id="batch-calls-title">Calls</h2>
        <div class="table-wrap">
          <table id="batch-calls">
            <caption>The batch's calls in row order</caption>
            <thead>
              <tr>
                <th scope="col">Row</th>
                <th scope="col">To</th>
                <th scope="col">Status</th>
                <th scope="col">Ended reason</th>
                <th scope="col">Attempt</th>
                <th scope="col">Dials from</th>
              </tr>
            </thead>
            <tbody>
              {b.calls.map((call) => (
                <CallRowItem call={call} />
              ))}
            </tbody>
          </table>
        </div>
        <nav aria-label="Pages of calls" class="pager">
          {p.paged ? <a href={`/batches/${b.id}`}>First rows</a> : null}{' '}
          {b.nextCursor ? (
            <a href={`/batches/${b.id}?cursor=${encodeURIComponent(b.nextCursor)}`} rel="next">
              Next rows
            </a>
          ) : null}
        </nav>
      </section>
    </Layout>
  );
}

/**
 * /batches: every signed-in user sees the account's batches, a batch's counts, calls and results.csv;
 * owners upload a CSV batch and pause, resume or cancel one. The API's BatchService does the work.
 */
export function registerBatches(ui: Hono<DashboardEnv>, deps: DashboardDeps): void {
  const service = new BatchService({
    db: deps.db,
    config: deps.config,
    calls: deps.calls,
    service: deps.service,
    readiness: deps.readiness,
    checkCallBody,
    clock: deps.clock,
    onCallQueued: deps.onCallQueued,
  });
  const owner = requireUser({ role: 'owner' });
  const notFound = (c: Ctx) => renderNotFound(c, 'No batch with this id exists in your account.');

  const renderList = async (
    c: Ctx,
    extra: Partial<Pick<ListProps, 'form' | 'errors' | 'refused' | 'flash'>> = {},
    status = 200,
  ) => {
    const user = userOf(c);
    const cursor = c.req.method === 'GET' ? c.req.query('cursor') || undefined : undefined;
    let flash = extra.flash ?? takeFlash(c);
    let page: { batches: BatchSummaryView[]; nextCursor: string | null };
    try {
      page = await service.list(user.accountId, { limit: LIST_PAGE, cursor });
    } catch (err) {
      if (!(err instanceof CallError)) throw err;
      flash = { kind: 'error', message: 'This page link is no longer valid; showing the newest batches.' };
      page = await service.list(user.accountId, { limit: LIST_PAGE });
    }
    const numbers = isOwner(user) ? await deps.accounts.listNumbers(user.accountId) : [];
    return c.html(
      <BatchesPage
        user={user}
        csrfToken={c.get('csrfToken')}
        batches={page.batches}
        nextCursor={page.nextCursor}
        paged={Boolean(cursor)}
        flash={flash}
        form={extra.form ?? EMPTY_FORM}
        errors={extra.errors ?? {}}
        refused={extra.refused ?? []}
        numbers={numbers}
      />,
      status as 200,
    );
  };

  ui.get('/batches', requireUser(), (c) => renderList(c));

  ui.post('/batches', owner, async (c) => {
    const user = userOf(c);
    const body = await c.req.parseBody();
    const form: UploadForm = {
      name: text(body, 'name'),
      objective: text(body, 'objective'),
      context: text(body, 'context'),
      callerId: text(body, 'callerId'),
      concurrency: text(body, 'concurrency'),
      windowStart: text(body, 'windowStart'),
      windowEnd: text(body, 'windowEnd'),
    };
    const refuse = (errors: ListProps['errors'], refused: BatchRefusal[] = []) =>
      renderList(c, { form, errors, refused, flash: null }, 400);
    const file = body.rows;
    if (!(file instanceof File) || file.size === 0) return refuse({ rows: 'Choose the CSV file of rows.' });
    if (file.size > BATCH_UPLOAD_MAX_BYTES) return refuse({ rows: 'The file is over 8 MB.' });

    const raw = batchRequestOf(form, await file.text());
    const parsed = CreateBatchBodySchema.safeParse(raw);
    if (!parsed.success) {
      const errors: ListProps['errors'] = {};
      const other: string[] = [];
      for (const problem of zodProblems(parsed.error)) {
        const at = formFieldOf(problem.field);
        if (at) errors[at] ??= problem.message;
        else other.push(`${problem.field} ${problem.message}`);
      }
      if (other.length > 0) errors.form = `The batch was not accepted: ${other.join('; ')}.`;
      return refuse(errors);
    }
    const { csv, rows: _rows, ...options } = parsed.data;
    try {
      const { rows, variables } = parseCsvRows(csv ?? '');
      const answer = await service.create(user.accountId, { ...options, rows, variables });
      const created = answer.body as {
        batchId: string;
        acceptedRows: number;
        refusedRows: number;
        totalRows: number;
      };
      c.get('log')?.info({ batchId: created.batchId, by: user.id }, 'batch uploaded from the dashboard');
      setFlash(c, {
        kind: created.refusedRows > 0 ? 'info' : 'success',
        message: `Batch started: ${created.acceptedRows} of ${created.totalRows} rows accepted${
          created.refusedRows > 0 ? `, ${created.refusedRows} refused (listed below)` : ''
        }.`,
      });
      return c.redirect(`/batches/${created.batchId}`, 303);
    } catch (err) {
      if (err instanceof NoRowAccepted) {
        return refuse({ form: 'No row was accepted, so no batch was started: see why below.' }, err.refused);
      }
      if (!(err instanceof CallError)) throw err;
      if (err.code === 'invalid_request') {
        // The CSV itself (unreadable, no `to` column, too many rows) or a template field.
        const fields = (err.details as { fields?: { field: string; message: string }[] } | undefined)?.fields;
        const at = fields?.[0] ? formFieldOf(fields[0].field) : '';
        return refuse(at ? { [at]: err.message } : { form: err.message });
      }
      return refuse({ form: err.message });
    }
  });

  const findDetail = async (c: Ctx): Promise<BatchDetailView | null> => {
    const cursor = c.req.query('cursor') || undefined;
    try {
      return await service.detail(userOf(c).accountId, c.req.param('id') as string, {
        limit: CALLS_PAGE,
        cursor,
      });
    } catch (err) {
      if (err instanceof CallError && err.code === 'not_found') return null;
      if (err instanceof CallError && cursor) {
        return service.detail(userOf(c).accountId, c.req.param('id') as string, { limit: CALLS_PAGE });
      }
      throw err;
    }
  };

  ui.get(`/batches/${ID}`, requireUser(), async (c) => {
    const batch = await findDetail(c);
    if (!batch) return notFound(c);
    return c.html(
      <BatchPage
        user={userOf(c)}
        csrfToken={c.get('csrfToken')}
        batch={batch}
        paged={Boolean(c.req.query('cursor'))}
        flash={takeFlash(c)}
      />,
    );
  });

  ui.get(`/batches/${ID}/results.csv`, requireUser(), async (c) => {
    const id = (c.req.param('id') as string).toLowerCase();
    let source: Awaited<ReturnType<BatchService['resultsSource']>>;
    try {
      source = await service.resultsSource(userOf(c).accountId, id);
    } catch (err) {
      if (err instanceof CallError && err.code === 'not_found') return notFound(c);
      throw err;
    }
    return new Response(resultsCsvStream(source), {
      status: 200,
      headers: {
        'Content-Type': 'text/csv; charset=utf-8',
        'Content-Disposition': `attachment; filename="batch-${id}-results.csv"`,
        'Cache-Control': 'no-store',
      },
    });
  });

  const act = (action: 'pause' | 'resume' | 'cancel', done: string) => async (c: Ctx) => {
    const user = userOf(c);
    const id = c.req.param('id') as string;
    try {
      await service[action](user.accountId, id);
      c.get('log')?.info({ batchId: id, by: user.id }, `batch ${action} from the dashboard`);
      setFlash(c, { kind: 'success', message: done });
    } catch (err) {
      if (!(err instanceof CallError)) throw err;
      if (err.code === 'not_found') return notFound(c);
      setFlash(c, { kind: 'error', message: err.message });
    }
    return c.redirect(`/batches/${id}`, 303);
  };

  ui.post(
    `/batches/${ID}/pause`,
    owner,
    act('pause', 'Batch paused: its queued calls wait until you resume it.'),
  );
  ui.post(`/batches/${ID}/resume`, owner, act('resume', 'Batch resumed.'));
  ui.post(
    `/batches/${ID}/cancel`,
    owner,
    act('cancel', 'Batch canceled: its queued calls will not ring; calls in progress finish.'),
  );
}
