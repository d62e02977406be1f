import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { silentLogger } from '../../logger.js';
import { type AriClient, AriError, createAriClient } from './client.js';
import type { AriEvent } from './types.js';

const AUTH = `Basic ${Buffer.from('ari:s3cret').toString('base64')}`;

/** A stand-in for Asterisk's HTTP server: a few REST answers and the events WebSocket, behind Basic auth. */
async function startFakeAsterisk() {
  const sockets: WebSocket[] = [];
  const upgrades: { url: string; authorization?: string }[] = [];
  let liveChannels: string[] = [];
  let refuseUpgrades = false;
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== AUTH) {
      res
        .writeHead(401, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ message: 'Authentication required' }));
      return;
    }
    if (req.url === '/ari/channels' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(liveChannels.map((id) => ({ id, name: `PJSIP/trunk-${id}`, state: 'Up' }))));
      return;
    }
    if (req.url?.startsWith('/ari/channels/nope')) {
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ message: 'Channel not found' }));
      return;
    }
    res.writeHead(500).end('boom');
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    // A client that gives up on a refused upgrade resets the connection: expected, not an error.
    socket.on('error', () => {});
    upgrades.push({ url: req.url ?? '', authorization: req.headers.authorization });
    if (refuseUpgrades || req.headers.authorization !== AUTH) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => sockets.push(ws));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/ari`,
    upgrades,
    sockets,
    setLiveChannels: (ids: string[]) => {
      liveChannels = ids;
    },
    setRefuse: (v: boolean) => {
      refuseUpgrades = v;
    },
    send(ev: object) {
      for (const s of sockets) s.send(JSON.stringify(ev));
    },
    dropAll() {
      for (const s of sockets.splice(0)) s.terminate();
    },
    async stop() {
      for (const s of sockets) s.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function until(fn: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (fn()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe('ARI client', () => {
  let fake: Awaited<ReturnType<typeof startFakeAsterisk>>;
  let client: AriClient;
  afterEach(async () => {
    await client?.close();
    await fake?.stop();
  });

  const make = (password = 's3cret') =>
    createAriClient({
      url: `${fake.url}/`,
      username: 'ari',
      password,
      app: 'agentline',
      logger: silentLogger(),
      reconnectInitialMs: 20,
      reconnectMaxMs: 200,
    });

  it('subscribes to its app with Basic auth and dispatches typed events', async () => {
    fake = await startFakeAsterisk();
    client = make();
    const changes: boolean[] = [];
    client.onConnectionChange((c) => changes.push(c));
    await client.connect();
    expect(client.connected).toBe(true);
    expect(fake.upgrades[0]).toEqual({ url: '/ari/events?app=agentline', authorization: AUTH });

    const digits: string[] = [];
    const all: string[] = [];
    const off = client.on('ChannelDtmfReceived', (ev) => digits.push(ev.digit));
    client.onEvent((ev: AriEvent) => all.push(ev.type));
    fake.send({ type: 'ChannelDtmfReceived', digit: '5', duration_ms: 100, channel: { id: 'c1' } });
    fake.send({ type: 'StasisStart', args: [], channel: { id: 'c1' } });
    await until(() => all.length === 2, 'two events');
    off();
    fake.send({ type: 'ChannelDtmfReceived', digit: '6', duration_ms: 100, channel: { id: 'c1' } });
    await until(() => all.length === 3, 'the third event');
    expect(digits).toEqual(['5']);
    expect(all).toEqual(['ChannelDtmfReceived', 'StasisStart', 'ChannelDtmfReceived']);
    expect(changes).toEqual([true]);
  });

  it('reconnects after a drop, then reconciles against the live channels', async () => {
    fake = await startFakeAsterisk();
    client = make();
    await client.connect();
    const changes: boolean[] = [];
    const reconciled: string[][] = [];
    client.onConnectionChange((c) => changes.push(c));
    client.onReconciled((ids) => reconciled.push([...ids].sort()));
    fake.setLiveChannels(['b', 'a']);
    // Refused attempts make it back off and retry rather than give up.
    fake.setRefuse(true);
    fake.dropAll();
    await until(() => fake.upgrades.length >= 3, 'a few refused reconnects');
    expect(client.connected).toBe(false);
    fake.setRefuse(false);
    await until(() => reconciled.length === 1, 'the reconciliation');
    expect(changes).toEqual([false, true]);
    expect(reconciled).toEqual([['a', 'b']]);
    expect(client.connected).toBe(true);
  });

  it('turns REST failures into AriError with the status and Asterisk’s message', async () => {
    fake = await startFakeAsterisk();
    client = make();
    const notFound = await client.getChannel('nope').catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(AriError);
    expect(notFound).toMatchObject({ status: 404, ariMessage: 'Channel not found', method: 'GET' });
    const crash = await client.listBridges().catch((e: unknown) => e);
    expect(crash).toMatchObject({ status: 500, ariMessage: 'boom' });

    const wrong = make('wrong');
    const denied = await wrong.listChannels().catch((e: unknown) => e);
    expect(denied).toMatchObject({ status: 401, ariMessage: 'Authentication required' });
    await wrong.close();

    await fake.stop();
    const down = await client.listChannels().catch((e: unknown) => e);
    expect(down).toBeInstanceOf(AriError);
    expect((down as AriError).status).toBe(0);
  });

  it('says whether a failed request reached Asterisk: answered, never sent, or unknown', async () => {
    fake = await startFakeAsterisk();
    client = make();
    expect(await client.getChannel('nope').catch((e: unknown) => e)).toMatchObject({ delivery: 'answered' });
    // A server that takes the request and never answers, one that drops it, and a port nobody listens on.
    const accepted: net.Socket[] = [];
    // The client resets the connections it gives up on: that is expected here, not an error.
    const silent = net.createServer((socket) => {
      socket.on('error', () => {});
      accepted.push(socket);
    });
    const dropping = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.destroy());
    });
    await Promise.all([silent, dropping].map((x) => new Promise<void>((r) => x.listen(0, '127.0.0.1', r))));
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const at = (port: number) =>
      createAriClient({
        url: `http://127.0.0.1:${port}/ari`,
        username: 'ari',
        password: 's3cret',
        app: 'agentline',
        logger: silentLogger(),
        requestTimeoutMs: 300,
      });
    try {
      const fail = (port: number) =>
        at(port)
          .originate({ endpoint: 'PJSIP/1@trunk', app: 'agentline' })
          .catch((e: unknown) => e);
      expect(await fail(closedPort)).toMatchObject({ status: 0, delivery: 'unsent' });
      expect(await fail((silent.address() as AddressInfo).port)).toMatchObject({
        status: 0,
        delivery: 'unknown',
      });
      expect(await fail((dropping.address() as AddressInfo).port)).toMatchObject({
        status: 0,
        delivery: 'unknown',
      });
    } finally {
      for (const socket of accepted) socket.destroy();
      await Promise.all([silent, dropping].map((x) => new Promise<void>((r) => x.close(() => r()))));
    }
  });

  it('close() stops reconnecting and settles a pending connect()', async () => {
    fake = await startFakeAsterisk();
    fake.setRefuse(true);
    client = make();
    const pending = client.connect();
    await until(() => fake.upgrades.length >= 2, 'retries');
    await client.close();
    await expect(pending).rejects.toThrow(/closed/);
    const ours = () => fake.upgrades.filter((u) => u.authorization === AUTH).length;
    const n = ours();
    // The witness is a second client on the same backoff (refused for its password): five of its
    // attempts span more than the closed client's longest delay, so a retry would have shown by then.
    const witness = make('wrong');
    const witnessed = witness.connect().catch(() => undefined);
    await until(() => fake.upgrades.length - ours() >= 5, "the witness's five attempts");
    await witness.close();
    await witnessed;
    expect(ours()).toBe(n);
  });

  it('builds the chan_websocket media URL on the ARI host', async () => {
    fake = await startFakeAsterisk();
    client = make();
    const u = new URL(client.mediaWebSocketUrl('abc 1'));
    expect(u.protocol).toBe('ws:');
    expect(u.pathname).toBe('/media/abc%201');
  });
});

describe('ariBaseUrl', () => {
  it('accepts the Asterisk HTTP server or the ARI root', async () => {
    const { ariBaseUrl } = await import('./client.js');
    expect(ariBaseUrl('http://127.0.0.1:8088')).toBe('http://127.0.0.1:8088/ari');
    expect(ariBaseUrl('http://127.0.0.1:8088/')).toBe('http://127.0.0.1:8088/ari');
    expect(ariBaseUrl('http://127.0.0.1:8088/ari/')).toBe('http://127.0.0.1:8088/ari');
    expect(ariBaseUrl('https://pbx.internal/asterisk/ari')).toBe('https://pbx.internal/asterisk/ari');
  });
});
