import dns from 'node:dns';
import net from 'node:net';

/** Resolves a host name to every address it has (dns.lookup with `all: true` by default). */
export type ResolveAll = (hostname: string) => Promise<dns.LookupAddress[]>;

export interface SsrfGuardOptions {
  /** Allow plain `http:` targets (WEBHOOK_ALLOW_HTTP). */
  allowHttp: boolean;
  /** Allow loopback, private, CGNAT and link-local targets (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean;
  resolve?: ResolveAll;
}

export type WebhookTargetProblem = 'invalid_url' | 'scheme_not_allowed' | 'address_not_allowed';

/** A webhook URL or the address it resolves to is not an allowed destination. */
export class WebhookTargetError extends Error {
  constructor(
    readonly problem: WebhookTargetProblem,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookTargetError';
  }
}

export interface SsrfGuard {
  /** Parses the URL and refuses a scheme or IP literal the policy does not allow. */
  checkUrl(url: string): URL;
  /** Why this address may not be reached, or null when it may. */
  addressProblem(address: string): string | null;
  /**
   * Why the host of a URL (an IP literal, bracketed or not, or a name) may not be reached, judged
   * without DNS; null when it may (a name is then judged again, on its addresses, at connect time).
   */
  hostProblem(hostname: string): string | null;
  /**
   * A `lookup` for node:http(s) requests: it resolves, refuses the connection when any resolved address
   * is not allowed, and hands the socket exactly the addresses it checked, so a DNS answer that changes
   * between check and connect (rebinding) cannot redirect the request.
   */
  lookup: net.LookupFunction;
}

type Category = 'unspecified' | 'multicast' | 'reserved' | 'metadata' | 'loopback' | 'private' | 'link-local';

/** Categories that are never a sensible webhook target, whatever the deployment allows. */
const ALWAYS_BLOCKED: ReadonlySet<Category> = new Set(['unspecified', 'multicast', 'reserved', 'metadata']);

const RANGES: [Category, string, number, 'ipv4' | 'ipv6'][] = [
  // Cloud metadata endpoints come first so they are named as such, not as link-local/private.
  ['metadata', '169.254.169.254', 32, 'ipv4'],
  ['metadata', '100.100.100.200', 32, 'ipv4'],
  ['metadata', 'fd00:ec2::254', 128, 'ipv6'],
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['unspecified', '::', 128, 'ipv6'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['loopback', '::1', 128, 'ipv6'],
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['multicast', 'ff00::', 8, 'ipv6'],
  ['reserved', '240.0.0.0', 4, 'ipv4'],
  // IETF protocol assignments, documentation and the retired 6to4 relay anycast: never a real receiver.
  ['reserved', '192.0.0.0', 24, 'ipv4'],
  ['reserved', '192.0.2.0', 24, 'ipv4'],
  ['reserved', '192.88.99.0', 24, 'ipv4'],
  ['reserved', '198.51.100.0', 24, 'ipv4'],
  ['reserved', '203.0.113.0', 24, 'ipv4'],
  ['reserved', '100::', 64, 'ipv6'],
  ['reserved', '2001:db8::', 32, 'ipv6'],
  ['link-local', '169.254.0.0', 16, 'ipv4'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['private', '100.64.0.0', 10, 'ipv4'],
  ['private', '198.18.0.0', 15, 'ipv4'],
  ['private', 'fc00::', 7, 'ipv6'],
  // Deprecated site-local addresses still route inside some networks.
  ['private', 'fec0::', 10, 'ipv6'],
];

/** 16 bytes of an IPv6 address (no zone), or null when it does not parse. */
function ipv6Bytes(addr: string): number[] | null {
  let s = addr;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const v4 = s.slice(lastColon + 1);
    if (net.isIPv4(v4) === false) return null;
    tail = v4.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (h: string) => (h === '' ? [] : h.split(':').map((g) => Number.parseInt(g, 16)));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const zeros = 8 - head.length - rest.length;
  if (halves.length === 2 ? zeros < 0 : zeros !== 0) return null;
  const groups = [...head, ...new Array(zeros).fill(0), ...rest];
  if (groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/**
 * The IPv4 address an IPv6 address carries to an IPv4 host: IPv4-compatible (::a.b.c.d, which some stacks
 * still route to the IPv4 host), IPv4-mapped (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d),
 * NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48), 6to4 (2002:AABB:CCDD::) and Teredo (2001:0::/32,
 * whose client address is stored inverted). Such an address reaches the IPv4 host, so it must be judged
 * as that host, whichever of its spellings (hex groups or dotted tail) the URL used.
 */
function embeddedIpv4(bytes: number[]): string | null {
  const zero = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  const tail = () => bytes.slice(12).join('.');
  if (zero(0, 12)) {
    // :: and ::1 are IPv6's own unspecified and loopback addresses, classified as such.
    return zero(12, 15) && bytes[15] <= 1 ? null : tail();
  }
  if (zero(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return tail();
  if (zero(0, 8) && bytes[8] === 0xff && bytes[9] === 0xff && zero(10, 12)) return tail();
  if (bytes[0] === 0 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) {
    if (zero(4, 12)) return tail();
    if (bytes[4] === 0 && bytes[5] === 1) return tail();
  }
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.slice(2, 6).join('.');
  if (bytes[0] === 0x20 && bytes[1] === 0x01 && zero(2, 4))
    return bytes
      .slice(12)
      .map((b) => b ^ 0xff)
      .join('.');
  return null;
}

/**
 * Host names that always mean this machine or its private network, whatever DNS says: `localhost` and
 * `*.localhost` (RFC 6761), mDNS `.local`, and `.internal` (reserved for private use). A trailing dot
 * (the fully qualified spelling, `localhost.`) names the same host and is judged the same.
 */
function internalName(hostname: string): Category | null {
  const h = hostname.toLowerCase().replace(/\.+$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return 'loopback';
  if (h.endsWith('.local') || h.endsWith('.internal') || h === 'local' || h === 'internal') return 'private';
  return null;
}

const hint = (c: Category) =>
  ALWAYS_BLOCKED.has(c) ? '' : '; set WEBHOOK_ALLOW_PRIVATE=true to allow private-network targets';

export function createSsrfGuard(opts: SsrfGuardOptions): SsrfGuard {
  const lists = new Map<Category, net.BlockList>();
  for (const [category, prefix, bits, family] of RANGES) {
    let list = lists.get(category);
    if (!list) {
      list = new net.BlockList();
      lists.set(category, list);
    }
    list.addSubnet(prefix, bits, family);
  }
  const resolve: ResolveAll =
    opts.resolve ?? ((hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true }));

  function categoryOf(address: string): Category | null {
    const bare = address.replace(/^\[|\]$/g, '').split('%')[0];
    const family = net.isIP(bare);
    if (family === 0) return 'reserved';
    let ip = bare;
    let type: 'ipv4' | 'ipv6' = family === 4 ? 'ipv4' : 'ipv6';
    if (family === 6) {
      const bytes = ipv6Bytes(bare);
      if (!bytes) return 'reserved';
      const v4 = embeddedIpv4(bytes);
      if (v4) {
        ip = v4;
        type = 'ipv4';
      }
    }
    for (const [category, list] of lists) if (list.check(ip, type)) return category;
    return null;
  }

  function addressProblem(address: string): string | null {
    const c = categoryOf(address);
    if (!c) return null;
    if (opts.allowPrivate && !ALWAYS_BLOCKED.has(c)) return null;
    return `address ${address} is ${c}${hint(c)}`;
  }

  function hostProblem(hostname: string): string | null {
    const host = hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host.split('%')[0])) return addressProblem(host);
    const c = internalName(host);
    if (!c || (opts.allowPrivate && !ALWAYS_BLOCKED.has(c))) return null;
    return `host ${hostname} is ${c}${hint(c)}`;
  }

  function checkUrl(url: string): URL {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new WebhookTargetError('invalid_url', 'webhook URL does not parse');
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      throw new WebhookTargetError('scheme_not_allowed', `webhook URL scheme ${u.protocol} is not http(s)`);
    if (u.protocol === 'http:' && !opts.allowHttp)
      throw new WebhookTargetError(
        'scheme_not_allowed',
        'plain http webhook URLs are refused; use https or set WEBHOOK_ALLOW_HTTP=true',
      );
    // Node connects to an IP literal without calling `lookup`, so literals are judged here; so are the
    // names that mean this machine, before any resolver is asked about them.
    const problem = hostProblem(u.hostname);
    if (problem) throw new WebhookTargetError('address_not_allowed', problem);
    return u;
  }

  const lookup: net.LookupFunction = (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const addrs = wanted ? found.filter((a) => a.family === wanted) : found;
        if (addrs.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`${hostname} has no usable address`);
          err.code = 'ENOTFOUND';
          callback(err, '');
          return;
        }
        // Refuse the host if any answer is not allowed: a host name that mixes public and private
        // answers is exactly the shape of a rebinding attempt.
        for (const a of addrs) {
          const problem = addressProblem(a.address);
          if (problem) {
            callback(new WebhookTargetError('address_not_allowed', `${hostname}: ${problem}`), '');
            return;
          }
        }
        if (options.all) callback(null, addrs);
        else callback(null, addrs[0].address, addrs[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  return { checkUrl, addressProblem, hostProblem, lookup };
}

const policyGuards = new Map<boolean, SsrfGuard>();

/**
 * Why a webhook URL's host is refused at POST time (an IP literal in a range the deployment does not
 * allow, or a name such as `localhost.` that always means this machine); null when it is accepted. The
 * same rules as at send time, where names are judged again on the addresses they resolve to.
 */
export function webhookHostProblem(hostname: string, allowPrivate: boolean): string | null {
  let guard = policyGuards.get(allowPrivate);
  if (!guard) {
    guard = createSsrfGuard({ allowHttp: true, allowPrivate });
    policyGuards.set(allowPrivate, guard);
  }
  return guard.hostProblem(hostname);
}
