import type { Context, Hono } from 'hono';
import { checkNumberFormat } from '../../calls/guardrails.js';
import { requireUser } from '../auth/require-user.js';
import { CsrfField } from '../components/csrf-field.js';
import { Field } from '../components/field.js';
import { type FlashMessage, setFlash, takeFlash } from '../components/flash.js';
import { buildSnippets, KEY_ENV } from '../developers/snippets.js';
import { Layout } from '../layout.js';
import type { DashboardDeps, DashboardEnv, DashboardUser } from '../types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What one response of the page shows beyond the lists: each secret appears only in the answer to its POST. */
interface PageState {
  flash?: FlashMessage | null;
  mintedKey?: { key: string; prefix: string } | null;
  /** The webhook secret, after Reveal or Rotate. */
  secret?: { value: string; rotated: boolean } | null;
  /** Rotate was pressed once: ask before the old secret stops working. */
  confirmRotate?: boolean;
  numberForm?: { value: string; makeDefault: boolean; error: string | null };
}

type Ctx = Context<DashboardEnv>;

function when(d: Date | null) {
  if (!d) return 'never';
  return <time datetime={d.toISOString()}>{`${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`}</time>;
}

/** The base URL snippets name: the deployment's public one, else the origin this page was reached on. */
function baseUrlOf(c: Ctx, deps: DashboardDeps): string {
  return deps.config.PUBLIC_BASE_URL ? deps.config.publicBaseUrl : new URL(c.req.url).origin;
}

/**
 * Where developers.js puts a Copy button for the element `target`: without script there is no
 * button at all (nothing could copy), and the text stays selectable by hand.
 */
function CopyButton(props: { target: string; label: string }) {
  return <span class="copy-slot" data-copy-target={props.target} data-copy-label={props.label} />;
}

