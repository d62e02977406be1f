import crypto from 'node:crypto';
import net from 'node:net';

export type MetricsAccess =
  | { ok: true }
  | { ok: false; status: 401 | 403; code: 'unauthorized' | 'forbidden'; message: string };

export interface MetricsRequest {
  /** The Authorization header, as sent. */
  authorization: string | undefined;
  /** The TCP peer's address (not a header a client can write). */
  remoteAddress: string | undefined;
  /** Whether the request names a proxy hop (X-Forwarded-For, Forwarded, X-Real-IP). */
  forwarded: boolean;
}

/**
 * Who may read /metrics. With METRICS_TOKEN set: only `Authorization: Bearer <token>`, compared in
 * constant time, from anywhere. Without it: only clients on loopback or a private network (RFC 1918,
 * IPv6 unique-local and link-local), by the socket's address; a request that came through a proxy
 * says nothing about its client then, so it is refused.
 */
export function checkMetricsAccess(req: MetricsRequest, token: string | undefined): MetricsAccess {
  if (token) {
    const m = /^Bearer\s+(.+)$/i.exec(req.authorization ?? '');
    if (m && sameSecret(m[1].trim(), token)) return { ok: true };
    return {
      ok: false,
      status: 401,
      code: 'unauthorized',
      message: 'The metrics need the METRICS_TOKEN as a bearer token.',
    };
  }
  if (!req.forwarded && req.remoteAddress && isPrivateAddress(req.remoteAddress)) return { ok: true };
  return {
    ok: false,
    status: 403,
    code: 'forbidden',
    message:
      'The metrics are served only to loopback and private-network clients (not through a proxy) while METRICS_TOKEN is unset.',
  };
}

/** Equal-length digests, so the comparison takes the same time whatever the lengths and contents. */
function sameSecret(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

const PRIVATE = new net.BlockList();
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('169.254.0.0', 16, 'ipv4');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');
PRIVATE.addSubnet('fe80::', 10, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1], 'ipv4');
  const family = net.isIP(address);
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  if (family === 6) return PRIVATE.check(address, 'ipv6');
  return false;
}
