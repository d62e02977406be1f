import type { Context, Hono } from 'hono';
import {
  AccountAdmin,
  type AdminAccountView,
  CAP_FIELDS,
  type CapName,
} from '../../accounts/account-admin.js';
import {
  type AccountSettingsView,
  readAccountSettings,
  updateAccountSettings,
} from '../../accounts/account-settings.js';
import type { ReadinessReport, ReadinessResult } from '../../health.js';
import { requireUser } from '../auth/require-user.js';
import { type FlashMessage, setFlash, takeFlash } from '../components/flash.js';
import { Layout } from '../layout.js';
import type { DashboardDeps, DashboardEnv, DashboardUser } from '../types.js';
import {
  type CallingDefaultsForm,
  CallingDefaultsFormView,
  type CallingDefaultsOutcome,
  CallingDefaultsSummary,
  formFromSettings,
  outcomeOf,
  readCallingDefaultsForm,
  validateCallingDefaults,
} from './calling-defaults.js';

/** What each cap counts now, in the cap's own unit. */
function usedOf(a: AdminAccountView, cap: CapName): number {
  switch (cap) {
    case 'callsPerMinute':
      return a.usage.callsLastMinute;
    case 'concurrentCalls':
      return a.usage.activeCalls;
    case 'callsPerDay':
      return a.usage.callsToday;
    case 'minutesPerMonth':
      return a.usage.minutesThisMonth;
  }
}

const USED_LABEL: Record<CapName, string> = {
  callsPerMinute: 'in the last minute',
  concurrentCalls: 'active now',
  callsPerDay: 'today',
  minutesPerMonth: 'this month',
};

