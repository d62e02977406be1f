import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { requireUser } from '../../src/dashboard/auth/require-user.js';
import { NAV } from '../../src/dashboard/layout.js';
import type { DashboardEnv, DashboardUser } from '../../src/dashboard/types.js';

// requireUser's three answers (through to the page, to sign-in with next=, the 403 page) for each kind
// of user, and the nav the layout shows each: the same rules, so no link leads to a 403.

const people: Record<string, DashboardUser | null> = {
  nobody: null,
  viewer: { id: 'v', accountId: 'a', email: 'v@x.test', role: 'viewer', instanceAdmin: false },
  owner: { id: 'o', accountId: 'a', email: 'o@x.test', role: 'owner', instanceAdmin: false },
  admin: { id: 'i', accountId: 'a', email: 'i@x.test', role: 'viewer', instanceAdmin: true },
};

function app() {
  const ui = new Hono<DashboardEnv>();
  ui.use('*', async (c, next) => {
    c.set('user', people[c.req.header('x-who') ?? 'nobody'] ?? null);
    c.set('csrfToken', 't');
    await next();
  });
  ui.get('/calls', requireUser(), (c) => c.text('calls'));
  ui.get('/users', requireUser({ role: 'owner' }), (c) => c.text('users'));
  ui.get('/admin', requireUser({ instanceAdmin: true }), (c) => c.text('admin'));
  ui.post('/users', requireUser({ role: 'owner' }), (c) => c.text('posted'));
  return ui;
}

describe('requireUser', () => {
  const expected: Record<string, Record<string, number>> = {
    nobody: { '/calls': 302, '/users': 302, '/admin': 302 },
    viewer: { '/calls': 200, '/users': 403, '/admin': 403 },
    owner: { '/calls': 200, '/users': 200, '/admin': 403 },
    admin: { '/calls': 200, '/users': 200, '/admin': 200 },
  };
  for (const [who, paths] of Object.entries(expected)) {
    it(`answers ${who} as its role allows, and the nav shows exactly the pages it may open`, async () => {
      const ui = app();
      for (const [path, status] of Object.entries(paths)) {
        const res = await ui.request(`${path}?x=1`, { headers: { 'x-who': who } });
        expect(res.status, `${who} ${path}`).toBe(status);
        if (status === 302)
          expect(res.headers.get('location')).toBe(`/sign-in?next=${encodeURIComponent(`${path}?x=1`)}`);
        if (status === 403) expect(await res.text()).toContain('Not allowed');
        const user = people[who];
        if (user) {
          const item = NAV.find((n) => n.href === path);
          expect(item?.show(user), `${who} nav ${path}`).toBe(status === 200);
        }
      }
    });
  }

  it('sends a signed-out POST to sign-in without making its form the next page', async () => {
    const res = await app().request('/users', { method: 'POST' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/sign-in');
  });
});
