import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallControl } from '../calls/call-runner.js';
import { loadConfig } from '../config.js';
import type { CallRow } from '../db/schema.js';
import { silentLogger } from '../logger.js';
import type { AriClient } from './ari/client.js';
import { connectAri, createAriCallRunner } from './ari-call-runner.js';

const unused = (what: string) => () => {
  throw new Error(`${what} must not be used here`);
};

describe('ARI call runner wiring', () => {
  let server: http.Server | null = null;
  let client: AriClient | null = null;
  afterEach(async () => {
    await client?.close();
    client = null;
    if (server) await new Promise<void>((r) => server?.close(() => r()));
    server = null;
  });

  it('connectAri refuses a configuration without ARI_URL, naming the setting', async () => {
    await expect(connectAri(loadConfig({}), silentLogger())).rejects.toThrow(/ARI_URL/);
  });

  it('with the PBX unreachable, connectAri returns a client that keeps trying, and readiness says why calls cannot go out', async () => {
    // A server that answers HTTP but refuses the events WebSocket, like an Asterisk with ARI misconfigured.
    server = http.createServer((_req, res) => res.writeHead(401).end());
    server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n'));
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ari`;
    const config = loadConfig({ ARI_URL: url });
    client = await connectAri(config, silentLogger(), { waitMs: 300 });
    expect(client.connected).toBe(false);
    const runner = createAriCallRunner({
      ari: client,
      config,
      logger: silentLogger(),
      agent: { converse: unused('agent'), summarize: unused('agent') },
      tts: { name: 'none', sampleRate: 16000, voices: [], synthesize: unused('tts'), close: async () => {} },
      media: { kind: 'rtp', prepare: unused('media') },
    });
    const r = await runner.readiness.check();
    expect(runner.readiness).toMatchObject({ name: 'pbx', requiredForCalls: true });
    expect(r.ok).toBe(false);
    expect(r.detail).toContain(url);

    // After stop(), a call handed to the runner is left untouched (still queued) for another worker.
    await runner.stop();
    const reports: string[] = [];
    const ctl: CallControl = {
      call: { id: '00000000-0000-4000-8000-000000000001', status: 'queued' } as CallRow,
      signal: new AbortController().signal,
      dialing: async () => {
        reports.push('dialing');
      },
      answered: async () => {
        reports.push('answered');
      },
      addTurn: async () => {},
      end: async () => {
        reports.push('end');
      },
    };
    await runner.run(ctl);
    expect(reports).toEqual([]);
  });

  it('with the events socket down, a claimed call is put back in the queue without any originate', async () => {
    const requests: string[] = [];
    server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(401).end();
    });
    server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n'));
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const config = loadConfig({ ARI_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ari` });
    client = await connectAri(config, silentLogger(), { waitMs: 300 });
    const runner = createAriCallRunner({
      ari: client,
      config,
      logger: silentLogger(),
      agent: { converse: unused('agent'), summarize: unused('agent') },
      tts: { name: 'none', sampleRate: 16000, voices: [], synthesize: unused('tts'), close: async () => {} },
      media: { kind: 'rtp', prepare: unused('media') },
    });
    const reports: string[] = [];
    await runner.run({
      call: { id: '00000000-0000-4000-8000-000000000002', status: 'queued' } as CallRow,
      signal: new AbortController().signal,
      dialing: async () => {
        reports.push('dialing');
      },
      requeue: async (reason) => {
        reports.push(`requeue: ${reason}`);
        return true;
      },
      answered: unused('answered'),
      addTurn: unused('addTurn'),
      end: async (o) => {
        reports.push(`end: ${o.status}`);
      },
    });
    expect(reports).toEqual(['dialing', 'requeue: pbx_disconnected']);
    expect(requests.filter((r) => r.startsWith('POST'))).toEqual([]);
    await runner.stop();
  });
});
