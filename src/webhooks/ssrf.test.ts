import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSsrfGuard, WebhookTargetError } from './ssrf.js';

const strict = createSsrfGuard({ allowHttp: false, allowPrivate: false });
const open = createSsrfGuard({ allowHttp: true, allowPrivate: true });

describe('ssrf guard: addresses', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.10.10', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a00:1', 'private'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['2002:c0a8:0101::1', 'private'],
    // IPv4-compatible (deprecated, still routed to the IPv4 host by some stacks), in both spellings.
    ['::127.0.0.1', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['[::127.0.0.1]', 'loopback'],
    ['::169.254.169.254', 'metadata'],
    ['::a00:1', 'private'],
    ['0:0:0:0:0:0:c0a8:101', 'private'],
    // IPv4-mapped in hex, IPv4-translated, local-use NAT64, Teredo (client address inverted).
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
    ['::ffff:0:7f00:1', 'loopback'],
    ['::ffff:0:10.0.0.1', 'private'],
    ['64:ff9b:1::a9fe:a9fe', 'metadata'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback'],
    ['192.0.2.10', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['fec0::1', 'private'],
  ])('refuses %s as %s', (addr, category) => {
    expect(strict.addressProblem(addr)).toContain(`is ${category}`);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '::808:808'])(
    'allows public %s',
    (addr) => {
      expect(strict.addressProblem(addr)).toBeNull();
    },
  );

  it('allowPrivate opens private ranges but never metadata, multicast or unspecified', () => {
    for (const a of ['127.0.0.1', '::1', '10.0.0.1', '192.168.0.5', 'fe80::1', '100.64.1.1'])
      expect(open.addressProblem(a)).toBeNull();
    for (const a of ['169.254.169.254', '0.0.0.0', '224.0.0.1', '::ffff:169.254.169.254'])
      expect(open.addressProblem(a)).not.toBeNull();
  });
});

describe('ssrf guard: URLs', () => {
  it('refuses http unless allowed, and non-http schemes always', () => {
    expect(() => strict.checkUrl('http://example.com/hook')).toThrow(/WEBHOOK_ALLOW_HTTP/);
    expect(() => open.checkUrl('ftp://example.com/hook')).toThrow(WebhookTargetError);
    expect(() => open.checkUrl('not a url')).toThrow(/does not parse/);
    expect(strict.checkUrl('https://example.com/hook').hostname).toBe('example.com');
    expect(open.checkUrl('http://example.com/hook').protocol).toBe('http:');
  });

  it('judges IP literals in the URL, which never go through lookup', () => {
    expect(() => strict.checkUrl('https://127.0.0.1/x')).toThrow(/loopback/);
    expect(() => strict.checkUrl('https://[::1]:8443/x')).toThrow(/loopback/);
    expect(() => strict.checkUrl('https://[::ffff:169.254.169.254]/x')).toThrow(/metadata/);
    expect(() => strict.checkUrl('https://0x7f000001/x')).toThrow(/loopback/);
    expect(() => strict.checkUrl('https://[::127.0.0.1]/x')).toThrow(/loopback/);
    expect(() => strict.checkUrl('https://[::ffff:7f00:1]:8443/x')).toThrow(/loopback/);
    expect(() => strict.checkUrl('https://[::a9fe:a9fe]/x')).toThrow(/metadata/);
    // Refused even where private targets are allowed.
    expect(() => open.checkUrl('http://[::169.254.169.254]/x')).toThrow(/metadata/);
  });

  it('judges names that mean this machine, with or without the trailing dot, before any lookup', () => {
    for (const url of [
      'https://localhost/x',
      'https://localhost./x',
      'https://LOCALHOST.:8443/x',
      'https://api.localhost./x',
      'https://hooks.localhost/x',
    ])
      expect(() => strict.checkUrl(url), url).toThrow(/is loopback/);
    expect(() => strict.checkUrl('https://printer.local./x')).toThrow(/is private/);
    expect(() => strict.checkUrl('https://db.internal/x')).toThrow(/is private/);
    expect(strict.checkUrl('https://localhost.example.com/x').hostname).toBe('localhost.example.com');
    expect(open.checkUrl('http://localhost./x').hostname).toBe('localhost.');
    expect(strict.hostProblem('example.com')).toBeNull();
    expect(strict.hostProblem('[::127.0.0.1]')).toMatch(/is loopback/);
  });
});

describe('ssrf guard: lookup', () => {
  const lookupWith = (answers: { address: string; family: number }[], allowPrivate = false) =>
    createSsrfGuard({ allowHttp: true, allowPrivate, resolve: async () => answers }).lookup;
  const run = (lookup: ReturnType<typeof lookupWith>, all: boolean) =>
    new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) =>
      lookup('hook.example', { all }, (err, address, family) => resolve({ err, address, family })),
    );

  it('refuses a host resolving to metadata or private addresses', async () => {
    const meta = await run(lookupWith([{ address: '169.254.169.254', family: 4 }]), false);
    expect(meta.err).toBeInstanceOf(WebhookTargetError);
    expect(meta.err?.message).toMatch(/hook\.example: address 169\.254\.169\.254 is metadata/);
    const mixed = await run(
      lookupWith([
        { address: '93.184.216.34', family: 4 },
        { address: '10.0.0.7', family: 4 },
      ]),
      true,
    );
    expect(mixed.err?.message).toMatch(/10\.0\.0\.7 is private/);
  });

  it('hands back exactly the checked addresses, in both callback shapes', async () => {
    const answers = [
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ];
    expect(await run(lookupWith(answers), true)).toEqual({ err: null, address: answers, family: undefined });
    expect(await run(lookupWith(answers), false)).toEqual({ err: null, address: '93.184.216.34', family: 4 });
  });

  describe('with node:http', () => {
    let server: http.Server;
    let port: number;
    beforeAll(async () => {
      server = http.createServer((_req, res) => res.end('ok'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    const get = (lookup: ReturnType<typeof lookupWith>) =>
      new Promise<string>((resolve) => {
        const req = http.get({ host: 'hook.example', port, path: '/', lookup, agent: false }, (res) => {
          res.resume();
          resolve(String(res.statusCode));
        });
        req.on('error', (err) => resolve(err.message));
      });

    it('connects to the address it checked, and refuses before connecting otherwise', async () => {
      // The name does not exist in DNS: reaching the server proves the checked answer was used.
      expect(await get(lookupWith([{ address: '127.0.0.1', family: 4 }], true))).toBe('200');
      expect(await get(lookupWith([{ address: '127.0.0.1', family: 4 }], false))).toMatch(/is loopback/);
    });
  });
});
