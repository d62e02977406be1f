import type { Context, Hono } from 'hono';
import { invalidRequest, zodProblems } from '../../api/error-handler.js';
import { ApiError, fromCallError } from '../../api/errors.js';
import type { FieldProblem } from '../../api/field-path.js';
import { IdempotencyHeaderSchema, LIMITS, PlaceCallBodySchema } from '../../api/schemas.js';
import { unstorableProblems } from '../../api/storable-json.js';
import { CallError } from '../../calls/errors.js';
import { checkNumberFormat } from '../../calls/guardrails.js';
import { RETRY_LIMITS, RETRY_ON_DEFAULT } from '../../calls/retry-policy.js';
import { requireUser } from '../auth/require-user.js';
import { CheckboxGroup } from '../components/checkbox-group.js';
import { CsrfField } from '../components/csrf-field.js';
import { Layout } from '../layout.js';
import type { DashboardDeps, DashboardEnv } from '../types.js';

/** One row of "fields to extract", as typed. */
export interface FieldRow {
  name: string;
  type: string;
  description: string;
}

/** The form as the person filled it in: strings only, so a refused form comes back exactly as sent. */
export interface PlaceCallForm {
  to: string;
  callerId: string;
  objective: string;
  context: string;
  fields: FieldRow[];
  language: string;
  voice: string;
  maxDurationSeconds: string;
  voicemailAction: string;
  voicemailMessage: string;
  transferTo: string;
  transferMode: string;
  transferWhen: string;
  webhookUrl: string;
  metadata: string;
  idempotencyKey: string;
  /** Calling hours (callee-local): `HH:MM` from the time inputs and the ticked days. */
  windowStart: string;
  windowEnd: string;
  windowDays: string[];
  /** The IANA zone (or `UTC`) that startAt and expiresAt, typed as wall-clock times, are read in. */
  timeZone: string;
  /** `YYYY-MM-DDTHH:MM` from datetime-local inputs. */
  startAt: string;
  expiresAt: string;
  retryMaxAttempts: string;
  retryDelaySeconds: string;
  retryOn: string[];
}

/** Days of a calling window, in the API's names and the order the form shows them. */
export const WINDOW_DAYS = [
  ['mon', 'Monday'],
  ['tue', 'Tuesday'],
  ['wed', 'Wednesday'],
  ['thu', 'Thursday'],
  ['fri', 'Friday'],
  ['sat', 'Saturday'],
  ['sun', 'Sunday'],
] as const;

/** Outcomes the form offers for retries (the API also takes other status/endedReason pairs). */
export const RETRY_OUTCOMES = [
  ['no_answer', 'No answer'],
  ['declined/busy', 'Busy'],
  ['failed/network_error', 'Network error'],
  ['voicemail', 'Voicemail'],
] as const;

/** Field messages by input name (the API's field paths: `to`, `fields[0].name`, `voicemail.message`…). */
export type FieldErrors = Record<string, string[]>;

export interface FormOutcome {
  fieldErrors: FieldErrors;
  /** Refusals that belong to no one field (caps, rate limit, an unavailable deployment). */
  formErrors: string[];
}

const EMPTY_FORM: PlaceCallForm = {
  to: '',
  callerId: '',
  objective: '',
  context: '',
  fields: [],
  language: '',
  voice: '',
  maxDurationSeconds: '',
  voicemailAction: 'hangup',
  voicemailMessage: '',
  transferTo: '',
  transferMode: 'cold',
  transferWhen: '',
  webhookUrl: '',
  metadata: '',
  idempotencyKey: '',
  windowStart: '',
  windowEnd: '',
  windowDays: WINDOW_DAYS.map(([d]) => d),
  timeZone: 'UTC',
  startAt: '',
  expiresAt: '',
  retryMaxAttempts: '',
  retryDelaySeconds: '',
  retryOn: [...RETRY_ON_DEFAULT],
};

/** More rows than the API accepts still reach it (so its "at most 20" is shown), but not unbounded. */
const MAX_FIELD_ROWS = 100;
const FIELD_ROW = /^fields\[(\d{1,3})\]\.(name|type|description)$/;

type Posted = Record<string, string | File | (string | File)[]>;

function text(posted: Posted, name: string): string {
  const v = posted[name];
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' ? first : '';
}

/** A hidden input beside the checkboxes: present when the form that posted had them. */
const CHOICES = '_choices';

