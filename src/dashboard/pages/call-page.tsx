import { isTerminal } from '../../calls/status.js';
import type { CallEventRow, CallRow, CallTurnRow } from '../../db/schema.js';
import type { AttemptRow, DeliveryRow } from '../calls/deliveries.js';
import {
  formatClock,
  formatDateTime,
  formatDuration,
  formatOffset,
  secondsBetween,
} from '../calls/format.js';
import { latencyRows } from '../calls/latency.js';
import { LatencyChart } from '../calls/latency-chart.js';
import type { Waveform } from '../calls/waveform.js';
import { WaveformSvg } from '../calls/waveform-svg.js';
import { CsrfField } from '../components/csrf-field.js';
import type { FlashMessage } from '../components/flash.js';
import { ListenControl } from '../components/listen.js';
import { Layout } from '../layout.js';
import { assetUrl } from '../static-assets.js';
import type { DashboardUser } from '../types.js';
import { StatusBadge } from './calls-list.js';

export interface CallPageProps {
  user: DashboardUser;
  csrfToken: string;
  call: CallRow;
  turns: CallTurnRow[];
  events: CallEventRow[];
  deliveries: DeliveryRow[];
  /** Whether the recording file is there to play (the row may name one that is gone). */
  hasRecording: boolean;
  waveform: Waveform | null;
  canAct: boolean;
  accountName: string | null;
  /** The outcome of the last action (cancel, redeliver), shown once. */
  flash?: FlashMessage | null;
}

/** Where the live stream resumes so it sends only what this page does not show: `<lastEventId>.<lastTurnId>`. */
export function streamCursor(events: readonly CallEventRow[], turns: readonly CallTurnRow[]): string {
  const lastEvent = events.reduce((m, e) => Math.max(m, e.id), 0);
  const lastTurn = turns.reduce((m, t) => Math.max(m, t.id), 0);
  return `${lastEvent}.${lastTurn}`;
}

function valueText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

export function TurnItem(props: { turn: CallTurnRow }) {
  const t = props.turn;
  return (
    <li
      class={`turn turn-${t.speaker}${t.interrupted ? ' turn-interrupted' : ''}`}
      data-seq={t.seq}
      data-start={t.startMs}
    >
      <div class="turn-meta">
        <span class="speaker">{t.speaker === 'agent' ? 'Agent' : 'Callee'}</span>{' '}
        <span class="turn-time">
          {formatOffset(t.startMs)}–{formatOffset(t.endMs)}
        </span>
        {t.interrupted ? (
          <strong class="badge badge-interrupted">
            Interrupted<span class="visually-hidden">: cut off when the other party spoke</span>
          </strong>
        ) : null}
      </div>
      <p class="turn-text">{t.text}</p>
    </li>
  );
}

function TimelineItem(props: { at: Date; from: string | null; to: string; reason: string | null }) {
  const note = props.from === props.to;
  // call-page.js builds the same key from a live event, so a replayed event is not listed twice.
  const key = `${props.at.toISOString()}|${props.to}|${props.reason ?? ''}`;
  return (
    <li class={note ? 'note' : 'change'} data-key={key}>
      <time datetime={props.at.toISOString()}>{formatClock(props.at)}</time>{' '}
      {note ? <span class="event-kind">note</span> : <StatusBadge status={props.to} />}
      {props.reason ? <span class="reason"> {props.reason}</span> : null}
    </li>
  );
}

