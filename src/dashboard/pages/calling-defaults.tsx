import type { AccountSettingsChange, AccountSettingsView } from '../../accounts/account-settings.js';
import { invalidRequest, zodProblems } from '../../api/error-handler.js';
import type { ApiError } from '../../api/errors.js';
import type { FieldProblem } from '../../api/field-path.js';
import { PatchAccountSettingsBodySchema } from '../../api/routes/settings.js';
import { RETRY_LIMITS, RETRY_ON_DEFAULT } from '../../calls/retry-policy.js';
import type { CallWindow, RetryPolicy } from '../../db/schema.js';
import { CheckboxGroup } from '../components/checkbox-group.js';
import { CsrfField } from '../components/csrf-field.js';
import { Field } from '../components/field.js';
import { inputFor, RETRY_OUTCOMES, WINDOW_DAYS } from './place-call.js';

/** The calling-defaults form as the owner filled it in: strings, so a refused form comes back as sent. */
export interface CallingDefaultsForm {
  windowStart: string;
  windowEnd: string;
  windowDays: string[];
  retryMaxAttempts: string;
  retryDelaySeconds: string;
  retryOn: string[];
}

export interface CallingDefaultsOutcome {
  /** Messages by input name (the API's field paths: `callWindow.start`, `retryPolicy.on`…). */
  fieldErrors: Record<string, string[]>;
  /** Refusals that belong to no one input. */
  formErrors: string[];
}

/** The inputs in page order: where a refusal's field path lands, and which input gets focus. */
const INPUTS = [
  'callWindow.start',
  'callWindow.end',
  'callWindow.days',
  'retryPolicy.maxAttempts',
  'retryPolicy.delaySeconds',
  'retryPolicy.on',
] as const;

/** A hidden input beside the checkboxes: tells "none ticked" from a post without the boxes. */
const CHOICES = '_choices';

/** The form filled in with the account's current defaults (blank where it has none). */
export function formFromSettings(
  s: Pick<AccountSettingsView, 'callWindow' | 'retryPolicy'>,
): CallingDefaultsForm {
  return {
    windowStart: s.callWindow?.start ?? '',
    windowEnd: s.callWindow?.end ?? '',
    windowDays: s.callWindow ? [...s.callWindow.days] : WINDOW_DAYS.map(([d]) => d),
    retryMaxAttempts: s.retryPolicy ? String(s.retryPolicy.maxAttempts) : '',
    retryDelaySeconds: s.retryPolicy ? String(s.retryPolicy.delaySeconds) : '',
    retryOn: s.retryPolicy ? [...s.retryPolicy.on] : [...RETRY_ON_DEFAULT],
  };
}

type Posted = Record<string, string | File | (string | File)[]>;

const all = (posted: Posted, name: string): string[] => {
  const v = posted[name];
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter(
    (x): x is string => typeof x === 'string',
  );
};
const one = (posted: Posted, name: string): string => all(posted, name)[0] ?? '';

/** Reads the posted form (`parseBody({ all: true })`). */
export function readCallingDefaultsForm(posted: Posted): CallingDefaultsForm {
  const ticked = CHOICES in posted;
  return {
    windowStart: one(posted, 'callWindow.start'),
    windowEnd: one(posted, 'callWindow.end'),
    windowDays: ticked ? all(posted, 'callWindow.days') : WINDOW_DAYS.map(([d]) => d),
    retryMaxAttempts: one(posted, 'retryPolicy.maxAttempts'),
    retryDelaySeconds: one(posted, 'retryPolicy.delaySeconds'),
    retryOn: ticked ? all(posted, 'retryPolicy.on') : [...RETRY_ON_DEFAULT],
  };
}

/** A number where the text reads as one; anything else goes as text so the schema's type message shows. */
const numberOrText = (s: string): number | string => (/^-?\d+(\.\d+)?$/.test(s) ? Number(s) : s);