/** Every value posted under `name` (ticked checkboxes). */
function texts(posted: Posted, name: string): string[] {
  const v = posted[name];
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter(
    (x): x is string => typeof x === 'string',
  );
}

/** Reads the posted form; field rows are taken in index order and rows left blank are dropped. */
export function readPlaceCallForm(posted: Posted): PlaceCallForm {
  const rows = new Map<number, FieldRow>();
  for (const key of Object.keys(posted)) {
    const m = FIELD_ROW.exec(key);
    if (!m) continue;
    const i = Number(m[1]);
    if (i >= MAX_FIELD_ROWS) continue;
    const row = rows.get(i) ?? { name: '', type: 'string', description: '' };
    row[m[2] as keyof FieldRow] = text(posted, key);
    rows.set(i, row);
  }
  const fields = [...rows.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, r]) => r)
    .filter((r) => r.name.trim() !== '' || r.description.trim() !== '');
  return {
    to: text(posted, 'to'),
    callerId: text(posted, 'callerId'),
    objective: text(posted, 'objective'),
    context: text(posted, 'context'),
    fields,
    language: text(posted, 'language'),
    voice: text(posted, 'voice'),
    maxDurationSeconds: text(posted, 'maxDurationSeconds'),
    voicemailAction: text(posted, 'voicemail.action') || 'hangup',
    voicemailMessage: text(posted, 'voicemail.message'),
    transferTo: text(posted, 'transfer.to'),
    transferMode: text(posted, 'transfer.mode') || 'cold',
    transferWhen: text(posted, 'transfer.when'),
    webhookUrl: text(posted, 'webhookUrl'),
    metadata: text(posted, 'metadata'),
    idempotencyKey: text(posted, 'idempotencyKey'),
    windowStart: text(posted, 'callWindow.start'),
    windowEnd: text(posted, 'callWindow.end'),
    // Boxes left unticked post nothing: the marker tells "none ticked" from a post without the boxes.
    windowDays: CHOICES in posted ? texts(posted, 'callWindow.days') : EMPTY_FORM.windowDays,
    timeZone: text(posted, 'timeZone') || 'UTC',
    startAt: text(posted, 'startAt'),
    expiresAt: text(posted, 'expiresAt'),
    retryMaxAttempts: text(posted, 'retry.maxAttempts'),
    retryDelaySeconds: text(posted, 'retry.delaySeconds'),
    retryOn: CHOICES in posted ? texts(posted, 'retry.on') : EMPTY_FORM.retryOn,
  };
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** Whether `zone` is `UTC` or an IANA time zone this runtime knows. */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The zones the form offers: UTC first, then every IANA zone the runtime knows. */
export function timeZoneChoices(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  const zones = intl.supportedValuesOf?.('timeZone') ?? [];
  return ['UTC', ...zones.filter((z) => z !== 'UTC')];
}

/** The wall-clock fields of instant `t` (ms) in `zone`, as if they were UTC (ms). */
function wallAsUtc(t: number, zone: string): number {
  let f = zoneFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    zoneFormats.set(zone, f);
  }
  const part: Record<string, number> = {};
  for (const p of f.formatToParts(new Date(t))) if (p.type !== 'literal') part[p.type] = Number(p.value);
  return Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute, part.second);
}

const WALL_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * A datetime-local value (`YYYY-MM-DDTHH:MM[:SS]`, as every browser posts it) read as a wall-clock
 * time in `zone`, so the result never depends on the browser's or the server's own zone. Where the
 * zone's clocks skip that time (the spring DST gap) it moves forward by the gap; where they show it
 * twice (the autumn overlap) the earlier instant is taken (Temporal's "compatible" rule). Null when the
 * text is not such a value or names no real date.
 */
export function wallTimeToInstant(wall: string, zone: string): Date | null {
  const m = WALL_TIME.exec(wall);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = m.slice(1).map((x) => Number(x ?? 0));
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, sec);
  const check = new Date(asUtc);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59)
    return null;
  const day = 86_400_000;
  const before = asUtc - (wallAsUtc(asUtc - day, zone) - (asUtc - day));
  const after = asUtc - (wallAsUtc(asUtc + day, zone) - (asUtc + day));
  const fits = [before, after].filter((t) => wallAsUtc(t, zone) === asUtc);
  if (fits.length > 0) return new Date(Math.min(...fits));
  // In the gap: the offset from before the change moves the time forward by the gap's length.
  return new Date(before);
}

/** A number where the text reads as one; anything else goes as text so the schema's type message shows. */
function numberOrText(s: string): number | string {
  return /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : s;
}

