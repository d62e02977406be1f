import { CSRF_FIELD } from '../auth/csrf.js';

/** The hidden field every dashboard form carries; the session middleware checks it centrally. */
export function CsrfField(props: { token: string }) {
  return <input type="hidden" name={CSRF_FIELD} value={props.token} />;
}
