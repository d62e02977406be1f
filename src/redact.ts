/**
 * Credentials in URLs (postgres://user:password@host, https://token@host, ?password=…) must never be
 * printed: not in a config error, not in a log line, not in a readiness report. These helpers blank
 * them in any text, for URLs that parse and for the broken ones a config error is about.
 */

const MASK = '***';

/** Query parameters that carry secrets in connection strings (libpq's `password`, `sslpassword`) and APIs. */
const SECRET_PARAM = /^(password|passwd|pwd|pass|sslpassword|secret|token|access_token|api_key|apikey|key)$/i;

/** A URL-looking token: a scheme, `://`, then anything up to white space or a quote. */
const URL_TOKEN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]*/gi;

/** Blanks the password (and a token-only user part) and secret query values of one URL. */
export function redactUrl(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url;
  let out = url;
  const rest = url.slice(scheme + 3);
  const firstAt = rest.indexOf('@');
  const colon = rest.indexOf(':');
  if (firstAt >= 0 && colon >= 0 && colon < firstAt) {
    // user:password@host. Everything up to the LAST @ goes: an unescaped @, / or # inside a password
    // (the usual reason a connection string is invalid) must not leave its tail in the output.
    out = `${url.slice(0, scheme + 3)}${rest.slice(0, colon)}:${MASK}${rest.slice(rest.lastIndexOf('@'))}`;
  }
  if (!URL.canParse(out)) return out.replace(SECRET_QUERY_VALUE, maskParam);
  const u = new URL(out);
  let changed = false;
  if (!u.password && u.username && /^(https?|wss?):$/.test(u.protocol)) {
    // On the web a user part alone is usually a token (https://<token>@host); a database user name is not.
    u.username = MASK;
    changed = true;
  }
  for (const name of [...u.searchParams.keys()]) {
    if (SECRET_PARAM.test(name)) {
      u.searchParams.set(name, MASK);
      changed = true;
    }
  }
  // Only a URL that had more to hide is re-serialised, so the others print exactly as given.
  return changed ? u.toString() : out;
}

const SECRET_QUERY_VALUE = /([?&;])([^=&;#\s]*)=([^&;#\s]*)/g;
const maskParam = (m: string, sep: string, name: string, value: string) =>
  SECRET_PARAM.test(name) && value ? `${sep}${name}=${MASK}` : m;

/** Blanks credentials in every URL inside free text (error messages, log messages). */
export function redactUrls(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_TOKEN, (u) => redactUrl(u));
}