/**
 * The JSON body the API would have received for this form: a blank input is a field not sent, so a
 * blank objective is "is required" exactly as an API client that leaves it out is told. Problems the
 * form alone can have (metadata that is not JSON) come back beside it.
 */
export function formToRequestBody(form: PlaceCallForm): {
  body: Record<string, unknown>;
  problems: FieldProblem[];
} {
  const body: Record<string, unknown> = {};
  const problems: FieldProblem[] = [];
  const line = (s: string) => s.trim();
  if (line(form.to)) body.to = line(form.to);
  if (form.objective.trim()) body.objective = form.objective;
  if (form.context.trim()) body.context = form.context;
  if (form.fields.length > 0) {
    body.fields = form.fields.map((f) => {
      const out: Record<string, string> = { name: line(f.name), type: f.type || 'string' };
      if (f.description.trim()) out.description = f.description;
      return out;
    });
  }
  if (line(form.callerId)) body.callerId = line(form.callerId);
  if (line(form.language)) body.language = line(form.language);
  if (line(form.voice)) body.voice = line(form.voice);
  if (line(form.webhookUrl)) body.webhookUrl = line(form.webhookUrl);
  const duration = line(form.maxDurationSeconds);
  // A number where it reads as one; anything else goes as text so the schema's "must be of type number" shows.
  if (duration) body.maxDurationSeconds = /^-?\d+(\.\d+)?$/.test(duration) ? Number(duration) : duration;
  if (form.voicemailAction === 'leave_message') {
    body.voicemail = form.voicemailMessage
      ? { action: 'leave_message', message: form.voicemailMessage }
      : { action: 'leave_message' };
  } else if (form.voicemailAction !== 'hangup') {
    body.voicemail = { action: form.voicemailAction };
  }
  if (line(form.transferTo) || form.transferWhen.trim()) {
    const transfer: Record<string, string> = { to: line(form.transferTo), mode: form.transferMode || 'cold' };
    if (form.transferWhen.trim()) transfer.when = form.transferWhen;
    body.transfer = transfer;
  }
  // Hours typed make a window (with the ticked days, none ticked being the API's refusal); no hours, none.
  if (line(form.windowStart) || line(form.windowEnd)) {
    const window: Record<string, unknown> = { days: form.windowDays };
    if (line(form.windowStart)) window.start = line(form.windowStart);
    if (line(form.windowEnd)) window.end = line(form.windowEnd);
    body.callWindow = window;
  }
  const zone = line(form.timeZone) || 'UTC';
  const zoneOk = isKnownTimeZone(zone);
  if (!zoneOk) problems.push({ field: 'timeZone', message: `'${zone}' is not a time zone` });
  for (const key of ['startAt', 'expiresAt'] as const) {
    const wall = line(form[key]);
    if (!wall) continue;
    const at = zoneOk ? wallTimeToInstant(wall, zone) : null;
    // A value no datetime-local input posts goes as typed, and the schema says what it must be.
    body[key] = at ? at.toISOString() : wall;
  }
  const attempts = line(form.retryMaxAttempts);
  const delay = line(form.retryDelaySeconds);
  if (attempts || delay) {
    const retry: Record<string, unknown> = { on: form.retryOn };
    if (attempts) retry.maxAttempts = numberOrText(attempts);
    if (delay) retry.delaySeconds = numberOrText(delay);
    body.retry = retry;
  }
  if (form.metadata.trim()) {
    try {
      body.metadata = JSON.parse(form.metadata);
    } catch (err) {
      problems.push({ field: 'metadata', message: `is not valid JSON: ${(err as Error).message}` });
    }
  }
  return { body, problems };
}

/** The inputs of the form in page order: where a refusal's field path lands, and which input gets focus. */
export function inputNames(form: PlaceCallForm): string[] {
  const rows = Math.max(form.fields.length, 1);
  const fieldInputs: string[] = [];
  for (let i = 0; i < rows; i++) {
    fieldInputs.push(`fields[${i}].name`, `fields[${i}].type`, `fields[${i}].description`);
  }
  return [
    'to',
    'callerId',
    'objective',
    'context',
    ...fieldInputs,
    'language',
    'voice',
    'maxDurationSeconds',
    'voicemail.action',
    'voicemail.message',
    'transfer.to',
    'transfer.mode',
    'transfer.when',
    'callWindow.start',
    'callWindow.end',
    'callWindow.days',
    'timeZone',
    'startAt',
    'expiresAt',
    'retry.maxAttempts',
    'retry.delaySeconds',
    'retry.on',
    'webhookUrl',
    'metadata',
    'idempotencyKey',
  ];
}