/**
 * The PATCH /v1/agent/settings body this form stands for: hours typed make a window (with the ticked
 * days), none clears it (null: the deployment's default); numbers typed make a retry policy, none
 * clears it (null: no retries).
 */
export function formToPatchBody(form: CallingDefaultsForm): Record<string, unknown> {
  const start = form.windowStart.trim();
  const end = form.windowEnd.trim();
  let callWindow: Record<string, unknown> | null = null;
  if (start || end) {
    callWindow = { days: form.windowDays };
    if (start) callWindow.start = start;
    if (end) callWindow.end = end;
  }
  const attempts = form.retryMaxAttempts.trim();
  const delay = form.retryDelaySeconds.trim();
  let retryPolicy: Record<string, unknown> | null = null;
  if (attempts || delay) {
    retryPolicy = { on: form.retryOn };
    if (attempts) retryPolicy.maxAttempts = numberOrText(attempts);
    if (delay) retryPolicy.delaySeconds = numberOrText(delay);
  }
  return { callWindow, retryPolicy };
}

/**
 * Validates the form exactly as the API validates its body (the same schema, the same `invalid_request`
 * message and `details.fields`): the change to store, or the API's refusal.
 */
export function validateCallingDefaults(
  form: CallingDefaultsForm,
): { change: AccountSettingsChange } | { error: ApiError } {
  const parsed = PatchAccountSettingsBodySchema.safeParse(formToPatchBody(form));
  if (parsed.success) return { change: parsed.data };
  return { error: invalidRequest(zodProblems(parsed.error)) };
}

/** Spreads an API refusal over the inputs: each `details.fields` path at its input, the rest on top. */
export function outcomeOf(err: ApiError): CallingDefaultsOutcome {
  const out: CallingDefaultsOutcome = { fieldErrors: {}, formErrors: [] };
  const fields = ((err.details ?? {}) as { fields?: FieldProblem[] }).fields ?? [];
  if (fields.length === 0) out.formErrors.push(err.message);
  for (const p of fields) {
    const name = inputFor(p.field, INPUTS);
    if (!name) {
      out.formErrors.push(`${p.field} ${p.message}`);
      continue;
    }
    out.fieldErrors[name] ??= [];
    out.fieldErrors[name].push(`${p.field} ${p.message}`);
  }
  return out;
}

const DAY_LABEL = new Map<string, string>(WINDOW_DAYS);

function describeWindow(w: CallWindow): string {
  const hours = w.start === w.end ? 'all day' : `${w.start}–${w.end}`;
  const days = w.days.length === 7 ? 'every day' : w.days.map((d) => DAY_LABEL.get(d) ?? d).join(', ');
  return `${hours}, ${days}`;
}

function describeRetry(r: RetryPolicy): string {
  return `${r.maxAttempts} attempts in all, at least ${r.delaySeconds} s apart, after: ${r.on.join(', ')}`;
}

/** What applies now, for every role: the account's own defaults and the deployment's rules. */
export function CallingDefaultsSummary(props: { settings: AccountSettingsView }) {
  const s = props.settings;
  return (
    <dl class="calling-defaults" data-calling-defaults>
      <dt>Calling hours</dt>
      <dd data-default-window>
        {s.callWindow
          ? describeWindow(s.callWindow)
          : `Not set: the deployment's default, ${describeWindow(s.deployment.defaultCallWindow)}`}
      </dd>
      <dt>Retries</dt>
      <dd data-default-retry>
        {s.retryPolicy ? describeRetry(s.retryPolicy) : 'None: a call is tried once'}
      </dd>
      <dt>Quiet hours of this deployment</dt>
      <dd>
        {s.deployment.quietHours
          ? `${s.deployment.quietHours.start}–${s.deployment.quietHours.end}, on top of any calling hours`
          : 'None'}
      </dd>
    </dl>
  );
}

const idOf = (name: string) => `field-${name.replace(/[^A-Za-z0-9_-]/g, '-')}`;

