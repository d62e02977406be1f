import type { Context, Hono } from 'hono';
import { clearSessionCookie, readSessionCookie, setSessionCookie } from '../auth/cookies.js';
import { checkCredentials } from '../auth/credentials.js';
import { formCsrfToken } from '../auth/form-csrf.js';
import { sessionLimits } from '../auth/middleware.js';
import { safeNextPath } from '../auth/next-path.js';
import { MIN_PASSWORD_LENGTH } from '../auth/passwords.js';
import { createSession, deleteSession } from '../auth/sessions.js';
import { peekSignInLink, UserError, useSignInLink } from '../auth/users.js';
import { CsrfField } from '../components/csrf-field.js';
import { Field } from '../components/field.js';
import { Flash, type FlashMessage, setFlash, takeFlash } from '../components/flash.js';
import { Layout } from '../layout.js';
import type { DashboardDeps, DashboardEnv } from '../types.js';

function formString(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  return typeof v === 'string' ? v : '';
}

function SignInPage(props: { csrfToken: string; next: string; email?: string; flash?: FlashMessage | null }) {
  return (
    <Layout title="Sign in" user={null} csrfToken={props.csrfToken}>
      <div class="narrow">
        <h1>Sign in</h1>
        <Flash flash={props.flash} />
        <form method="post" action="/sign-in" class="stack">
          <CsrfField token={props.csrfToken} />
          <input type="hidden" name="next" value={props.next} />
          <Field
            name="email"
            label="Email"
            type="email"
            value={props.email ?? ''}
            required
            autocomplete="username"
            attrs={{ autofocus: !props.email, spellcheck: 'false', autocapitalize: 'none' }}
          />
          <Field
            name="password"
            label="Password"
            type="password"
            required
            autocomplete="current-password"
            attrs={{ autofocus: Boolean(props.email) }}
          />
          <button type="submit">Sign in</button>
        </form>
        <p class="muted">
          New here or forgot your password? Ask an owner of your account or your operator for a sign-in link (
          <code>agentline users reset --email you@example.com</code>).
        </p>
      </div>
    </Layout>
  );
}

function SetPasswordPage(props: { csrfToken: string; token: string; email: string; error?: string | null }) {
  return (
    <Layout title="Set your password" user={null} csrfToken={props.csrfToken}>
      <div class="narrow">
        <h1>Set your password</h1>
        <p>
          Signing in as <strong>{props.email}</strong>. This link works once.
        </p>
        <form method="post" action={`/sign-in/link/${props.token}`} class="stack">
          <CsrfField token={props.csrfToken} />
          <input type="text" name="username" value={props.email} autocomplete="username" hidden />
          <Field
            name="password"
            label="New password"
            type="password"
            required
            autocomplete="new-password"
            hint={`At least ${MIN_PASSWORD_LENGTH} characters.`}
            error={props.error}
            attrs={{ minlength: MIN_PASSWORD_LENGTH, autofocus: true }}
          />
          <Field
            name="confirm"
            label="Repeat the password"
            type="password"
            required
            autocomplete="new-password"
            attrs={{ minlength: MIN_PASSWORD_LENGTH }}
          />
          <button type="submit">Set password and sign in</button>
        </form>
      </div>
    </Layout>
  );
}

function DeadLinkPage(props: { csrfToken: string }) {
  return (
    <Layout title="Link not valid" user={null} csrfToken={props.csrfToken}>
      <div class="narrow">
        <h1>This sign-in link does not work</h1>
        <p>It was already used, has expired, or was replaced by a newer one. Ask for a new link.</p>
        <p>
          <a href="/sign-in">Go to sign in</a>
        </p>
      </div>
    </Layout>
  );
}

function lockedMessage(until: Date, now: Date): string {
  const minutes = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 60_000));
  return `Too many failed sign-ins. Signing in is locked for ${minutes} minute${minutes === 1 ? '' : 's'}; try again later.`;
}