/**
 * The input a field path of the API belongs to: itself, else the first input under it (`voicemail` →
 * `voicemail.action`), else its parent's (`metadata.a.b` → `metadata`); null when none fits.
 */
export function inputFor(path: string, names: readonly string[]): string | null {
  let p = path;
  for (;;) {
    if (names.includes(p)) return p;
    const under = names.find((n) => n.startsWith(`${p}.`) || n.startsWith(`${p}[`));
    if (under) return under;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    if (cut <= 0) return null;
    p = p.slice(0, cut);
  }
}

/** Spreads an API refusal over the form: `details` field paths to their inputs, the rest to the top. */
export function mapApiError(err: ApiError, form: PlaceCallForm): FormOutcome {
  const names = inputNames(form);
  const out: FormOutcome = { fieldErrors: {}, formErrors: [] };
  const put = (path: string, message: string) => {
    const name = inputFor(path, names);
    if (!name) {
      out.formErrors.push(message);
      return;
    }
    out.fieldErrors[name] ??= [];
    out.fieldErrors[name].push(message);
  };
  const details = (err.details ?? {}) as {
    fields?: FieldProblem[];
    field?: string;
    nextOpening?: string | null;
  };
  switch (err.code) {
    case 'invalid_request':
      if (Array.isArray(details.fields) && details.fields.length > 0) {
        for (const p of details.fields) put(p.field, `${p.field} ${p.message}`);
      } else {
        out.formErrors.push(err.message);
      }
      break;
    case 'invalid_number':
    case 'destination_not_allowed':
    case 'destination_blocked':
      put(typeof details.field === 'string' ? details.field : 'to', err.message);
      break;
    case 'caller_id_not_owned':
    case 'no_caller_id':
      put('callerId', err.message);
      break;
    case 'idempotency_conflict':
      put('idempotencyKey', err.message);
      break;
    case 'outside_calling_hours':
      // The hours open, but only after expiresAt: the expiry is what to move; else the hours themselves.
      put(details.nextOpening && form.expiresAt.trim() ? 'expiresAt' : 'callWindow', err.message);
      break;
    default:
      out.formErrors.push(err.message);
  }
  return out;
}

/**
 * Validates and places the call with the API's own steps and messages: storable JSON, the
 * Idempotency-Key header rule, the request schema, then the call service (guardrails, caller ID,
 * caps, readiness, idempotency). Answers the new call's id, or the refusals as ApiErrors. Where the
 * API would stop at the schema, the form also reports a malformed number (the guardrail's own
 * refusal), so a person fixes every field in one go.
 */
export async function placeCallFromForm(
  deps: DashboardDeps,
  accountId: string,
  form: PlaceCallForm,
): Promise<{ callId: string } | { errors: ApiError[] }> {
  const { body, problems } = formToRequestBody(form);
  problems.push(...unstorableProblems(body, LIMITS.jsonDepth));
  const key = form.idempotencyKey === '' ? undefined : form.idempotencyKey;
  const header = IdempotencyHeaderSchema.safeParse({ 'idempotency-key': key });
  if (!header.success) {
    problems.push(...zodProblems(header.error).map((p) => ({ ...p, field: 'idempotencyKey' })));
  }
  const parsed = PlaceCallBodySchema.safeParse(body);
  if (!parsed.success) problems.push(...zodProblems(parsed.error));
  if (problems.length > 0 || !parsed.success) {
    const errors = [invalidRequest(problems)];
    for (const field of ['to', 'callerId'] as const) {
      const value = body[field];
      if (typeof value !== 'string' || problems.some((p) => p.field === field)) continue;
      const bad = checkNumberFormat(value, field);
      if (bad) errors.push(fromCallError(new CallError(bad.code, bad.message, bad.details)));
    }
    return { errors };
  }
  try {
    const answer = await deps.service.placeCall(accountId, parsed.data, {
      idempotencyKey: key,
      rawBody: body,
    });
    return { callId: String(answer.body.callId) };
  } catch (err) {
    if (err instanceof CallError) return { errors: [fromCallError(err)] };
    if (err instanceof ApiError) return { errors: [err] };
    throw err;
  }
}

interface ControlProps {
  id: string;
  name: string;
  'aria-invalid'?: 'true';
  'aria-describedby'?: string;
  autofocus?: boolean;
}