function Facts(props: CallPageProps) {
  const { call } = props;
  const ring = secondsBetween(call.dialedAt, call.startedAt ?? call.endedAt);
  return (
    <dl class="call-facts">
      <div>
        <dt>Status</dt>
        <dd id="call-status">
          <StatusBadge status={call.status} />
        </dd>
      </div>
      <div>
        <dt>Ended reason</dt>
        <dd id="call-ended-reason">{call.endedReason ?? '—'}</dd>
      </div>
      <div>
        <dt>To</dt>
        <dd class="number">{call.toNumber}</dd>
      </div>
      <div>
        <dt>Caller ID</dt>
        <dd class="number">{call.callerId}</dd>
      </div>
      <div>
        <dt>Talk time</dt>
        <dd id="call-duration">{formatDuration(call.durationSeconds)}</dd>
      </div>
      <div>
        <dt>Ringing</dt>
        <dd>{formatDuration(ring)}</dd>
      </div>
      <div>
        <dt>Created</dt>
        <dd>{formatDateTime(call.createdAt)}</dd>
      </div>
      <div>
        <dt>Answered</dt>
        <dd id="call-answered">{formatDateTime(call.startedAt)}</dd>
      </div>
      <div>
        <dt>Ended</dt>
        <dd id="call-ended-at">{formatDateTime(call.endedAt)}</dd>
      </div>
      <div>
        <dt>Attempt</dt>
        <dd id="call-attempt">
          {call.attempt}
          {call.retryPolicy ? ` of at most ${call.retryPolicy.maxAttempts}` : ''}
        </dd>
      </div>
      {call.status === 'queued' ? (
        <div>
          <dt>Dials from</dt>
          <dd id="call-scheduled-for">{call.scheduledFor ? formatDateTime(call.scheduledFor) : 'now'}</dd>
        </div>
      ) : null}
      <div>
        <dt>Opted out</dt>
        <dd id="call-opt-out">
          {call.optOut ? 'Yes: the callee asked not to be called again (on the do-not-call list)' : 'No'}
        </dd>
      </div>
      {call.batchId ? (
        <div>
          <dt>Batch</dt>
          <dd>
            <a href={`/batches/${call.batchId}`}>Row {call.batchRow ?? '?'} of a batch</a>
          </dd>
        </div>
      ) : null}
      {props.accountName !== null ? (
        <div>
          <dt>Account</dt>
          <dd>{props.accountName}</dd>
        </div>
      ) : null}
      <div class="wide">
        <dt>Objective</dt>
        <dd>{call.objective}</dd>
      </div>
    </dl>
  );
}

