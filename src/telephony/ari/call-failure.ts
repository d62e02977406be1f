import { loggableError } from '../../loggable-error.js';
import { AriError } from './client.js';
import { ChannelGoneBeforeStasis, StasisEntryTimeout } from './stasis-readiness.js';

/** Longest reason stored in a call's events. */
const MAX_REASON_CHARS = 500;

export interface CallFailure {
  /**
   * Why the call failed, for its events: a token, a colon, then the details, e.g.
   * `ari_request_failed: POST /bridges/…/addChannel → 422 Channel not in Stasis application`.
   */
  reason: string;
  /**
   * Whether the failure was logged where it happened: the ARI client logs every failed request once
   * (method, path, status, Asterisk's message, the call's id), so the controller does not repeat it.
   */
  logged: boolean;
  /** How the controller logs it when it was not logged yet: PBX trouble is a warning, our own bug an error. */
  level: 'warn' | 'error';
}

/** What an error that ended a call says about why, for the call's events and the log. */
export function describeCallFailure(err: unknown): CallFailure {
  if (err instanceof AriError) {
    const answer =
      err.status > 0 ? `${err.status} ${err.ariMessage}` : `no answer (${err.delivery}: ${err.ariMessage})`;
    return {
      reason: clip(`ari_request_failed: ${err.method} ${err.path} → ${answer}`),
      logged: true,
      level: 'warn',
    };
  }
  if (err instanceof StasisEntryTimeout) {
    return { reason: clip(`stasis_timeout: ${err.message}`), logged: false, level: 'warn' };
  }
  if (err instanceof ChannelGoneBeforeStasis) {
    return { reason: clip(`channel_gone: ${err.message}`), logged: false, level: 'warn' };
  }
  // Anything else is our own bug: its type and message (without query parameters, which may hold
  // the caller's data) say where to look.
  const safe = loggableError(err);
  return { reason: clip(`internal_error: ${safe.name}: ${safe.message}`), logged: false, level: 'error' };
}

function clip(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}…` : text;
}

/**
 * Log fields for an error a line reports the consequence of. The ARI client logged a failed request
 * already (method, path, status, Asterisk's message, call id): the line names the request only, so
 * the failure is logged once. Any other error goes in whole.
 */
export function errorFields(err: unknown): Record<string, unknown> {
  return err instanceof AriError ? { failedRequest: `${err.method} ${err.path}` } : { err };
}
