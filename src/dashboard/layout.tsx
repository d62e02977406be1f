import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { CsrfField } from './components/csrf-field.js';
import { Flash, type FlashMessage } from './components/flash.js';
import { assetUrl } from './static-assets.js';
import type { DashboardUser } from './types.js';

export interface LayoutProps {
  /** The page's own title; the tab shows "<title> · agentline". */
  title: string;
  user: DashboardUser | null;
  csrfToken: string;
  /** The nav entry to mark current: its key (calls, place-call, batches, do-not-call, developers, settings, users, admin) or href. */
  active?: string;
  flash?: FlashMessage | null;
  /** Asset names of this page's scripts under /assets (loaded deferred, in order). */
  scripts?: string[];
  children?: Child;
}

interface NavItem {
  key: string;
  href: string;
  label: string;
  show: (u: DashboardUser) => boolean;
}

const everyone = () => true;
const owners = (u: DashboardUser) => u.role === 'owner' || u.instanceAdmin;

export const NAV: readonly NavItem[] = [
  { key: 'calls', href: '/calls', label: 'Calls', show: everyone },
  // Viewers are refused /calls/new (403): a link they cannot follow is only noise to them.
  { key: 'place-call', href: '/calls/new', label: 'Place a call', show: owners },
  { key: 'batches', href: '/batches', label: 'Batches', show: everyone },
  { key: 'do-not-call', href: '/do-not-call', label: 'Do not call', show: everyone },
  { key: 'developers', href: '/developers', label: 'Developers', show: owners },
  { key: 'settings', href: '/settings', label: 'Settings', show: everyone },
  { key: 'users', href: '/users', label: 'Users', show: owners },
  { key: 'admin', href: '/admin', label: 'Admin', show: (u) => u.instanceAdmin },
];

/**
 * Every dashboard page: skip link, header with the product name and the nav the user's role allows,
 * the sign-out form, and the page in <main>. The CSRF token is also in a meta tag for scripts' fetches
 * (header x-csrf-token).
 */
export function Layout(props: LayoutProps) {
  const { user } = props;
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{`${props.title} · agentline`}</title>
          <meta name="csrf-token" content={props.csrfToken} />
          <link rel="stylesheet" href={assetUrl('app.css')} />
          {(props.scripts ?? []).map((s) => (
            <script src={assetUrl(s)} defer />
          ))}
        </head>
        <body>
          <a class="skip-link" href="#main">
            Skip to content
          </a>
          <header class="site-header">
            <a class="brand" href={user ? '/calls' : '/sign-in'}>
              agentline
            </a>
            {user ? (
              <nav aria-label="Main">
                <ul>
                  {NAV.filter((n) => n.show(user)).map((n) => {
                    const current = props.active === n.key || props.active === n.href;
                    return (
                      <li>
                        <a href={n.href} aria-current={current ? 'page' : undefined}>
                          {n.label}
                        </a>
                      </li>
                    );
                  })}
                </ul>
              </nav>
            ) : null}
            {user ? (
              <form class="sign-out" method="post" action="/sign-out">
                <CsrfField token={props.csrfToken} />
                <span class="who">
                  {user.email}
                  <span class="role">
                    {' '}
                    ({user.instanceAdmin ? `${user.role}, instance admin` : user.role})
                  </span>
                </span>
                <button type="submit" class="button-secondary">
                  Sign out
                </button>
              </form>
            ) : null}
          </header>
          <main id="main" tabindex={-1}>
            <Flash flash={props.flash} />
            {props.children}
          </main>
        </body>
      </html>
    </>
  );
}