/** The finished attempts of a retried call (the current one is the call's own status above). */
function Attempts(props: { call: CallRow }) {
  const attempts = props.call.attempts ?? [];
  if (attempts.length === 0) return null;
  return (
    <section class="panel" aria-labelledby="attempts-title">
      <h2 id="attempts-title">Earlier attempts</h2>
      <div class="table-wrap">
        <table id="call-attempts">
          <caption>Attempts that ended and were retried</caption>
          <thead>
            <tr>
              <th scope="col">Attempt</th>
              <th scope="col">Status</th>
              <th scope="col">Ended reason</th>
              <th scope="col">Dialed</th>
              <th scope="col">Ended</th>
              <th scope="col">Talk time</th>
            </tr>
          </thead>
          <tbody>
            {attempts.map((a) => (
              <tr data-attempt={a.attempt}>
                <th scope="row">{a.attempt}</th>
                <td>
                  <StatusBadge status={a.status} />
                </td>
                <td>{a.endedReason ?? '—'}</td>
                <td>{formatDateTime(a.dialedAt)}</td>
                <td>{formatDateTime(a.endedAt)}</td>
                <td>{formatDuration(a.durationSeconds)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function attemptResult(a: AttemptRow): string {
  if (a.statusCode !== null) return `HTTP ${a.statusCode}`;
  return a.error ?? '—';
}

/** One event's tries, oldest first, with what the receiver answered (its body is untrusted text). */
function DeliveryAttempts(props: { delivery: DeliveryRow }) {
  const d = props.delivery;
  const missing = d.attempts - d.tries.length;
  return (
    // Open while the event is undelivered: that is when the receiver's answers matter.
    <details class="attempts-of" open={d.status !== 'delivered'}>
      <summary>
        Attempts of {d.event} ({d.attempts})
      </summary>
      {missing > 0 ? (
        <p class="muted">
          {missing === 1 ? 'The first attempt is' : `The first ${missing} attempts are`} not kept.
        </p>
      ) : null}
      {d.tries.length > 0 ? (
        <div class="table-scroll">
          <table class="attempts">
            <caption class="visually-hidden">Attempts to deliver {d.event}, oldest first</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Time</th>
                <th scope="col">Result</th>
                <th scope="col">Duration</th>
                <th scope="col">Response</th>
              </tr>
            </thead>
            <tbody>
              {d.tries.map((a) => (
                <tr data-attempt={a.attempt}>
                  <td>{a.attempt}</td>
                  <td>
                    <time datetime={a.attemptedAt.toISOString()}>{formatDateTime(a.attemptedAt)}</time>
                  </td>
                  <td>{attemptResult(a)}</td>
                  <td>{a.durationMs} ms</td>
                  <td>
                    {a.responseExcerpt ? <code class="response-excerpt">{a.responseExcerpt}</code> : '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </details>
  );
}

function Deliveries(props: CallPageProps) {
  const { deliveries, call } = props;
  if (!call.webhookUrl && deliveries.length === 0) {
    return <p class="muted">This call has no webhook URL.</p>;
  }
  const redeliverable = deliveries.some((d) => d.status !== 'delivered');
  return (
    <>
      {deliveries.length === 0 ? (
        <p class="muted">No webhook event yet.</p>
      ) : (
        <div class="table-scroll">
          <table class="deliveries">
            <caption class="visually-hidden">Webhook deliveries of this call</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last response</th>
                <th scope="col">Created</th>
                <th scope="col">Delivered / next attempt</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.flatMap((d) => [
                <tr data-delivery={d.event}>
                  <td>{d.event}</td>
                  <td>
                    <span class={`delivery delivery-${d.status}`}>{d.status}</span>
                  </td>
                  <td>{d.attempts}</td>
                  <td>
                    {d.lastStatusCode !== null ? `HTTP ${d.lastStatusCode}` : ''}
                    {d.lastStatusCode !== null && d.lastError ? ': ' : ''}
                    {d.lastError ?? ''}
                    {d.lastStatusCode === null && !d.lastError ? '—' : ''}
                  </td>
                  <td>{formatDateTime(d.createdAt)}</td>
                  <td>
                    {d.deliveredAt
                      ? formatDateTime(d.deliveredAt)
                      : d.status === 'pending'
                        ? `next ${formatDateTime(d.nextAttemptAt)}`
                        : '—'}
                  </td>
                </tr>,
                d.attempts > 0 || d.tries.length > 0 ? (
                  <tr class="delivery-attempts" data-attempts-of={d.event}>
                    <td colspan={6}>
                      <DeliveryAttempts delivery={d} />
                    </td>
                  </tr>
                ) : null,
              ])}
            </tbody>
          </table>
        </div>
      )}
      {props.canAct && redeliverable ? (
        <form method="post" action={`/calls/${call.id}/redeliver`} class="inline-form">
          <CsrfField token={props.csrfToken} />
          <button type="submit">Redeliver undelivered events</button>
        </form>
      ) : null}
    </>
  );
}

/** A call's page: facts, live transcript and timeline, results, recording, latency and webhooks. */
export function CallPage(props: CallPageProps) {
  const { call, turns, events } = props;
  const live = !isTerminal(call.status);
  const fields = call.fields ?? [];
  const extracted = call.extracted ?? {};
  const extraKeys = Object.keys(extracted).filter((k) => !fields.some((f) => f.name === k));
  const rows = latencyRows(turns);
  return (
    <Layout
      title={`Call to ${call.toNumber}`}
      user={props.user}
      csrfToken={props.csrfToken}
      active="calls"
      scripts={['call-page.js']}
      flash={props.flash}
    >
      <link rel="stylesheet" href={assetUrl('calls.css')} />
      <div
        id="call-page"
        data-call-id={call.id}
        data-cursor={streamCursor(events, turns)}
        data-live={live ? '1' : undefined}
      >
        <p>
          <a href="/calls">All calls</a>
        </p>
        <section id="call-header" data-refresh aria-labelledby="call-title">
          <h1 id="call-title">Call to {call.toNumber}</h1>
          <Facts {...props} />
          <Attempts call={call} />
          {live ? (
            <div class="call-actions">
              {props.canAct ? (
                <form method="post" action={`/calls/${call.id}/cancel`} class="inline-form" id="cancel-form">
                  <CsrfField token={props.csrfToken} />
                  <button type="submit" class="danger">
                    Cancel call
                  </button>
                </form>
              ) : null}
              <ListenControl callId={call.id} live={live} />
            </div>
          ) : null}
        </section>
        <div class="call-grid">
          <section id="call-transcript" aria-labelledby="h-transcript">
            <h2 id="h-transcript">Transcript</h2>
            <ol id="transcript" class="transcript" aria-live="polite">
              {turns.map((t) => (
                <TurnItem turn={t} />
              ))}
            </ol>
            <p id="transcript-empty" class="muted" hidden={turns.length > 0}>
              No turns yet.
            </p>
            <p id="partial" class="turn turn-callee partial" hidden>
              <span class="speaker">Callee, speaking:</span> <span id="partial-text" />
            </p>
          </section>
          <section id="call-timeline" aria-labelledby="h-timeline">
            <h2 id="h-timeline">Timeline (UTC)</h2>
            <ol id="timeline" class="timeline">
              {/* Calls placed before placing wrote its own event (null → queued) still show when. */}
              {events.some((e) => e.fromStatus === null) ? null : (
                <TimelineItem at={call.createdAt} from={null} to="queued" reason="created" />
              )}
              {events.map((e) => (
                <TimelineItem at={e.at} from={e.fromStatus} to={e.toStatus} reason={e.reason} />
              ))}
            </ol>
          </section>
        </div>
        <section id="call-summary" data-refresh aria-labelledby="h-summary">
          <h2 id="h-summary">Summary</h2>
          <p id="summary" class={call.summary ? '' : 'muted'}>
            {call.summary ?? (live ? 'The summary is written when the call ends.' : 'No summary.')}
          </p>
        </section>
        <section id="call-extracted" data-refresh aria-labelledby="h-extracted">
          <h2 id="h-extracted">Extracted fields</h2>
          {fields.length + extraKeys.length === 0 ? (
            <p class="muted">This call asked for no fields.</p>
          ) : (
            <table id="extracted" class="extracted">
              <caption class="visually-hidden">Fields extracted from the conversation</caption>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {fields.map((f) => (
                  <tr data-field={f.name}>
                    <th scope="row">
                      {f.name} <span class="muted">({f.type})</span>
                    </th>
                    <td>{valueText(extracted[f.name])}</td>
                  </tr>
                ))}
                {extraKeys.map((k) => (
                  <tr data-field={k}>
                    <th scope="row">{k}</th>
                    <td>{valueText(extracted[k])}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section id="call-recording" data-refresh aria-labelledby="h-recording">
          <h2 id="h-recording">Recording</h2>
          {props.hasRecording ? (
            <div class="player">
              {/* biome-ignore lint/a11y/useMediaCaption: the transcript beside the player is its text, turn by turn with times */}
              <audio
                id="recording"
                controls
                preload="metadata"
                src={`/calls/${call.id}/recording`}
                aria-label="Recording of the call, both parties"
              />
              {props.waveform ? <WaveformSvg wave={props.waveform} /> : null}
              <p>
                <a href={`/calls/${call.id}/recording`} download>
                  Download the recording
                </a>
              </p>
            </div>
          ) : (
            <p class="muted">
              {live ? 'The recording is ready when the call ends.' : 'This call has no recording.'}
            </p>
          )}
        </section>
        <section id="call-latency" data-refresh aria-labelledby="h-latency">
          <h2 id="h-latency">Latency per turn</h2>
          <p class="muted">Milliseconds after the callee stopped speaking until each stage of the reply.</p>
          <LatencyChart rows={rows} />
        </section>
        <section id="call-webhooks" data-refresh aria-labelledby="h-webhooks">
          <h2 id="h-webhooks">Webhook deliveries</h2>
          <Deliveries {...props} />
        </section>
      </div>
    </Layout>
  );
}
