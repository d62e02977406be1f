import type { Context } from 'hono';
import { Layout } from '../layout.js';
import type { DashboardEnv, DashboardUser } from '../types.js';

export function ForbiddenPage(props: { user: DashboardUser | null; csrfToken: string; message?: string }) {
  return (
    <Layout title="Not allowed" user={props.user} csrfToken={props.csrfToken}>
      <h1>Not allowed</h1>
      <p>
        {props.message ?? 'Your role does not give you access to this page. Ask an owner of the account.'}
      </p>
      <p>
        <a href={props.user ? '/calls' : '/sign-in'}>{props.user ? 'Back to calls' : 'Sign in'}</a>
      </p>
    </Layout>
  );
}

export function NotFoundPage(props: { user: DashboardUser | null; csrfToken: string; message?: string }) {
  return (
    <Layout title="Not found" user={props.user} csrfToken={props.csrfToken}>
      <h1>Not found</h1>
      <p>{props.message ?? 'There is no page at this address.'}</p>
      <p>
        <a href={props.user ? '/calls' : '/sign-in'}>{props.user ? 'Back to calls' : 'Sign in'}</a>
      </p>
    </Layout>
  );
}

/** The 403 page for the signed-in user of this request. */
export function renderForbidden(c: Context<DashboardEnv>, message?: string) {
  return c.html(
    <ForbiddenPage user={c.get('user') ?? null} csrfToken={c.get('csrfToken') ?? ''} message={message} />,
    403,
  );
}

/** The 404 page (a call or user that does not exist, or is another account's). */
export function renderNotFound(c: Context<DashboardEnv>, message?: string) {
  return c.html(
    <NotFoundPage user={c.get('user') ?? null} csrfToken={c.get('csrfToken') ?? ''} message={message} />,
    404,
  );
}