/** A group with the outcomes set through the API that the form does not offer: saving keeps them. */
function withUnoffered(
  options: readonly (readonly [string, string])[],
  checked: readonly string[],
): (readonly [string, string])[] {
  const known = new Set(options.map(([v]) => v));
  return [...options, ...checked.filter((v) => !known.has(v)).map((v) => [v, v] as const)];
}

/** The owner's form: the same fields as the API's PATCH body, its messages at each field. */
export function CallingDefaultsFormView(props: {
  form: CallingDefaultsForm;
  outcome: CallingDefaultsOutcome;
  defaultWindow: CallWindow;
  csrfToken: string;
}) {
  const { form, outcome } = props;
  const firstInvalid = INPUTS.find((n) => outcome.fieldErrors[n]?.length) ?? null;
  const error = (name: string) => outcome.fieldErrors[name]?.join(' ') ?? null;
  const focus = (name: string) => (firstInvalid === name ? { autofocus: true } : {});
  return (
    <form method="post" action="/settings/calling-defaults" class="stack" novalidate>
      <CsrfField token={props.csrfToken} />
      <input type="hidden" name={CHOICES} value="1" />
      {outcome.formErrors.length > 0 ? (
        <div class="flash flash-error" role="alert">
          {outcome.formErrors.join(' ')}
        </div>
      ) : null}
      <fieldset class="stack">
        <legend>Calling hours</legend>
        <p class="field-hint">
          In the callee's local time, for calls and batches that set none. Leave both times empty for the
          deployment's default ({describeWindow(props.defaultWindow)}).
        </p>
        <Field
          name="callWindow.start"
          label="Calling hours from"
          type="time"
          value={form.windowStart}
          error={error('callWindow.start')}
          hint="24 h HH:MM."
          attrs={focus('callWindow.start')}
        />
        <Field
          name="callWindow.end"
          label="Calling hours until"
          type="time"
          value={form.windowEnd}
          error={error('callWindow.end')}
          hint="Before the start: the hours cross midnight. Equal to the start: the whole day."
          attrs={focus('callWindow.end')}
        />
        <CheckboxGroup
          id={idOf('callWindow.days')}
          name="callWindow.days"
          legend="Days the calling hours start on"
          hint="Callee-local days."
          options={withUnoffered(WINDOW_DAYS, form.windowDays)}
          checked={form.windowDays}
          errors={outcome.fieldErrors['callWindow.days']}
          autofocus={firstInvalid === 'callWindow.days'}
        />
      </fieldset>
      <fieldset class="stack">
        <legend>Retries</legend>
        <p class="field-hint">
          For calls and batches that set none. Leave both numbers empty for no retries.
        </p>
        <Field
          name="retryPolicy.maxAttempts"
          label="Attempts in all"
          value={form.retryMaxAttempts}
          error={error('retryPolicy.maxAttempts')}
          hint={`${RETRY_LIMITS.maxAttemptsMin} to ${RETRY_LIMITS.maxAttemptsMax}, the first included.`}
          attrs={{ inputmode: 'numeric', ...focus('retryPolicy.maxAttempts') }}
        />
        <Field
          name="retryPolicy.delaySeconds"
          label="Seconds between attempts"
          value={form.retryDelaySeconds}
          error={error('retryPolicy.delaySeconds')}
          hint={`${RETRY_LIMITS.delaySecondsMin} to ${RETRY_LIMITS.delaySecondsMax}; each attempt also waits for the calling hours.`}
          attrs={{ inputmode: 'numeric', ...focus('retryPolicy.delaySeconds') }}
        />
        <CheckboxGroup
          id={idOf('retryPolicy.on')}
          name="retryPolicy.on"
          legend="Retry when the attempt ended"
          hint="A callee who rejected the call is never called again."
          options={withUnoffered(RETRY_OUTCOMES, form.retryOn)}
          checked={form.retryOn}
          errors={outcome.fieldErrors['retryPolicy.on']}
          autofocus={firstInvalid === 'retryPolicy.on'}
        />
      </fieldset>
      <button type="submit">Save calling defaults</button>
    </form>
  );
}