/** Ids and ARIA of one input: its errors and hint are announced with it; the first invalid one takes focus. */
function control(
  name: string,
  outcome: FormOutcome,
  firstInvalid: string | null,
  hint = false,
): ControlProps {
  const id = inputId(name);
  const invalid = (outcome.fieldErrors[name]?.length ?? 0) > 0;
  const described = [invalid ? `${id}-error` : null, hint ? `${id}-hint` : null].filter(Boolean).join(' ');
  return {
    id,
    name,
    ...(invalid ? { 'aria-invalid': 'true' as const } : {}),
    ...(described ? { 'aria-describedby': described } : {}),
    ...(firstInvalid === name ? { autofocus: true } : {}),
  };
}

export function inputId(name: string): string {
  return `f-${name.replace(/[^A-Za-z0-9]+/g, '-').replace(/-$/, '')}`;
}

function Errors({ name, outcome }: { name: string; outcome: FormOutcome }) {
  const messages = outcome.fieldErrors[name];
  if (!messages?.length) return null;
  return (
    <p class="field-error" id={`${inputId(name)}-error`}>
      {messages.join(' ')}
    </p>
  );
}

function Labelled(props: {
  name: string;
  label: string;
  hint?: string;
  outcome: FormOutcome;
  children: unknown;
}) {
  const id = inputId(props.name);
  return (
    <div class={`field${props.outcome.fieldErrors[props.name] ? ' field-invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.hint ? (
        <p class="field-hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      ) : null}
      {props.children}
      <Errors name={props.name} outcome={props.outcome} />
    </div>
  );
}

function FieldRowInputs(props: {
  index: number;
  row: FieldRow;
  outcome: FormOutcome;
  firstInvalid: string | null;
}) {
  const { index: i, row, outcome, firstInvalid } = props;
  const n = (part: string) => `fields[${i}].${part}`;
  return (
    <div class="panel stack" data-field-row={String(i)}>
      <Labelled name={n('name')} label={`Field ${i + 1} name`} outcome={outcome}>
        <input
          type="text"
          autocomplete="off"
          spellcheck={false}
          value={row.name}
          {...control(n('name'), outcome, firstInvalid)}
        />
      </Labelled>
      <Labelled name={n('type')} label={`Field ${i + 1} type`} outcome={outcome}>
        <select {...control(n('type'), outcome, firstInvalid)}>
          {['string', 'boolean', 'number'].map((t) => (
            <option value={t} selected={row.type === t}>
              {t}
            </option>
          ))}
        </select>
      </Labelled>
      <Labelled name={n('description')} label={`Field ${i + 1} description`} outcome={outcome}>
        <input type="text" value={row.description} {...control(n('description'), outcome, firstInvalid)} />
      </Labelled>
    </div>
  );
}

export interface PlaceCallPageProps {
  form: PlaceCallForm;
  outcome: FormOutcome;
  numbers: { number: string; isDefault: boolean }[];
  defaultLanguage: string;
  defaultVoice: string | null;
  /** Blank field rows to show below the filled ones (the no-JS "add a field" adds one). */
  extraRows: number;
}

export function PlaceCallFormView(props: PlaceCallPageProps & { csrfToken: string }) {
  const { form, outcome, numbers } = props;
  const names = inputNames(form);
  const firstInvalid = names.find((n) => outcome.fieldErrors[n]?.length) ?? null;
  const rows = [...form.fields];
  const blank = Math.max(props.extraRows, rows.length === 0 ? 1 : 0);
  for (let i = 0; i < blank; i++) rows.push({ name: '', type: 'string', description: '' });
  const def = numbers.find((n) => n.isDefault);
  const problems = [
    ...outcome.formErrors.map((m) => ({ href: null as string | null, message: m })),
    ...names.flatMap((n) =>
      (outcome.fieldErrors[n] ?? []).map((m) => ({ href: `#${inputId(n)}`, message: m })),
    ),
  ];
  const c = (name: string, hint = false) => control(name, outcome, firstInvalid, hint);
  return (
    <form method="post" action="/calls/new" class="stack" novalidate>
      <CsrfField token={props.csrfToken} />
      {problems.length > 0 ? (
        <div class="flash flash-error" role="alert" aria-labelledby="place-call-errors-title">
          <h2 id="place-call-errors-title">The call was not placed</h2>
          <ul>
            {problems.map((p) => (
              <li>{p.href ? <a href={p.href}>{p.message}</a> : p.message}</li>
            ))}
          </ul>
        </div>
      ) : null}

      <fieldset class="stack">
        <legend>The call</legend>
        <Labelled
          name="to"
          label="To (required)"
          hint="E.164: + and 8 to 15 digits, such as +14155552671."
          outcome={outcome}
        >
          <input type="tel" autocomplete="off" value={form.to} aria-required="true" {...c('to', true)} />
        </Labelled>
        <Labelled
          name="callerId"
          label="From (caller ID)"
          hint={
            numbers.length === 0
              ? 'This account has no caller-ID numbers yet: an owner adds them on Developers.'
              : 'A number of this account; Developers sets the default.'
          }
          outcome={outcome}
        >
          <select {...c('callerId', true)}>
            <option value="" selected={form.callerId === ''}>
              {def ? `Account default (${def.number})` : 'Account default (none set)'}
            </option>
            {numbers.map((n) => (
              <option value={n.number} selected={form.callerId === n.number}>
                {n.number}
                {n.isDefault ? ' (default)' : ''}
              </option>
            ))}
            {form.callerId && !numbers.some((n) => n.number === form.callerId) ? (
              <option value={form.callerId} selected>
                {form.callerId}
              </option>
            ) : null}
          </select>
        </Labelled>
        <Labelled
          name="objective"
          label="Objective (required)"
          hint={`What the agent must achieve, 1 to ${LIMITS.objective} characters.`}
          outcome={outcome}
        >
          <textarea rows={3} aria-required="true" {...c('objective', true)}>
            {form.objective}
          </textarea>
        </Labelled>
        <Labelled
          name="context"
          label="Context"
          hint="Background the agent knows but does not read out."
          outcome={outcome}
        >
          <textarea rows={3} {...c('context', true)}>
            {form.context}
          </textarea>
        </Labelled>
      </fieldset>

      <fieldset class="stack" id="f-fields">
        <legend>Fields to extract</legend>
        <p class="field-hint">
          Names start with a letter or _, then letters, digits or _ (up to 64); at most {LIMITS.fields}{' '}
          fields. Leave a row empty to skip it.
        </p>
        <div class="stack" data-field-rows>
          {rows.map((row, i) => (
            <FieldRowInputs index={i} row={row} outcome={outcome} firstInvalid={firstInvalid} />
          ))}
        </div>
        <button
          type="submit"
          name="_action"
          value="add-field"
          formnovalidate
          class="button-secondary"
          data-add-field
        >
          Add a field
        </button>
      </fieldset>

      <fieldset class="stack">
        <legend>Voice and length</legend>
        <Labelled
          name="language"
          label="Language"
          hint={`BCP-47 tag; default ${props.defaultLanguage}.`}
          outcome={outcome}
        >
          <input
            type="text"
            autocomplete="off"
            value={form.language}
            placeholder={props.defaultLanguage}
            {...c('language', true)}
          />
        </Labelled>
        <Labelled
          name="voice"
          label="Voice"
          hint={`A voice installed here; default ${props.defaultVoice ?? "the engine's own"}.`}
          outcome={outcome}
        >
          <input type="text" autocomplete="off" value={form.voice} {...c('voice', true)} />
        </Labelled>
        <Labelled
          name="maxDurationSeconds"
          label="Longest call, in seconds"
          hint={`${LIMITS.maxDurationMin} to ${LIMITS.maxDurationMax}; default ${LIMITS.maxDurationDefault}.`}
          outcome={outcome}
        >
          <input
            type="text"
            inputmode="numeric"
            value={form.maxDurationSeconds}
            {...c('maxDurationSeconds', true)}
          />
        </Labelled>
      </fieldset>

      <fieldset class="stack">
        <legend>Voicemail</legend>
        <Labelled name="voicemail.action" label="When a machine answers" outcome={outcome}>
          <select {...c('voicemail.action')}>
            <option value="hangup" selected={form.voicemailAction === 'hangup'}>
              Hang up
            </option>
            <option value="leave_message" selected={form.voicemailAction === 'leave_message'}>
              Leave a message
            </option>
          </select>
        </Labelled>
        <Labelled
          name="voicemail.message"
          label="Message to leave"
          hint="Only with Leave a message."
          outcome={outcome}
        >
          <textarea rows={2} {...c('voicemail.message', true)}>
            {form.voicemailMessage}
          </textarea>
        </Labelled>
      </fieldset>

      <fieldset class="stack">
        <legend>Transfer to a person</legend>
        <Labelled
          name="transfer.to"
          label="Transfer to"
          hint="An E.164 number or a SIP URI such as sip:frontdesk@pbx.example.com; empty for no transfer."
          outcome={outcome}
        >
          <input type="text" autocomplete="off" value={form.transferTo} {...c('transfer.to', true)} />
        </Labelled>
        <Labelled name="transfer.mode" label="Transfer mode" outcome={outcome}>
          <select {...c('transfer.mode')}>
            <option value="cold" selected={form.transferMode !== 'warm'}>
              Cold: connect at once
            </option>
            <option value="warm" selected={form.transferMode === 'warm'}>
              Warm: brief the person first
            </option>
          </select>
        </Labelled>
        <Labelled
          name="transfer.when"
          label="Transfer when"
          hint="In plain words; optional."
          outcome={outcome}
        >
          <input type="text" value={form.transferWhen} {...c('transfer.when', true)} />
        </Labelled>
      </fieldset>

      <input type="hidden" name={CHOICES} value="1" />
      <fieldset class="stack" id="f-when">
        <legend>When to call</legend>
        <p class="field-hint">
          Calling hours are in the callee's local time (from their number). Leave the hours empty for the
          account's calling hours (the days then do not apply).
        </p>
        <Labelled
          name="callWindow.start"
          label="Calling hours from"
          hint="Callee-local; sent as 24 h HH:MM."
          outcome={outcome}
        >
          <input type="time" value={form.windowStart} {...c('callWindow.start', true)} />
        </Labelled>
        <Labelled
          name="callWindow.end"
          label="Calling hours until"
          hint="Before the start: the hours cross midnight. Equal to the start: the whole day."
          outcome={outcome}
        >
          <input type="time" value={form.windowEnd} {...c('callWindow.end', true)} />
        </Labelled>
        <CheckboxGroup
          id={inputId('callWindow.days')}
          name="callWindow.days"
          legend="Days the calling hours start on"
          hint="Callee-local days."
          options={WINDOW_DAYS}
          checked={form.windowDays}
          errors={outcome.fieldErrors['callWindow.days']}
          autofocus={firstInvalid === 'callWindow.days'}
        />
        <Labelled
          name="timeZone"
          label="Time zone of Start at and Expires at"
          hint="The two times below are read as clock times in this zone (not your browser's). A time a DST change skips moves forward by the gap; a time shown twice is the earlier one."
          outcome={outcome}
        >
          <select {...c('timeZone', true)}>
            {timeZoneChoices().map((z) => (
              <option value={z} selected={form.timeZone === z}>
                {z}
              </option>
            ))}
            {isKnownTimeZone(form.timeZone) ? null : (
              <option value={form.timeZone} selected>
                {form.timeZone}
              </option>
            )}
          </select>
        </Labelled>
        <Labelled
          name="startAt"
          label="Start at"
          hint={`Not dialled before this time; at most ${LIMITS.startAtMaxDays} days ahead. Empty: now.`}
          outcome={outcome}
        >
          <input type="datetime-local" value={form.startAt} {...c('startAt', true)} />
        </Labelled>
        <Labelled
          name="expiresAt"
          label="Expires at"
          hint="Give up if not dialled by then (the call ends failed/expired). Empty: never."
          outcome={outcome}
        >
          <input type="datetime-local" value={form.expiresAt} {...c('expiresAt', true)} />
        </Labelled>
      </fieldset>

      <fieldset class="stack">
        <legend>Retries</legend>
        <p class="field-hint">
          Leave both numbers empty for the account's retry policy (or none); the outcomes apply with them.
        </p>
        <Labelled
          name="retry.maxAttempts"
          label="Attempts in all"
          hint={`${RETRY_LIMITS.maxAttemptsMin} to ${RETRY_LIMITS.maxAttemptsMax}, the first included; 1 means no retry.`}
          outcome={outcome}
        >
          <input
            type="text"
            inputmode="numeric"
            value={form.retryMaxAttempts}
            {...c('retry.maxAttempts', true)}
          />
        </Labelled>
        <Labelled
          name="retry.delaySeconds"
          label="Seconds between attempts"
          hint={`${RETRY_LIMITS.delaySecondsMin} to ${RETRY_LIMITS.delaySecondsMax}; each attempt also waits for the calling hours.`}
          outcome={outcome}
        >
          <input
            type="text"
            inputmode="numeric"
            value={form.retryDelaySeconds}
            {...c('retry.delaySeconds', true)}
          />
        </Labelled>
        <CheckboxGroup
          id={inputId('retry.on')}
          name="retry.on"
          legend="Retry when the attempt ended"
          hint="A callee who rejected the call is never called again."
          options={RETRY_OUTCOMES}
          checked={form.retryOn}
          errors={outcome.fieldErrors['retry.on']}
          autofocus={firstInvalid === 'retry.on'}
        />
      </fieldset>

      <fieldset class="stack">
        <legend>Delivery</legend>
        <Labelled
          name="webhookUrl"
          label="Webhook URL"
          hint="https URL that receives the call's events."
          outcome={outcome}
        >
          <input
            type="text"
            inputmode="url"
            autocomplete="off"
            value={form.webhookUrl}
            {...c('webhookUrl', true)}
          />
        </Labelled>
        <Labelled
          name="metadata"
          label="Metadata (JSON object)"
          hint={`Echoed back on the call and in webhooks; at most ${LIMITS.metadataBytes} bytes.`}
          outcome={outcome}
        >
          <textarea rows={3} spellcheck={false} {...c('metadata', true)}>
            {form.metadata}
          </textarea>
        </Labelled>
        <Labelled
          name="idempotencyKey"
          label="Idempotency key"
          hint="Optional: the same key with the same form within 24 h places no second call."
          outcome={outcome}
        >
          <input type="text" autocomplete="off" value={form.idempotencyKey} {...c('idempotencyKey', true)} />
        </Labelled>
      </fieldset>

      <button type="submit" class="button">
        Place the call
      </button>
    </form>
  );
}

