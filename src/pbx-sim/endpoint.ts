import { AriError } from './errors.js';

export interface DialTarget {
  tech: 'PJSIP' | 'Local';
  /** The number dialled, as the callee scenarios are keyed. */
  number: string;
  /** The trunk (PJSIP) or dialplan context (Local). */
  resource: string;
}

/**
 * Reads an originate endpoint the way the simulated PBX's configuration routes it:
 * `PJSIP/<number>@<trunk>`, `PJSIP/<trunk>/sip:<number>@<host>` or `Local/<number>@<context>`.
 */
export function parseEndpoint(endpoint: string): DialTarget {
  const slash = endpoint.indexOf('/');
  const tech = slash > 0 ? endpoint.slice(0, slash) : '';
  const rest = slash > 0 ? endpoint.slice(slash + 1) : '';
  if (tech !== 'PJSIP' && tech !== 'Local') {
    throw new AriError(
      400,
      `Invalid parameters for originating a channel: endpoint technology "${tech}" is not available`,
    );
  }
  let m = /^([^@/]+)@([^/]+)$/.exec(rest);
  if (m) return { tech, number: m[1], resource: m[2] };
  if (tech === 'PJSIP') {
    m = /^([^/]+)\/sips?:([^@]+)@.+$/.exec(rest);
    if (m) return { tech, number: m[2], resource: m[1] };
  }
  throw new AriError(
    400,
    `Invalid parameters for originating a channel: cannot route endpoint "${endpoint}"`,
  );
}
