import type { Context, Hono } from 'hono';
import {
  AccountAdmin,
  AccountAdminError,
  type AdminAccountView,
  CAP_FIELDS,
  type CapName,
  type CapsPatch,
  parseCapText,
} from '../../accounts/account-admin.js';
import { requireUser } from '../auth/require-user.js';
import { renderNotFound } from '../components/error-pages.js';
import { type FlashMessage, setFlash, takeFlash } from '../components/flash.js';
import { Layout } from '../layout.js';
import type { DashboardDeps, DashboardEnv, DashboardUser } from '../types.js';
import { AdminAccountPage, type AdminAccountProps, type CapsFormState } from './admin-account.js';

const used = (n: number, cap: number) => `${n} / ${cap}`;

function AdminAccountsPage(p: {
  user: DashboardUser;
  csrfToken: string;
  accounts: AdminAccountView[];
  flash: FlashMessage | null;
}) {
  return (
    <Layout title="Admin" user={p.user} csrfToken={p.csrfToken} active="admin" flash={p.flash}>
      <h1>Accounts</h1>
      <p class="muted">Every account of this deployment. Used / cap; days and months are UTC.</p>
      <div class="table-wrap">
        <table>
          <caption>Accounts with their usage and state</caption>
          <thead>
            <tr>
              <th scope="col">Account</th>
              <th scope="col">State</th>
              <th scope="col">Calls today</th>
              <th scope="col">Minutes this month</th>
              <th scope="col">Active calls</th>
              <th scope="col">Live now</th>
            </tr>
          </thead>
          <tbody>
            {p.accounts.map((a) => (
              <tr data-account-id={a.accountId}>
                <th scope="row">
                  <a href={`/admin/accounts/${a.accountId}`}>{a.name}</a>
                </th>
                <td>
                  {a.disabled ? `disabled${a.disabledReason ? `: ${a.disabledReason}` : ''}` : 'enabled'}
                </td>
                <td>{used(a.usage.callsToday, a.caps.callsPerDay)}</td>
                <td>{used(a.usage.minutesThisMonth, a.caps.minutesPerMonth)}</td>
                <td>{used(a.usage.activeCalls, a.caps.concurrentCalls)}</td>
                <td>{a.usage.liveCalls}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}

function formString(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  return typeof v === 'string' ? v : '';
}

/**
 * /admin (instance admins only): every account with usage and state; /admin/accounts/:id edits caps,
 * disables/enables and revokes keys through the same AccountAdmin as the admin API and the CLI.
 */
export function registerAdmin(ui: Hono<DashboardEnv>, deps: DashboardDeps): void {
  const admin = new AccountAdmin({ db: deps.db, config: deps.config, calls: deps.calls, clock: deps.clock });
  const onlyAdmins = requireUser({ instanceAdmin: true });
  const defaults = Object.fromEntries(CAP_FIELDS.map((f) => [f.name, deps.config[f.setting]])) as Record<
    CapName,
    number
  >;

  const renderAccount = async (
    c: Context<DashboardEnv>,
    extra: Partial<AdminAccountProps> = {},
    status: 200 | 400 = 200,
  ) => {
    const id = c.req.param('id') as string;
    let account: AdminAccountView;
    try {
      account = await admin.getAccount(id);
    } catch (err) {
      if (err instanceof AccountAdminError && err.code === 'not_found')
        return renderNotFound(c, 'There is no account with this id.');
      throw err;
    }
    const keys = await admin.listKeys({ accountId: account.accountId });
    return c.html(
      <AdminAccountPage
        user={c.get('user') as DashboardUser}
        csrfToken={c.get('csrfToken')}
        account={account}
        keys={keys}
        defaults={defaults}
        flash={takeFlash(c)}
        {...extra}
      />,
      status,
    );
  };

  /** Runs an action of the account page; not_found becomes the 404 page, the rest a flash on redirect. */
  const act =
    (action: (c: Context<DashboardEnv>, id: string) => Promise<string | Response>) =>
    async (c: Context<DashboardEnv>) => {
      const id = c.req.param('id') as string;
      try {
        const out = await action(c, id);
        if (out instanceof Response) return out;
        setFlash(c, { kind: 'success', message: out });
      } catch (err) {
        if (!(err instanceof AccountAdminError)) throw err;
        if (err.code === 'not_found') return renderNotFound(c, err.message);
        setFlash(c, { kind: 'error', message: err.message });
      }
      return c.redirect(`/admin/accounts/${id}`, 303);
    };

  ui.get('/admin', onlyAdmins, async (c) =>
    c.html(
      <AdminAccountsPage
        user={c.get('user') as DashboardUser}
        csrfToken={c.get('csrfToken')}
        accounts={await admin.listAccounts()}
        flash={takeFlash(c)}
      />,
    ),
  );

  ui.get('/admin/accounts/:id', onlyAdmins, (c) => renderAccount(c));

  ui.post(
    '/admin/accounts/:id/caps',
    onlyAdmins,
    act(async (c, id) => {
      const body = await c.req.parseBody();
      const form: CapsFormState = { values: {}, errors: {} };
      const patch: CapsPatch = {};
      for (const f of CAP_FIELDS) {
        const text = formString(body, f.name);
        form.values[f.name] = text;
        const parsed = parseCapText(f.name, text);
        if ('problem' in parsed) form.errors[f.name] = `${f.label} ${parsed.problem}.`;
        else patch[f.name] = parsed.value;
      }
      if (Object.keys(form.errors).length > 0) {
        return renderAccount(
          c,
          {
            capsForm: form,
            flash: { kind: 'error', message: 'The caps were not saved; see the fields below.' },
          },
          400,
        );
      }
      const account = await admin.setCaps(id, patch);
      deps.logger.info(
        { accountId: account.accountId, by: (c.get('user') as DashboardUser).id, caps: account.capOverrides },
        'account caps changed on the dashboard',
      );
      return `Saved the caps of ${account.name}.`;
    }),
  );

  ui.post(
    '/admin/accounts/:id/disable',
    onlyAdmins,
    act(async (c, id) => {
      const reason = formString(await c.req.parseBody(), 'reason');
      // It would end this admin's own session at once; the CLI can still do it deliberately.
      if (id.toLowerCase() === (c.get('user') as DashboardUser).accountId) {
        throw new AccountAdminError(
          'invalid_request',
          "You cannot disable your own account here: it would sign you out. Use 'agentline accounts disable'.",
        );
      }
      try {
        const res = await admin.disable(id, reason);
        deps.logger.info(
          {
            accountId: id,
            by: (c.get('user') as DashboardUser).id,
            failedQueuedCalls: res.failedQueuedCalls,
          },
          'account disabled on the dashboard',
        );
        const live = res.account.usage.liveCalls;
        return `Disabled ${res.account.name}: ${res.failedQueuedCalls} queued call(s) failed${live > 0 ? `, ${live} live call(s) left to finish` : ''}.`;
      } catch (err) {
        if (!(err instanceof AccountAdminError) || err.code !== 'invalid_request') throw err;
        return renderAccount(
          c,
          { disableReason: reason, disableError: `Reason ${err.fields[0]?.message ?? 'is not valid'}.` },
          400,
        );
      }
    }),
  );

  ui.post(
    '/admin/accounts/:id/enable',
    onlyAdmins,
    act(async (c, id) => {
      const account = await admin.enable(id);
      deps.logger.info(
        { accountId: id, by: (c.get('user') as DashboardUser).id },
        'account enabled on the dashboard',
      );
      return `Enabled ${account.name}.`;
    }),
  );

  ui.post(
    '/admin/accounts/:id/keys/:keyId/revoke',
    onlyAdmins,
    act(async (c, id) => {
      const { key } = await admin.revokeKey(c.req.param('keyId') as string, { accountId: id });
      deps.logger.info(
        { accountId: id, keyId: key.keyId, by: (c.get('user') as DashboardUser).id },
        'agent key revoked on the dashboard',
      );
      return `Revoked key ${key.prefix}.`;
    }),
  );
}