async function renderPage(
  c: Context<DashboardEnv>,
  deps: DashboardDeps,
  form: PlaceCallForm,
  outcome: FormOutcome,
  extraRows: number,
  status: 200 | 400 | 409 | 422 | 429 | 503,
) {
  const user = c.get('user')!;
  const numbers = (await deps.accounts.listNumbers(user.accountId)).sort(
    (a, b) => Number(b.isDefault) - Number(a.isDefault) || a.number.localeCompare(b.number),
  );
  c.header('Cache-Control', 'no-store');
  return c.html(
    <Layout
      title="Place a call"
      user={user}
      csrfToken={c.get('csrfToken')}
      active="place-call"
      scripts={['place-call.js']}
    >
      <h1>Place a call</h1>
      <PlaceCallFormView
        form={form}
        outcome={outcome}
        numbers={numbers}
        defaultLanguage={deps.config.DEFAULT_LANGUAGE}
        defaultVoice={deps.config.DEFAULT_VOICE ?? null}
        extraRows={extraRows}
        csrfToken={c.get('csrfToken')}
      />
    </Layout>,
    status,
  );
}

const NO_ERRORS: FormOutcome = { fieldErrors: {}, formErrors: [] };

/**
 * Placing a call spends the account's money and caps, so it is an owner's action: a viewer's role is
 * "calls only" in the sense of reading them.
 */
