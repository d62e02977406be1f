import type { Context, Hono } from 'hono';
import { DNC_ADD_MAX, DNC_LIST_DEFAULT, type DncAddResult, DoNotCallService } from '../../dnc/do-not-call.js';
import { DncError } from '../../dnc/errors.js';
import { requireUser } from '../auth/require-user.js';
import { formatDateTime } from '../calls/format.js';
import { CsrfField } from '../components/csrf-field.js';
import { Field } from '../components/field.js';
import { type FlashMessage, setFlash, takeFlash } from '../components/flash.js';
import { Layout } from '../layout.js';
import type { DashboardDeps, DashboardEnv, DashboardUser } from '../types.js';

type Ctx = Context<DashboardEnv>;

/** Largest CSV the import form takes (as the API's do-not-call upload). */
export const DNC_IMPORT_MAX_BYTES = 2 * 1024 * 1024;
/** Invalid values the flash names before it only counts them. */
const INVALID_SHOWN = 5;

const SOURCE_LABEL: Record<string, string> = {
  api: 'API',
  cli: 'CLI',
  import: 'CSV import',
  opt_out: 'callee opted out',
  dashboard: 'dashboard',
};

const isOwner = (u: DashboardUser) => u.role === 'owner' || u.instanceAdmin;

function formString(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  return typeof v === 'string' ? v : '';
}