/** The caps table of an account: the value enforced, where it comes from, and what is used of it. */
export function CapsUsageTable(props: { account: AdminAccountView; caption: string }) {
  const a = props.account;
  return (
    <div class="table-wrap">
      <table class="caps-table">
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Cap</th>
            <th scope="col">Limit</th>
            <th scope="col">Set by</th>
            <th scope="col">Used</th>
          </tr>
        </thead>
        <tbody>
          {CAP_FIELDS.map((f) => {
            const limit = a.caps[f.name];
            const used = usedOf(a, f.name);
            const isDefault = a.capOverrides[f.name] === null;
            return (
              <tr data-cap={f.name}>
                <th scope="row">{f.label}</th>
                <td data-cap-limit>{limit}</td>
                <td>
                  {isDefault ? (
                    <span class="badge" data-cap-default>
                      default
                    </span>
                  ) : (
                    <span class="badge">this account</span>
                  )}
                </td>
                <td data-cap-used>
                  <meter
                    min={0}
                    max={Math.max(limit, 1)}
                    value={Math.min(used, Math.max(limit, 1))}
                    aria-label={`${f.label}: ${used} of ${limit} used ${USED_LABEL[f.name]}`}
                  />{' '}
                  {used} of {limit} {USED_LABEL[f.name]}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** Splits the engines check's detail ("stt: vosk (…), tts: piper (…), …") into one row an engine kind. */
export function engineRows(detail: string | undefined): { kind: string; engine: string }[] {
  if (!detail) return [];
  return detail
    .split(/,\s(?=[a-z]+: )/)
    .map((part) => {
      const i = part.indexOf(': ');
      return i < 0 ? { kind: '', engine: part } : { kind: part.slice(0, i), engine: part.slice(i + 2) };
    })
    .filter((r) => r.engine !== '');
}

const KIND_LABEL: Record<string, string> = {
  stt: 'Speech recognition (STT)',
  tts: 'Speech synthesis (TTS)',
  vad: 'Voice activity detection',
  dialogue: 'Dialogue model',
};

function EnginesSection(props: { check: ReadinessResult | undefined }) {
  const { check } = props;
  if (!check) {
    return (
      <p data-engines-absent>
        This server runs no call worker, so it loads no engines; each worker reports its own at{' '}
        <code>/readyz</code>.
      </p>
    );
  }
  if (!check.ok) {
    return (
      <p class="flash flash-error" role="status" data-engines-missing>
        Engines missing: {check.detail ?? 'unknown'}. Calls cannot be placed until they are installed.
      </p>
    );
  }
  return (
    <div class="table-wrap">
      <table data-engines>
        <caption>Engines and models this deployment runs</caption>
        <thead>
          <tr>
            <th scope="col">Part</th>
            <th scope="col">Engine and model</th>
          </tr>
        </thead>
        <tbody>
          {engineRows(check.detail).map((r) => (
            <tr data-engine-kind={r.kind}>
              <th scope="row">{KIND_LABEL[r.kind] ?? r.kind}</th>
              <td>{r.engine}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function PbxSection(props: { check: ReadinessResult | undefined }) {
  const { check } = props;
  if (!check) {
    return (
      <p data-pbx-state="none">
        This server runs no call worker, so it holds no PBX connection; each worker reports its own at{' '}
        <code>/readyz</code>.
      </p>
    );
  }
  return (
    <p data-pbx-state={check.ok ? 'connected' : 'disconnected'}>
      <span class="badge">{check.ok ? 'Connected' : 'Not connected'}</span> {check.detail ?? ''}
    </p>
  );
}

interface SettingsProps {
  user: DashboardUser;
  csrfToken: string;
  account: AdminAccountView;
  report: ReadinessReport;
  flash: FlashMessage | null;
  defaults: AccountSettingsView;
  /** The calling-defaults form as last posted (a refused one), else the stored values. */
  defaultsForm: CallingDefaultsForm;
  defaultsOutcome: CallingDefaultsOutcome;
}

const canEdit = (u: DashboardUser) => u.role === 'owner' || u.instanceAdmin;

function SettingsPage(p: SettingsProps) {
  const a = p.account;
  return (
    <Layout title="Settings" user={p.user} csrfToken={p.csrfToken} active="settings" flash={p.flash}>
      <h1>Settings</h1>
      {a.disabled ? (
        <p class="flash flash-error" role="status">
          This account is disabled{a.disabledReason ? `: ${a.disabledReason}` : ''}.
        </p>
      ) : null}
      <section class="panel" aria-labelledby="caps-title">
        <h2 id="caps-title">Caps and usage of {a.name}</h2>
        <p class="muted">
          Days and months are UTC. A cap marked default is the deployment's setting; an instance admin can set
          one for this account.
        </p>
        <CapsUsageTable account={a} caption="The account's caps and what is used of them" />
        <p>
          Call minutes this month: {a.usage.minutesThisMonth} ({a.usage.callSecondsThisMonth} s). Calls live
          now: {a.usage.liveCalls}.
        </p>
        {p.user.instanceAdmin ? (
          <p>
            <a href={`/admin/accounts/${a.accountId}`}>Change this account's caps</a>
          </p>
        ) : null}
      </section>
      <section class="panel" id="calling-defaults" aria-labelledby="defaults-title">
        <h2 id="defaults-title">Calling defaults</h2>
        <p class="muted">
          What <code>GET/PATCH /v1/agent/settings</code> reads and changes: the calling hours and retries a
          call or batch of this account gets when it sets none.
        </p>
        <CallingDefaultsSummary settings={p.defaults} />
        {canEdit(p.user) ? (
          <CallingDefaultsFormView
            form={p.defaultsForm}
            outcome={p.defaultsOutcome}
            defaultWindow={p.defaults.deployment.defaultCallWindow}
            csrfToken={p.csrfToken}
          />
        ) : (
          <p data-defaults-read-only>Only an owner of the account can change them.</p>
        )}
      </section>
      <section class="panel" aria-labelledby="engines-title">
        <h2 id="engines-title">Engines and models</h2>
        <EnginesSection check={p.report.checks.engines} />
      </section>
      <section class="panel" aria-labelledby="pbx-title">
        <h2 id="pbx-title">PBX connection</h2>
        <PbxSection check={p.report.checks.pbx} />
      </section>
      <section class="panel" aria-labelledby="ready-title">
        <h2 id="ready-title">Placing calls</h2>
        {p.report.canPlaceCalls ? (
          <p data-can-place="yes">This server can place calls now.</p>
        ) : (
          <p data-can-place="no">
            This server cannot place calls now: {p.report.missing.map((m) => m.detail ?? m.name).join('; ')}
          </p>
        )}
      </section>
    </Layout>
  );
}

const NO_ERRORS: CallingDefaultsOutcome = { fieldErrors: {}, formErrors: [] };

/**
 * /settings: every signed-in user reads their account's caps and usage, its calling defaults, the
 * engines and the PBX link; an owner changes the calling defaults through the API's own schema and
 * service (PATCH /v1/agent/settings), its messages shown at the fields.
 */
export function registerSettings(ui: Hono<DashboardEnv>, deps: DashboardDeps): void {
  const admin = new AccountAdmin({ db: deps.db, config: deps.config, calls: deps.calls, clock: deps.clock });
  const render = async (
    c: Context<DashboardEnv>,
    refused: { form: CallingDefaultsForm; outcome: CallingDefaultsOutcome; flash: FlashMessage } | null,
    status: 200 | 400,
  ) => {
    const user = c.get('user') as DashboardUser;
    const [account, defaults, report] = await Promise.all([
      admin.getAccount(user.accountId),
      readAccountSettings(deps.db, deps.config, user.accountId),
      deps.readiness.report(),
    ]);
    // The session's account exists (the session middleware checked it); a row gone since is a bug.
    if (!defaults) throw new Error(`account ${user.accountId} has no settings row`);
    c.header('Cache-Control', 'no-store');
    return c.html(
      <SettingsPage
        user={user}
        csrfToken={c.get('csrfToken')}
        account={account}
        report={report}
        flash={refused ? refused.flash : takeFlash(c)}
        defaults={defaults}
        defaultsForm={refused ? refused.form : formFromSettings(defaults)}
        defaultsOutcome={refused ? refused.outcome : NO_ERRORS}
      />,
      status,
    );
  };

  ui.get('/settings', requireUser(), (c) => render(c, null, 200));

  ui.post('/settings/calling-defaults', requireUser({ role: 'owner' }), async (c) => {
    const user = c.get('user') as DashboardUser;
    const form = readCallingDefaultsForm(await c.req.parseBody({ all: true }));
    const checked = validateCallingDefaults(form);
    if ('error' in checked) {
      const flash: FlashMessage = {
        kind: 'error',
        message: 'The calling defaults were not saved; see the fields below.',
      };
      return render(c, { form, outcome: outcomeOf(checked.error), flash }, 400);
    }
    const saved = await updateAccountSettings(deps.db, deps.config, user.accountId, checked.change);
    deps.logger.info(
      {
        accountId: user.accountId,
        by: user.id,
        callWindow: saved?.callWindow,
        retryPolicy: saved?.retryPolicy,
      },
      'calling defaults changed on the dashboard',
    );
    setFlash(c, { kind: 'success', message: 'Saved the calling defaults.' });
    return c.redirect('/settings#calling-defaults', 303);
  });
}