async function renderPage(
  c: Ctx,
  deps: DashboardDeps,
  state: PageState,
  status: 200 | 201 | 404 | 422 = 200,
) {
  const user = c.get('user') as DashboardUser;
  const csrf = c.get('csrfToken');
  const [keys, numbers] = await Promise.all([
    deps.accounts.listApiKeys(user.accountId),
    deps.accounts.listNumbers(user.accountId),
  ]);
  keys.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  numbers.sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.number.localeCompare(b.number));
  const snippets = buildSnippets(baseUrlOf(c, deps));
  const numberForm = state.numberForm ?? { value: '', makeDefault: false, error: null };
  // Secrets must not linger in caches or the back/forward history.
  c.header('Cache-Control', 'no-store');
  return c.html(
    <Layout
      title="Developers"
      user={user}
      csrfToken={csrf}
      active="developers"
      flash={state.flash ?? null}
      scripts={['developers.js']}
    >
      <h1>Developers</h1>
      <p class="copy-status" role="status" aria-live="polite" data-copy-status />

      <section aria-labelledby="keys-title">
        <h2 id="keys-title">Agent keys</h2>
        <p>
          Clients send a key as <code>Authorization: Bearer ak_...</code>. Only its hash is stored: a key is
          shown once, when it is minted.
        </p>
        {state.mintedKey ? (
          <div class="panel panel-highlight" role="status">
            <p>
              <strong>Your new key, shown only this once.</strong> Store it now; revoke it below if it leaks.
            </p>
            <p>
              <code id="new-key" class="secret" data-new-key>
                {state.mintedKey.key}
              </code>{' '}
              <CopyButton target="new-key" label="Copy key" />
            </p>
          </div>
        ) : null}
        <form method="post" action="/developers/keys">
          <CsrfField token={csrf} />
          <button type="submit" class="button">
            Mint a new key
          </button>
        </form>
        {keys.length === 0 ? (
          <p>This account has no keys yet.</p>
        ) : (
          <div class="table-wrap">
            <table class="keys">
              <caption class="visually-hidden">Agent keys of this account</caption>
              <thead>
                <tr>
                  <th scope="col">Prefix</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">State</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {keys.map((k) => (
                  <tr data-key-prefix={k.prefix}>
                    <td>
                      <code>{k.prefix}</code>
                    </td>
                    <td>{when(k.createdAt)}</td>
                    <td>{when(k.lastUsedAt)}</td>
                    <td>{k.revokedAt ? <>revoked {when(k.revokedAt)}</> : 'live'}</td>
                    <td>
                      {k.revokedAt ? null : (
                        <form method="post" action="/developers/keys/revoke" class="inline">
                          <CsrfField token={csrf} />
                          <input type="hidden" name="keyId" value={k.keyId} />
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

      <section aria-labelledby="numbers-title">
        <h2 id="numbers-title">Phone numbers</h2>
        <p>
          Caller IDs calls may present. A call without <code>callerId</code> uses the default. Register only
          numbers your SIP trunk may present.
        </p>
        {numbers.length === 0 ? (
          <p>This account has no numbers: calls need one (add it below).</p>
        ) : (
          <div class="table-wrap">
            <table class="numbers">
              <caption class="visually-hidden">Caller-ID numbers of this account</caption>
              <thead>
                <tr>
                  <th scope="col">Number</th>
                  <th scope="col">Default</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {numbers.map((n) => (
                  <tr data-number={n.number}>
                    <td>{n.number}</td>
                    <td>{n.isDefault ? 'default caller ID' : ''}</td>
                    <td class="actions">
                      {n.isDefault ? null : (
                        <form method="post" action="/developers/numbers/default" class="inline">
                          <CsrfField token={csrf} />
                          <input type="hidden" name="number" value={n.number} />
                          <button
                            type="submit"
                            class="button-secondary"
                            aria-label={`Make default: ${n.number}`}
                          >
                            Make default
                          </button>
                        </form>
                      )}
                      <form method="post" action="/developers/numbers/remove" class="inline">
                        <CsrfField token={csrf} />
                        <input type="hidden" name="number" value={n.number} />
                        <button type="submit" class="button-danger" aria-label={`Remove ${n.number}`}>
                          Remove
                        </button>
                      </form>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <form method="post" action="/developers/numbers" class="stack" novalidate>
          <CsrfField token={csrf} />
          <Field
            name="number"
            id="add-number"
            label="Add a number"
            type="tel"
            autocomplete="off"
            value={numberForm.value}
            hint="E.164: + and 8 to 15 digits, such as +14155552671."
            error={numberForm.error}
            attrs={numberForm.error ? { autofocus: true } : undefined}
          />
          <p>
            <button type="submit" class="button">
              Add number
            </button>{' '}
            <button type="submit" class="button-secondary" name="default" value="yes">
              Add as the default caller ID
            </button>
          </p>
        </form>
      </section>

      <section aria-labelledby="webhook-title">
        <h2 id="webhook-title">Webhook signing secret</h2>
        <p>
          Webhooks carry <code>X-BYS-Signature: t=...,v1=...</code>, an HMAC-SHA256 of <code>t.body</code>{' '}
          with this secret; receivers check it with <code>verifyWebhook</code> / <code>verify_webhook</code>{' '}
          of the SDKs.
        </p>
        {state.secret ? (
          <div class="panel" role="status">
            <p>
              {state.secret.rotated
                ? 'The new secret. Webhooks are signed with it from now on: update your receivers.'
                : 'The current secret:'}
            </p>
            <p>
              <code id="webhook-secret" class="secret" data-webhook-secret>
                {state.secret.value}
              </code>{' '}
              <CopyButton target="webhook-secret" label="Copy secret" />
            </p>
          </div>
        ) : (
          <p>
            <code>whsec_••••••••</code> (hidden: Reveal shows it, and the reveal is logged)
          </p>
        )}
        {state.confirmRotate ? (
          <div class="panel panel-highlight" role="alert">
            <p>
              Rotate the secret? The current one stops matching at once: webhooks signed from now on use the
              new one, and receivers that still check the old one refuse them.
            </p>
            <form method="post" action="/developers/webhook-secret/rotate" class="inline">
              <CsrfField token={csrf} />
              <input type="hidden" name="confirm" value="yes" />
              <button type="submit" class="button-danger" autofocus>
                Yes, rotate it
              </button>
            </form>{' '}
            <a href="/developers#webhook-title">Cancel</a>
          </div>
        ) : null}
        <div class="actions">
          {state.secret && !state.secret.rotated ? null : (
            <form method="post" action="/developers/webhook-secret/reveal" class="inline">
              <CsrfField token={csrf} />
              <button type="submit" class="button-secondary">
                Reveal
              </button>
            </form>
          )}{' '}
          {state.confirmRotate ? null : (
            <form method="post" action="/developers/webhook-secret/rotate" class="inline">
              <CsrfField token={csrf} />
              <button type="submit" class="button-danger">
                Rotate
              </button>
            </form>
          )}
        </div>
      </section>

      <section aria-labelledby="snippets-title">
        <h2 id="snippets-title">Use it from code</h2>
        <p>
          For this deployment, <code>{baseUrlOf(c, deps)}</code>. Every example reads the key from{' '}
          <code>{KEY_ENV}</code> or a placeholder: none carries a secret.
        </p>
        {snippets.map((s) => (
          <div class="snippet" data-snippet={s.id}>
            <h3 id={`snippet-${s.id}-title`}>{s.title}</h3>
            <p class="field-hint">{s.note}</p>
            <pre>
              <code id={`snippet-${s.id}`}>{s.code}</code>
            </pre>
            <CopyButton target={`snippet-${s.id}`} label={`Copy ${s.title}`} />
          </div>
        ))}
      </section>
    </Layout>,
    status,
  );
}

function field(form: Record<string, string | File | (string | File)[]>, name: string): string {
  const v = form[name];
  return typeof v === 'string' ? v : '';
}

/** Why a number cannot be added, in the words the CLI uses; null when it can be. */
export function numberProblem(number: string): string | null {
  const bad = checkNumberFormat(number, 'callerId');
  return bad ? bad.message.replace(/^callerId /, 'The number ') : null;
}

function isUniqueViolation(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === '23505') return true;
  }
  return false;
}

/**
 * Keys, caller-ID numbers, the webhook secret and code snippets: the owner's tools (a viewer sees
 * calls only). Every secret is shown in the answer to the POST that made or revealed it and never in a
 * GET, so a reload or the history does not show it again.
 */
export function registerDevelopers(ui: Hono<DashboardEnv>, deps: DashboardDeps): void {
  const owner = requireUser({ role: 'owner' });
  const audit = (c: Ctx, action: string, extra: Record<string, unknown> = {}) => {
    const user = c.get('user') as DashboardUser;
    // The request's logger: the line carries its request id beside who did what.
    (c.get('log') ?? deps.logger).info(
      { audit: action, accountId: user.accountId, userId: user.id, ...extra },
      `dashboard: ${action}`,
    );
  };
  const back = (c: Ctx, flash: FlashMessage, anchor: string) => {
    setFlash(c, flash);
    return c.redirect(`/developers#${anchor}`, 303);
  };

  ui.get('/developers', owner, (c) => renderPage(c, deps, { flash: takeFlash(c) }));

  ui.post('/developers/keys', owner, async (c) => {
    const user = c.get('user') as DashboardUser;
    const minted = await deps.accounts.createApiKey(user.accountId);
    audit(c, 'api_key.minted', { keyPrefix: minted.prefix, keyId: minted.keyId });
    return renderPage(c, deps, { mintedKey: { key: minted.key, prefix: minted.prefix } }, 201);
  });

  ui.post('/developers/keys/revoke', owner, async (c) => {
    const user = c.get('user') as DashboardUser;
    const keyId = field(await c.req.parseBody(), 'keyId');
    const revoked = UUID.test(keyId) && (await deps.accounts.revokeApiKey(user.accountId, keyId));
    if (!revoked) {
      return back(c, { kind: 'error', message: 'No live key of this account has that id.' }, 'keys-title');
    }
    audit(c, 'api_key.revoked', { keyId });
    return back(
      c,
      { kind: 'success', message: 'The key is revoked: requests with it now answer 401.' },
      'keys-title',
    );
  });

  ui.post('/developers/numbers', owner, async (c) => {
    const user = c.get('user') as DashboardUser;
    const form = await c.req.parseBody();
    const number = field(form, 'number').trim();
    const wantsDefault = field(form, 'default') === 'yes';
    const refuse = (error: string) =>
      renderPage(c, deps, { numberForm: { value: number, makeDefault: wantsDefault, error } }, 422);
    const problem = numberProblem(number);
    if (problem) return refuse(problem);
    const existing = await deps.accounts.listNumbers(user.accountId);
    if (existing.some((n) => n.number === number))
      return refuse(`${number} is already a number of this account.`);
    // The account's first number becomes its default by itself, as with the CLI.
    const isDefault = wantsDefault || existing.length === 0;
    try {
      await deps.accounts.addNumber(user.accountId, number, isDefault);
    } catch (err) {
      if (isUniqueViolation(err))
        return refuse(`${number} is registered to another account on this deployment.`);
      throw err;
    }
    audit(c, 'number.added', { number, isDefault });
    return back(
      c,
      { kind: 'success', message: `Added ${number}${isDefault ? ' as the default caller ID' : ''}.` },
      'numbers-title',
    );
  });

  ui.post('/developers/numbers/default', owner, async (c) => {
    const user = c.get('user') as DashboardUser;
    const number = field(await c.req.parseBody(), 'number');
    if (!(await deps.accounts.setDefaultNumber(user.accountId, number))) {
      return back(
        c,
        { kind: 'error', message: 'That number is not a number of this account.' },
        'numbers-title',
      );
    }
    audit(c, 'number.default_set', { number });
    return back(c, { kind: 'success', message: `${number} is now the default caller ID.` }, 'numbers-title');
  });

  ui.post('/developers/numbers/remove', owner, async (c) => {
    const user = c.get('user') as DashboardUser;
    const number = field(await c.req.parseBody(), 'number');
    const { removed, newDefault } = await deps.accounts.removeNumber(user.accountId, number);
    if (!removed) {
      return back(
        c,
        { kind: 'error', message: 'That number is not a number of this account.' },
        'numbers-title',
      );
    }
    audit(c, 'number.removed', { number, newDefault });
    const then = newDefault ? ` ${newDefault} is now the default caller ID.` : '';
    return back(c, { kind: 'success', message: `Removed ${number}.${then}` }, 'numbers-title');
  });

  ui.post('/developers/webhook-secret/reveal', owner, async (c) => {
    const user = c.get('user') as DashboardUser;
    const secret = await deps.accounts.webhookSecret(user.accountId);
    if (secret === null)
      return renderPage(c, deps, { flash: { kind: 'error', message: 'No such account.' } }, 404);
    audit(c, 'webhook_secret.revealed');
    return renderPage(c, deps, { secret: { value: secret, rotated: false } });
  });

  ui.post('/developers/webhook-secret/rotate', owner, async (c) => {
    const user = c.get('user') as DashboardUser;
    if (field(await c.req.parseBody(), 'confirm') !== 'yes')
      return renderPage(c, deps, { confirmRotate: true });
    const secret = await deps.accounts.webhookSecret(user.accountId, true);
    if (secret === null)
      return renderPage(c, deps, { flash: { kind: 'error', message: 'No such account.' } }, 404);
    audit(c, 'webhook_secret.rotated');
    return renderPage(c, deps, {
      secret: { value: secret, rotated: true },
      flash: { kind: 'success', message: 'The webhook secret is rotated; the old one no longer matches.' },
    });
  });
}