export function registerPlaceCall(ui: Hono<DashboardEnv>, deps: DashboardDeps): void {
  ui.get('/calls/new', requireUser({ role: 'owner' }), (c) =>
    renderPage(c, deps, EMPTY_FORM, NO_ERRORS, 0, 200),
  );

  ui.post('/calls/new', requireUser({ role: 'owner' }), async (c) => {
    const posted = (await c.req.parseBody({ all: true })) as Posted;
    const form = readPlaceCallForm(posted);
    if (text(posted, '_action') === 'add-field') {
      return renderPage(c, deps, form, NO_ERRORS, 1, 200);
    }
    const user = c.get('user')!;
    const result = await placeCallFromForm(deps, user.accountId, form);
    if ('callId' in result) return c.redirect(`/calls/${result.callId}`, 303);
    const [first] = result.errors;
    for (const [k, v] of Object.entries(first.headers ?? {})) c.header(k, v);
    const outcome: FormOutcome = { fieldErrors: {}, formErrors: [] };
    for (const err of result.errors) {
      const one = mapApiError(err, form);
      outcome.formErrors.push(...one.formErrors);
      for (const [name, messages] of Object.entries(one.fieldErrors)) {
        outcome.fieldErrors[name] = [...(outcome.fieldErrors[name] ?? []), ...messages];
      }
    }
    const status = ([400, 409, 422, 429, 503] as const).find((s) => s === first.status) ?? 422;
    return renderPage(c, deps, form, outcome, 0, status);
  });
}