/** Signs the user in: a new session row and cookie (any old session of this browser ends first). */
async function startSession(c: Context<DashboardEnv>, deps: DashboardDeps, userId: string): Promise<void> {
  const old = readSessionCookie(c);
  if (old) await deleteSession(deps.db, old);
  const session = await createSession(deps.db, userId, deps.clock(), sessionLimits(deps));
  setSessionCookie(c, deps.config, session.token, session.expiresAt);
}

/** /sign-in, /sign-out and the one-time links' "set your password" form. */
export function registerSignIn(ui: Hono<DashboardEnv>, deps: DashboardDeps): void {
  ui.get('/sign-in', (c) => {
    const next = safeNextPath(c.req.query('next'));
    if (c.get('user')) return c.redirect(next, 302);
    c.header('Cache-Control', 'no-store');
    return c.html(<SignInPage csrfToken={formCsrfToken(c, deps.config)} next={next} flash={takeFlash(c)} />);
  });

  ui.post('/sign-in', async (c) => {
    const body = await c.req.parseBody();
    const email = formString(body, 'email');
    const next = safeNextPath(formString(body, 'next'));
    const now = deps.clock();
    const result = await checkCredentials(deps.db, email, formString(body, 'password'), now);
    if (result.ok) {
      await startSession(c, deps, result.user.id);
      c.get('log')?.info({ userId: result.user.id }, 'dashboard sign-in');
      return c.redirect(next, 303);
    }
    const message =
      result.reason === 'locked'
        ? lockedMessage(result.until, now)
        : result.reason === 'disabled'
          ? 'This user or its account is disabled. Ask your operator.'
          : 'The email or password is not right.';
    c.get('log')?.info({ reason: result.reason }, 'dashboard sign-in refused');
    const status = result.reason === 'locked' ? 429 : result.reason === 'disabled' ? 403 : 401;
    return c.html(
      <SignInPage
        csrfToken={formCsrfToken(c, deps.config)}
        next={next}
        email={email.slice(0, 320)}
        flash={{ kind: 'error', message }}
      />,
      status,
    );
  });

  ui.post('/sign-out', async (c) => {
    const token = readSessionCookie(c);
    if (token) await deleteSession(deps.db, token);
    clearSessionCookie(c, deps.config);
    setFlash(c, { kind: 'info', message: 'You are signed out.' });
    return c.redirect('/sign-in', 303);
  });

  ui.get('/sign-in/link/:token', async (c) => {
    // The token is in the URL: never cached, and Referrer-Policy keeps it off other sites.
    c.header('Cache-Control', 'no-store');
    const csrfToken = formCsrfToken(c, deps.config);
    const user = await peekSignInLink(deps.db, c.req.param('token'), deps.clock());
    if (!user) return c.html(<DeadLinkPage csrfToken={csrfToken} />, 404);
    return c.html(<SetPasswordPage csrfToken={csrfToken} token={c.req.param('token')} email={user.email} />);
  });

  ui.post('/sign-in/link/:token', async (c) => {
    c.header('Cache-Control', 'no-store');
    const token = c.req.param('token');
    const body = await c.req.parseBody();
    const password = formString(body, 'password');
    const now = deps.clock();
    const pending = await peekSignInLink(deps.db, token, now);
    const csrfToken = formCsrfToken(c, deps.config);
    if (!pending) return c.html(<DeadLinkPage csrfToken={csrfToken} />, 404);
    const again = (error: string) =>
      c.html(
        <SetPasswordPage csrfToken={csrfToken} token={token} email={pending.email} error={error} />,
        400,
      );
    if (password !== formString(body, 'confirm')) return again('The two passwords are not the same.');
    let user: Awaited<ReturnType<typeof useSignInLink>>;
    try {
      user = await useSignInLink(deps.db, token, password, now);
    } catch (err) {
      if (err instanceof UserError) return again(err.message);
      throw err;
    }
    if (!user) return c.html(<DeadLinkPage csrfToken={csrfToken} />, 404);
    if (user.disabledAt) return c.redirect('/sign-in', 303);
    await startSession(c, deps, user.id);
    setFlash(c, { kind: 'success', message: 'Your password is set; you are signed in.' });
    return c.redirect('/calls', 303);
  });
}
