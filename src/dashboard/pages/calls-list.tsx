import { CALL_STATUSES } from '../../calls/status.js';
import type { CallRow } from '../../db/schema.js';
import { formatDateTime, formatDuration, statusLabel } from '../calls/format.js';
import { type CallListFilters, LIVE_FILTER, listHref } from '../calls/list-filters.js';
import { Layout } from '../layout.js';
import { assetUrl } from '../static-assets.js';
import type { DashboardUser } from '../types.js';

export function StatusBadge(props: { status: string }) {
  return <span class={`status status-${props.status}`}>{statusLabel(props.status)}</span>;
}

/** One call of the list; calls-list.js renders none itself, it asks the server for this row. */
export function CallListRow(props: { call: CallRow; accountName?: string | null; showAccount: boolean }) {
  const { call } = props;
  const objective = call.objective.length > 90 ? `${call.objective.slice(0, 89)}…` : call.objective;
  return (
    <tr data-call-id={call.id} data-created={call.createdAt.toISOString()}>
      <td>
        <a href={`/calls/${call.id}`}>{formatDateTime(call.createdAt)}</a>
      </td>
      <td class="number">{call.toNumber}</td>
      <td data-col="status">
        <StatusBadge status={call.status} />
      </td>
      <td data-col="reason">{call.endedReason ?? ''}</td>
      <td data-col="duration">{call.durationSeconds === null ? '' : formatDuration(call.durationSeconds)}</td>
      <td class="objective">{objective}</td>
      {props.showAccount ? <td>{props.accountName ?? call.accountId}</td> : null}
    </tr>
  );
}

function FieldError(props: { id: string; message?: string }) {
  return props.message ? (
    <p class="field-error" id={`${props.id}-error`}>
      {props.message}
    </p>
  ) : null;
}

/** Attributes that tie an input to its error message, when it has one. */
const invalid = (id: string, message?: string) =>
  message ? { 'aria-invalid': 'true', 'aria-describedby': `${id}-error` } : {};

export interface CallsListPageProps {
  user: DashboardUser;
  csrfToken: string;
  filters: CallListFilters;
  problems: Record<string, string>;
  calls: CallRow[];
  accountNames: Map<string, string>;
  nextCursor: string | null;
  /** The page's one error that belongs to no field (a cursor that no longer reads). */
  error?: string;
}

export function CallsListPage(props: CallsListPageProps) {
  const { user, filters, problems, calls } = props;
  const showAccount = user.instanceAdmin;
  const firstPage = !filters.cursor;
  return (
    <Layout title="Calls" user={user} csrfToken={props.csrfToken} active="calls" scripts={['calls-list.js']}>
      <link rel="stylesheet" href={assetUrl('calls.css')} />
      <h1>Calls</h1>
      <form method="get" action="/calls" class="calls-filters" aria-label="Filter calls">
        <div class="filter">
          <label for="f-status">Status</label>
          <select id="f-status" name="status" {...invalid('f-status', problems.status)}>
            <option value="" selected={filters.status === ''}>
              Any
            </option>
            <option value={LIVE_FILTER} selected={filters.status === LIVE_FILTER}>
              Live (queued, dialing, in progress)
            </option>
            {CALL_STATUSES.map((s) => (
              <option value={s} selected={filters.status === s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
          <FieldError id="f-status" message={problems.status} />
        </div>
        <div class="filter">
          <label for="f-q">Number called</label>
          <input
            id="f-q"
            name="q"
            type="search"
            inputmode="tel"
            autocomplete="off"
            value={filters.q}
            placeholder="e.g. 555 0193"
            {...invalid('f-q', problems.q)}
          />
          <FieldError id="f-q" message={problems.q} />
        </div>
        <div class="filter">
          <label for="f-from">From (UTC day)</label>
          <input
            id="f-from"
            name="from"
            type="date"
            value={filters.from}
            {...invalid('f-from', problems.from)}
          />
          <FieldError id="f-from" message={problems.from} />
        </div>
        <div class="filter">
          <label for="f-to">Until (UTC day, inclusive)</label>
          <input id="f-to" name="to" type="date" value={filters.to} {...invalid('f-to', problems.to)} />
          <FieldError id="f-to" message={problems.to} />
        </div>
        <div class="filter-actions">
          <button type="submit">Filter</button>
          <a href="/calls">Clear</a>
        </div>
      </form>
      {props.error ? (
        <p class="field-error" role="alert">
          {props.error}
        </p>
      ) : null}
      <div class="table-scroll">
        <table
          id="calls-table"
          class="calls-table"
          data-live={firstPage && !Object.keys(problems).length ? '1' : undefined}
          data-page-full={props.nextCursor ? '1' : undefined}
        >
          <caption class="visually-hidden">Calls, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Created</th>
              <th scope="col">To</th>
              <th scope="col">Status</th>
              <th scope="col">Ended reason</th>
              <th scope="col">Duration</th>
              <th scope="col">Objective</th>
              {showAccount ? <th scope="col">Account</th> : null}
            </tr>
          </thead>
          <tbody id="calls-rows" aria-live="polite">
            {calls.map((call) => (
              <CallListRow
                call={call}
                accountName={props.accountNames.get(call.accountId)}
                showAccount={showAccount}
              />
            ))}
          </tbody>
        </table>
      </div>
      <p id="calls-empty" class="muted" hidden={calls.length > 0}>
        {firstPage ? 'No calls match these filters.' : 'No more calls.'}
      </p>
      <nav class="pager" aria-label="Pages of calls">
        {firstPage ? null : <a href={listHref(filters)}>Newest calls</a>}
        {props.nextCursor ? (
          <a rel="next" href={listHref(filters, props.nextCursor)}>
            Older calls
          </a>
        ) : null}
      </nav>
    </Layout>
  );
}
