import {
  type AdminAccountView,
  type AdminKeyView,
  CAP_FIELDS,
  type CapName,
  MAX_DISABLED_REASON,
} from '../../accounts/account-admin.js';
import { CsrfField } from '../components/csrf-field.js';
import { Field } from '../components/field.js';
import type { FlashMessage } from '../components/flash.js';
import { Layout } from '../layout.js';
import type { DashboardUser } from '../types.js';
import { CapsUsageTable } from './settings.js';

export interface CapsFormState {
  /** What the admin typed, shown again next to its error. */
  values: Partial<Record<CapName, string>>;
  errors: Partial<Record<CapName, string>>;
}

export interface AdminAccountProps {
  user: DashboardUser;
  csrfToken: string;
  account: AdminAccountView;
  keys: AdminKeyView[];
  defaults: Record<CapName, number>;
  flash?: FlashMessage | null;
  capsForm?: CapsFormState;
  disableError?: string | null;
  disableReason?: string;
}

const when = (d: Date | null) =>
  d ? <time datetime={d.toISOString()}>{d.toISOString().slice(0, 16).replace('T', ' ')} UTC</time> : 'never';

/** One account for the instance admin: caps (edit), disable/enable with a reason, its agent keys (revoke). */
export function AdminAccountPage(p: AdminAccountProps) {
  const a = p.account;
  const base = `/admin/accounts/${a.accountId}`;
  return (
    <Layout title={`Account ${a.name}`} user={p.user} csrfToken={p.csrfToken} active="admin" flash={p.flash}>
      <p>
        <a href="/admin">All accounts</a>
      </p>
      <h1>{a.name}</h1>
      <p class="muted">
        Account <code>{a.accountId}</code>, created {when(a.createdAt)}.{' '}
        {a.disabled ? (
          <strong data-account-state="disabled">
            Disabled {when(a.disabledAt)}
            {a.disabledReason ? `: ${a.disabledReason}` : ''}
          </strong>
        ) : (
          <span data-account-state="enabled">Enabled.</span>
        )}
      </p>

      <section class="panel" aria-labelledby="usage-title">
        <h2 id="usage-title">Caps and usage</h2>
        <CapsUsageTable account={a} caption={`Caps of ${a.name} and what is used of them`} />
        <p>
          Calls live now: {a.usage.liveCalls}. Call time this month: {a.usage.callSecondsThisMonth} s.
        </p>
      </section>

      <section class="panel" aria-labelledby="caps-title">
        <h2 id="caps-title">Change caps</h2>
        <form method="post" action={`${base}/caps`} class="stack" novalidate>
          <CsrfField token={p.csrfToken} />
          {CAP_FIELDS.map((f) => {
            const typed = p.capsForm?.values[f.name];
            const own = a.capOverrides[f.name];
            return (
              <Field
                name={f.name}
                label={f.label}
                type="text"
                value={typed ?? (own === null ? '' : String(own))}
                error={p.capsForm?.errors[f.name]}
                hint={`Empty: the deployment default, ${p.defaults[f.name]} (${f.setting}). 0 blocks new calls.`}
                attrs={{ inputmode: 'numeric' }}
              />
            );
          })}
          <button type="submit">Save caps</button>
        </form>
      </section>

      <section class="panel" aria-labelledby="state-title">
        <h2 id="state-title">{a.disabled ? 'Enable the account' : 'Disable the account'}</h2>
        {a.accountId === p.user.accountId && !a.disabled ? (
          <p>This is your own account: disabling it here would sign you out at once; use the CLI.</p>
        ) : a.disabled ? (
          <form method="post" action={`${base}/enable`} class="stack">
            <CsrfField token={p.csrfToken} />
            <p>
              Its unrevoked keys work again and its users can sign in. Calls failed by the disable stay
              failed.
            </p>
            <button type="submit">Enable account</button>
          </form>
        ) : (
          <form method="post" action={`${base}/disable`} class="stack">
            <CsrfField token={p.csrfToken} />
            <p>
              Its keys stop working and its users cannot sign in; its queued calls fail (account_disabled).
              Calls already ringing or talking are left to finish.
            </p>
            <Field
              name="reason"
              label="Reason"
              required
              value={p.disableReason ?? ''}
              error={p.disableError}
              hint="Shown to the account's key holders in the API's 401."
              attrs={{ maxlength: MAX_DISABLED_REASON }}
            />
            <button type="submit" class="button-danger">
              Disable account
            </button>
          </form>
        )}
      </section>

      <section class="panel" aria-labelledby="keys-title">
        <h2 id="keys-title">Agent keys</h2>
        {p.keys.length === 0 ? (
          <p>This account has no agent keys.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption>Agent keys of {a.name} (prefixes; keys are stored as hashes)</caption>
              <thead>
                <tr>
                  <th scope="col">Prefix</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {p.keys.map((k) => (
                  <tr data-key-prefix={k.prefix}>
                    <th scope="row">
                      <code>{k.prefix}</code>
                    </th>
                    <td>{k.revokedAt ? <>revoked {when(k.revokedAt)}</> : 'live'}</td>
                    <td>{when(k.createdAt)}</td>
                    <td>{when(k.lastUsedAt)}</td>
                    <td>
                      {k.revokedAt ? null : (
                        <form method="post" action={`${base}/keys/${k.keyId}/revoke`} class="inline">
                          <CsrfField token={p.csrfToken} />
                          <button type="submit" class="button-danger" aria-label={`Revoke key ${k.prefix}`}>
                            Revoke
                          </button>
                        </form>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </Layout>
  );
}
