import type { Context, Hono } from 'hono';
import { requireUser } from '../auth/require-user.js';
import {
  createUser,
  listUsers,
  type Role,
  removeUser,
  SIGN_IN_LINK_TTL_MS,
  setRole,
  signInLinkUrl,
  UserError,
  type UserSummary,
} from '../auth/users.js';
import { CsrfField } from '../components/csrf-field.js';
import { renderNotFound } from '../components/error-pages.js';
import { Field } from '../components/field.js';
import { type FlashMessage, setFlash, takeFlash } from '../components/flash.js';
import { Layout } from '../layout.js';
import type { DashboardDeps, DashboardEnv, DashboardUser } from '../types.js';

const ROLE_OPTIONS = [
  { value: 'viewer', label: 'Viewer (calls only)' },
  { value: 'owner', label: 'Owner (keys, numbers, webhook secret, users)' },
];

function formString(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  return typeof v === 'string' ? v : '';
}

function state(u: UserSummary, now: Date): string {
  if (u.disabledAt) return 'disabled';
  if (u.lockedUntil && u.lockedUntil > now) return 'locked';
  return u.hasPassword ? 'active' : 'invited (link not used yet)';
}

interface UsersPageProps {
  me: DashboardUser;
  csrfToken: string;
  users: UserSummary[];
  now: Date;
  flash?: FlashMessage | null;
  invite?: { email?: string; role?: string; error?: string | null };
  /** The link of a user just invited: shown this once. */
  newLink?: { email: string; url: string } | null;
}

function UsersPage(p: UsersPageProps) {
  return (
    <Layout title="Users" user={p.me} csrfToken={p.csrfToken} active="users" flash={p.flash}>
      <h1>Users</h1>
      {p.newLink ? (
        <section class="panel panel-highlight" aria-labelledby="new-link-title">
          <h2 id="new-link-title">Sign-in link for {p.newLink.email}</h2>
          <p>
            Send this link to {p.newLink.email}. It works once, for {SIGN_IN_LINK_TTL_MS / 3_600_000} hours,
            and is shown only now.
          </p>
          <p>
            <code class="secret" id="new-sign-in-link">
              {p.newLink.url}
            </code>
          </p>
        </section>
      ) : null}
      <div class="table-wrap">
        <table>
          <caption>People who can sign in to this account</caption>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">State</th>
              <th scope="col">Last sign-in</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {p.users.map((u) => (
              <tr data-user-email={u.email}>
                <th scope="row">
                  {u.email}
                  {u.id === p.me.id ? <span class="muted"> (you)</span> : null}
                </th>
                <td>{u.role}</td>
                <td>{state(u, p.now)}</td>
                <td>
                  {u.lastSignInAt ? (
                    <time datetime={u.lastSignInAt.toISOString()}>
                      {u.lastSignInAt.toISOString().slice(0, 16).replace('T', ' ')} UTC
                    </time>
                  ) : (
                    'never'
                  )}
                </td>
                <td class="actions">
                  <form method="post" action={`/users/${u.id}/role`} class="inline">
                    <CsrfField token={p.csrfToken} />
                    <label class="visually-hidden" for={`role-${u.id}`}>
                      Role of {u.email}
                    </label>
                    <select id={`role-${u.id}`} name="role">
                      <option value="viewer" selected={u.role === 'viewer'}>
                        viewer
                      </option>
                      <option value="owner" selected={u.role === 'owner'}>
                        owner
                      </option>
                    </select>
                    <button type="submit" class="button-secondary" aria-label={`Change role of ${u.email}`}>
                      Change role
                    </button>
                  </form>
                  <form method="post" action={`/users/${u.id}/remove`} class="inline">
                    <CsrfField token={p.csrfToken} />
                    <button type="submit" class="button-danger" aria-label={`Remove ${u.email}`}>
                      Remove
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <section class="panel" aria-labelledby="invite-title">
        <h2 id="invite-title">Invite someone</h2>
        <form method="post" action="/users" class="stack">
          <CsrfField token={p.csrfToken} />
          <Field
            name="email"
            label="Email"
            type="email"
            required
            value={p.invite?.email ?? ''}
            error={p.invite?.error}
            autocomplete="off"
          />
          <Field
            name="role"
            label="Role"
            as="select"
            value={p.invite?.role ?? 'viewer'}
            options={ROLE_OPTIONS}
          />
          <button type="submit">Invite</button>
        </form>
      </section>
    </Layout>
  );
}

/** /users: the owners of an account list its users, invite one (a one-time link), change roles, remove. */
export function registerUsers(ui: Hono<DashboardEnv>, deps: DashboardDeps): void {
  const owner = requireUser({ role: 'owner' });

  const render = async (c: Context<DashboardEnv>, extra: Partial<UsersPageProps> = {}, status = 200) => {
    const me = c.get('user') as DashboardUser;
    return c.html(
      <UsersPage
        me={me}
        csrfToken={c.get('csrfToken')}
        users={await listUsers(deps.db, me.accountId)}
        now={deps.clock()}
        flash={takeFlash(c)}
        {...extra}
      />,
      status as 200,
    );
  };

  ui.get('/users', owner, (c) => render(c));

  ui.post('/users', owner, async (c) => {
    const me = c.get('user') as DashboardUser;
    const body = await c.req.parseBody();
    const email = formString(body, 'email');
    const role = formString(body, 'role') === 'owner' ? 'owner' : 'viewer';
    try {
      const created = await createUser(
        deps.db,
        { accountId: me.accountId, email, role },
        { now: deps.clock() },
      );
      c.get('log')?.info({ userId: created.user.id, by: me.id }, 'dashboard user invited');
      c.header('Cache-Control', 'no-store');
      return render(
        c,
        {
          flash: { kind: 'success', message: `Invited ${created.user.email} as ${role}.` },
          newLink: {
            email: created.user.email,
            url: signInLinkUrl(deps.config.publicBaseUrl, created.signInToken as string),
          },
        },
        201,
      );
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      return render(c, { invite: { email, role, error: err.message } }, 400);
    }
  });

  const change =
    (action: (me: DashboardUser, userId: string, body: Record<string, unknown>) => Promise<string>) =>
    async (c: Context<DashboardEnv>) => {
      const me = c.get('user') as DashboardUser;
      const body = await c.req.parseBody();
      try {
        const message = await action(me, c.req.param('id') as string, body);
        setFlash(c, { kind: 'success', message });
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        if (err.code === 'not_found') return renderNotFound(c, 'There is no such user in this account.');
        setFlash(c, { kind: 'error', message: err.message });
      }
      return c.redirect('/users', 303);
    };

  ui.post(
    '/users/:id/role',
    owner,
    change(async (me, userId, body) => {
      const role: Role = formString(body, 'role') === 'owner' ? 'owner' : 'viewer';
      const u = await setRole(deps.db, me.accountId, userId, role);
      return `${u.email} is now ${role}.`;
    }),
  );

  ui.post(
    '/users/:id/remove',
    owner,
    change(async (me, userId) => {
      const u = await removeUser(deps.db, me.accountId, userId);
      deps.logger.info({ userId: u.id, by: me.id }, 'dashboard user removed');
      return `Removed ${u.email}.`;
    }),
  );
}
