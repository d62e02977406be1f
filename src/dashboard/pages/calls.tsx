import type { Context, Hono } from 'hono';
import { recordingResponse } from '../../api/recording-response.js';
import { CallError } from '../../calls/errors.js';
import { isTerminal } from '../../calls/status.js';
import type { CallRow } from '../../db/schema.js';
import { redeliverWebhooks } from '../../webhooks/redeliver.js';
import { requireUser } from '../auth/require-user.js';
import { canActOnCall, findVisibleCall } from '../calls/call-access.js';
import { callDeliveries } from '../calls/deliveries.js';
import { callMatchesQuery, parseListFilters } from '../calls/list-filters.js';
import { createWaveformReader } from '../calls/waveform.js';
import { renderNotFound } from '../components/error-pages.js';
import { setFlash, takeFlash } from '../components/flash.js';
import type { DashboardDeps, DashboardEnv, DashboardUser } from '../types.js';
import { CallPage } from './call-page.js';
import { CallListRow, CallsListPage } from './calls-list.js';

type Ctx = Context<DashboardEnv>;

/** Only UUID-shaped ids, so sibling pages under /calls (the place-a-call form at /calls/new) keep their paths. */
const ID = ':id{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}}';

/** The signed-in user; requireUser() runs first on every route here, so there always is one. */
const userOf = (c: Ctx): DashboardUser => c.get('user') as DashboardUser;

/** The calls list, a call's page, its recording, and the owner's actions on a call (cancel, redeliver). */
export function registerCallPages(ui: Hono<DashboardEnv>, deps: DashboardDeps): void {
  const waveformOf = createWaveformReader();

  const notFound = (c: Ctx) => renderNotFound(c, 'No call with this id exists in your account.');

  /** Names of the accounts on a page of calls, for the instance admin's account column. */
  async function accountNames(ids: Iterable<string>): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    for (const id of new Set(ids)) {
      const account = await deps.accounts.getAccount(id);
      if (account) names.set(id, account.name);
    }
    return names;
  }

  ui.use('/calls', requireUser());
  ui.use('/calls/*', requireUser());

  ui.get('/calls', async (c) => {
    const user = userOf(c);
    const parsed = parseListFilters(new URL(c.req.url).searchParams);
    let page: { rows: CallRow[]; nextCursor: string | null } = { rows: [], nextCursor: null };
    let error: string | undefined;
    if (parsed.query) {
      try {
        page = await deps.service.listCallRows(user.instanceAdmin ? null : user.accountId, parsed.query);
      } catch (err) {
        if (!(err instanceof CallError)) throw err;
        // A cursor from another filter or an old link: say so and offer the first page.
        error = 'This page link is no longer valid; showing nothing. Start again from the newest calls.';
      }
    }
    const names = user.instanceAdmin ? await accountNames(page.rows.map((r) => r.accountId)) : new Map();
    const status = Object.keys(parsed.problems).length || error ? 400 : 200;
    return c.html(
      <CallsListPage
        user={user}
        csrfToken={c.get('csrfToken')}
        filters={parsed.filters}
        problems={parsed.problems}
        calls={page.rows}
        accountNames={names}
        nextCursor={page.nextCursor}
        error={error}
      />,
      status,
    );
  });

  // calls-list.js asks for a call it learnt of from the event stream: its row, if the list's filters keep it.
  ui.get(`/calls/${ID}/row`, async (c) => {
    const user = userOf(c);
    const call = await findVisibleCall(deps, user, c.req.param('id'));
    if (!call) return c.body(null, 404);
    const parsed = parseListFilters(new URL(c.req.url).searchParams);
    if (!parsed.query || !callMatchesQuery(call, parsed.query)) return c.body(null, 204);
    const names = user.instanceAdmin ? await accountNames([call.accountId]) : new Map<string, string>();
    return c.html(
      <CallListRow call={call} accountName={names.get(call.accountId)} showAccount={user.instanceAdmin} />,
    );
  });

  ui.get(`/calls/${ID}`, async (c) => {
    const user = userOf(c);
    const call = await findVisibleCall(deps, user, c.req.param('id'));
    if (!call) return notFound(c);
    const [turns, events, deliveries, recording] = await Promise.all([
      deps.calls.turns(call.id),
      deps.calls.events(call.id),
      callDeliveries(deps.db, call.accountId, call.id),
      call.recordingFile ? deps.service.recording(call.accountId, call.id).catch(noRecording) : null,
    ]);
    const waveform = recording ? await waveformOf(recording) : null;
    return c.html(
      <CallPage
        user={user}
        csrfToken={c.get('csrfToken')}
        call={call}
        turns={turns}
        events={events}
        deliveries={deliveries}
        hasRecording={recording !== null}
        waveform={waveform}
        canAct={canActOnCall(user, call)}
        accountName={
          user.instanceAdmin ? ((await deps.accounts.getAccount(call.accountId))?.name ?? null) : null
        }
        flash={takeFlash(c)}
      />,
    );
  });

  const serveRecording = async (c: Ctx) => {
    const call = await findVisibleCall(deps, userOf(c), c.req.param('id') ?? '');
    if (!call) return c.text('No such call.', 404);
    const file = await deps.service.recording(call.accountId, call.id).catch(noRecording);
    if (!file) return c.text('This call has no recording.', 404);
    return recordingResponse(file, {
      callId: call.id,
      range: c.req.header('range'),
      head: c.req.method === 'HEAD',
    });
  };
  ui.get(`/calls/${ID}/recording`, serveRecording);

  ui.post(`/calls/${ID}/cancel`, requireUser({ role: 'owner' }), async (c) => {
    const user = userOf(c);
    const call = await findVisibleCall(deps, user, c.req.param('id'));
    if (!call) return notFound(c);
    if (!canActOnCall(user, call)) return c.text('Only an owner of this call’s account can cancel it.', 403);
    const alreadyEnded = () => {
      setFlash(c, { kind: 'info', message: 'The call had already ended; nothing was canceled.' });
      return c.redirect(`/calls/${call.id}`, 303);
    };
    if (isTerminal(call.status)) return alreadyEnded();
    try {
      await deps.service.cancelCall(call.accountId, call.id, deps.config.publicBaseUrl);
    } catch (err) {
      if (!(err instanceof CallError) || err.code !== 'call_already_ended') throw err;
      return alreadyEnded();
    }
    setFlash(c, { kind: 'success', message: 'The call was canceled.' });
    return c.redirect(`/calls/${call.id}`, 303);
  });

  ui.post(`/calls/${ID}/redeliver`, requireUser({ role: 'owner' }), async (c) => {
    const user = userOf(c);
    const call = await findVisibleCall(deps, user, c.req.param('id'));
    if (!call) return notFound(c);
    if (!canActOnCall(user, call))
      return c.text('Only an owner of this call’s account can redeliver its webhooks.', 403);
    const result = await redeliverWebhooks(deps.db, {
      accountId: call.accountId,
      callId: call.id,
      timeoutMs: deps.config.WEBHOOK_TIMEOUT_MS,
      now: deps.clock(),
    });
    setFlash(c, {
      kind: 'success',
      message:
        result.redelivered === 0
          ? 'Nothing to redeliver: every webhook event of this call is delivered or already being sent.'
          : `${result.redelivered} webhook event(s) will be sent again now.`,
    });
    return c.redirect(`/calls/${call.id}`, 303);
  });
}

/** The row names a recording file that is not (or no longer) there: the page shows no player. */
function noRecording(err: unknown): null {
  if (err instanceof CallError && err.code === 'not_found') return null;
  throw err;
}