/** The numbers of the add form: one a line, or separated by commas, semicolons or spaces. */
export function numbersOfText(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** What an add or an import did, in one line. */
export function describeAdd(r: DncAddResult): FlashMessage {
  const parts = [`Added ${r.added} number${r.added === 1 ? '' : 's'}`];
  if (r.alreadyListed > 0) parts.push(`${r.alreadyListed} already listed`);
  if (r.invalidCount > 0) {
    const shown = r.invalid
      .slice(0, INVALID_SHOWN)
      .map((i) => `${i.line !== undefined ? `line ${i.line}: ` : ''}"${i.value}" (${i.message})`)
      .join('; ');
    const more = r.invalidCount > INVALID_SHOWN ? ` and ${r.invalidCount - INVALID_SHOWN} more` : '';
    parts.push(`${r.invalidCount} not valid: ${shown}${more}`);
  }
  return { kind: r.invalidCount > 0 ? 'error' : 'success', message: `${parts.join('; ')}.` };
}

interface DncEntryView {
  number: string;
  source: string;
  note: string | null;
  callId: string | null;
  createdAt: string;
}

interface DncPageProps {
  user: DashboardUser;
  csrfToken: string;
  numbers: DncEntryView[];
  nextCursor: string | null;
  /** This is not the first page. */
  paged: boolean;
  flash: FlashMessage | null;
  deploymentListSize: number | null;
}

function DoNotCallPage(p: DncPageProps) {
  const owner = isOwner(p.user);
  return (
    <Layout title="Do not call" user={p.user} csrfToken={p.csrfToken} active="do-not-call" flash={p.flash}>
      <h1>Do not call</h1>
      <p>
        Numbers on this list are never called from this account: a call or batch row to one is refused with{' '}
        <code>destination_blocked</code>, and a queued call to a number listed after it was queued ends
        without ringing. A callee who asks the agent not to be called again is added here by the call itself.
      </p>
      {p.deploymentListSize !== null ? (
        <p class="muted" data-deployment-list>
          This deployment also keeps its own list of {p.deploymentListSize} number
          {p.deploymentListSize === 1 ? '' : 's'}, which only its operator can change.
        </p>
      ) : null}
      {owner ? (
        <div class="dnc-forms">
          <section class="panel" aria-labelledby="dnc-add-title">
            <h2 id="dnc-add-title">Add numbers</h2>
            <form method="post" action="/do-not-call" class="stack" id="dnc-add-form">
              <CsrfField token={p.csrfToken} />
              <Field
                name="numbers"
                label="Numbers"
                as="textarea"
                required
                hint={`E.164 numbers such as +14155552671, one a line (or separated by commas); at most ${DNC_ADD_MAX.toLocaleString('en-US')}.`}
                attrs={{ rows: 4 }}
              />
              <Field name="note" label="Note (optional)" hint="Why they are listed, for your records." />
              <button type="submit">Add to the list</button>
            </form>
          </section>
          <section class="panel" aria-labelledby="dnc-import-title">
            <h2 id="dnc-import-title">Import a CSV</h2>
            <form
              method="post"
              action="/do-not-call/import"
              enctype="multipart/form-data"
              class="stack"
              id="dnc-import-form"
            >
              <CsrfField token={p.csrfToken} />
              <Field
                name="file"
                label="CSV file"
                type="file"
                required
                hint="A column named number, or the numbers in the first column; up to 2 MB. Invalid lines are reported and skipped."
                attrs={{ accept: '.csv,text/csv' }}
              />
              <Field name="note" id="field-import-note" label="Note for these numbers (optional)" />
              <button type="submit">Import</button>
            </form>
          </section>
        </div>
      ) : (
        <p class="muted" data-viewer-note>
          Only the account's owners can add or remove numbers.
        </p>
      )}
      <div class="table-wrap">
        <table id="dnc-list">
          <caption>Numbers on this account's list, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Number</th>
              <th scope="col">Added by</th>
              <th scope="col">Note</th>
              <th scope="col">Added</th>
              {owner ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {p.numbers.map((n) => (
              <tr data-number={n.number}>
                <th scope="row" class="number">
                  {n.number}
                </th>
                <td>
                  {SOURCE_LABEL[n.source] ?? n.source}
                  {n.callId ? (
                    <>
                      {' '}
                      (<a href={`/calls/${n.callId}`}>call</a>)
                    </>
                  ) : null}
                </td>
                <td>{n.note ?? ''}</td>
                <td>{formatDateTime(n.createdAt)}</td>
                {owner ? (
                  <td class="actions">
                    <form method="post" action="/do-not-call/remove" class="inline">
                      <CsrfField token={p.csrfToken} />
                      <input type="hidden" name="number" value={n.number} />
                      <button type="submit" class="button-danger" aria-label={`Remove ${n.number}`}>
                        Remove
                      </button>
                    </form>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {p.numbers.length === 0 ? (
        <p id="dnc-empty">No numbers on the list{p.paged ? ' past this point' : ''}.</p>
      ) : null}
      <nav aria-label="Pages of the list" class="pager">
        {p.paged ? <a href="/do-not-call">Newest</a> : null}{' '}
        {p.nextCursor ? (
          <a href={`/do-not-call?cursor=${encodeURIComponent(p.nextCursor)}`} rel="next">
            Older numbers
          </a>
        ) : null}
      </nav>
    </Layout>
  );
}

/**
 * /do-not-call: every signed-in user reads the account's do-not-call list; its owners add numbers
 * (typed or a CSV import) and remove them. The same service as the API (src/dnc/).
 */
export function registerDoNotCall(ui: Hono<DashboardEnv>, deps: DashboardDeps): void {
  const service = new DoNotCallService(deps.db, deps.doNotCallList ?? null);
  const owner = requireUser({ role: 'owner' });
  const userOf = (c: Ctx) => c.get('user') as DashboardUser;
  const back = (c: Ctx, flash: FlashMessage) => {
    setFlash(c, flash);
    return c.redirect('/do-not-call', 303);
  };

  ui.get('/do-not-call', requireUser(), async (c) => {
    const user = userOf(c);
    const cursor = c.req.query('cursor') || undefined;
    let page: { numbers: DncEntryView[]; nextCursor: string | null };
    let flash = takeFlash(c);
    try {
      page = await service.list(user.accountId, { limit: DNC_LIST_DEFAULT, cursor });
    } catch (err) {
      if (!(err instanceof DncError)) throw err;
      flash = { kind: 'error', message: 'This page link is no longer valid; showing the newest numbers.' };
      page = await service.list(user.accountId, { limit: DNC_LIST_DEFAULT });
    }
    const size = deps.doNotCallList && 'size' in deps.doNotCallList ? deps.doNotCallList.size : null;
    return c.html(
      <DoNotCallPage
        user={user}
        csrfToken={c.get('csrfToken')}
        numbers={page.numbers}
        nextCursor={page.nextCursor}
        paged={Boolean(cursor)}
        flash={flash}
        deploymentListSize={typeof size === 'number' && size > 0 ? size : null}
      />,
    );
  });

  ui.post('/do-not-call', owner, async (c) => {
    const user = userOf(c);
    const body = await c.req.parseBody();
    const numbers = numbersOfText(formString(body, 'numbers'));
    const note = formString(body, 'note').trim() || null;
    if (numbers.length === 0) return back(c, { kind: 'error', message: 'Give at least one number.' });
    if (numbers.length > DNC_ADD_MAX) {
      return back(c, {
        kind: 'error',
        message: `At most ${DNC_ADD_MAX} numbers at once; import a CSV for more.`,
      });
    }
    const result = await service.add(user.accountId, numbers, 'dashboard', { note });
    c.get('log')?.info({ by: user.id, added: result.added }, 'do-not-call numbers added from the dashboard');
    return back(c, describeAdd(result));
  });

  ui.post('/do-not-call/import', owner, async (c) => {
    const user = userOf(c);
    const body = await c.req.parseBody();
    const file = body.file;
    if (!(file instanceof File) || file.size === 0) {
      return back(c, { kind: 'error', message: 'Choose a CSV file to import.' });
    }
    if (file.size > DNC_IMPORT_MAX_BYTES) {
      return back(c, { kind: 'error', message: 'The file is over 2 MB; split it into smaller files.' });
    }
    const note = formString(body, 'note').trim() || null;
    const result = await service.importCsv(user.accountId, await file.text(), 'import', { note });
    c.get('log')?.info({ by: user.id, added: result.added }, 'do-not-call CSV imported from the dashboard');
    return back(c, describeAdd(result));
  });

  ui.post('/do-not-call/remove', owner, async (c) => {
    const user = userOf(c);
    const number = formString(await c.req.parseBody(), 'number').trim();
    try {
      await service.remove(user.accountId, number);
    } catch (err) {
      if (!(err instanceof DncError)) throw err;
      return back(c, { kind: 'error', message: err.message });
    }
    c.get('log')?.info({ by: user.id }, 'do-not-call number removed from the dashboard');
    return back(c, { kind: 'success', message: `Removed ${number} from the list.` });
  });
}
