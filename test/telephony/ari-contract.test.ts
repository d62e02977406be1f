import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { type AriClient, createAriClient } from '../../src/telephony/ari/client.js';
import { HANDLED_EVENT_TYPES } from '../../src/telephony/ari/types.js';

/** The official Asterisk 22 Swagger documents the client must agree with. */
const ARI_DIR = path.resolve(import.meta.dirname, '../../../shared/ari');
const ariDir = fs.existsSync(ARI_DIR) ? ARI_DIR : path.resolve('/work/shared/ari');

interface SwaggerParam {
  name: string;
  paramType: 'path' | 'query' | 'body';
  required?: boolean;
}
interface SwaggerOp {
  httpMethod: string;
  parameters?: SwaggerParam[];
}
interface SwaggerApi {
  path: string;
  operations: SwaggerOp[];
}
interface SwaggerModel {
  properties: Record<string, { type: string; required?: boolean }>;
}

function load(name: string): { apis?: SwaggerApi[]; models: Record<string, SwaggerModel> } {
  return JSON.parse(fs.readFileSync(path.join(ariDir, name), 'utf8'));
}

const apis: SwaggerApi[] = ['channels.json', 'bridges.json', 'recordings.json', 'asterisk.json'].flatMap(
  (f) => load(f).apis ?? [],
);
const eventModels = load('events.json').models;
const channelModel = load('channels.json').models.Channel;
const recordingModel = load('recordings.json').models.LiveRecording;

function findOperation(method: string, urlPath: string): { api: SwaggerApi; op: SwaggerOp } | null {
  const rel = urlPath.replace(/^\/ari/, '');
  // Literal segments win over templates, as in Asterisk's router (/channels/externalMedia vs /channels/{channelId}).
  const byLiteralness = [...apis].sort((a, b) => a.path.split('{').length - b.path.split('{').length);
  for (const api of byLiteralness) {
    const re = new RegExp(`^${api.path.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (!re.test(rel)) continue;
    const op = api.operations.find((o) => o.httpMethod === method);
    if (op) return { api, op };
  }
  return null;
}

describe('the ARI client agrees with the Asterisk Swagger documents', () => {
  const seen: { method: string; path: string; query: URLSearchParams; body: string }[] = [];
  let server: http.Server;
  let client: AriClient;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const u = new URL(req.url ?? '/', 'http://x');
        seen.push({ method: req.method ?? '', path: u.pathname, query: u.searchParams, body });
        const rel = u.pathname.replace(/^\/ari/, '');
        if (rel.endsWith('/file')) {
          res.writeHead(200, { 'Content-Type': 'audio/wav' }).end(Buffer.from('RIFF'));
          return;
        }
        const json =
          rel === '/channels' && req.method === 'GET'
            ? []
            : rel.endsWith('/variable')
              ? { value: 'HUMAN' }
              : req.method === 'DELETE' || rel.endsWith('/stop')
                ? null
                : { id: 'x', name: 'x', state: 'Up', channelvars: {} };
        if (json === null) res.writeHead(204).end();
        else res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(json));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = createAriClient({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ari`,
      username: 'u',
      password: 'p',
      app: 'agentline',
      logger: silentLogger(),
    });
  });
  afterAll(async () => {
    await client.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('calls only documented paths and methods, with declared query parameters and every required one', async () => {
    await client.asteriskInfo();
    await client.listChannels();
    await client.getChannel('c1');
    await client.originate({
      endpoint: 'PJSIP/+14155550100@trunk',
      app: 'agentline',
      appArgs: 'dial',
      callerId: '+14155550000',
      timeout: 30,
      channelId: 'c1',
      variables: { X: '1' },
    });
    await client.hangup('c1', 'normal');
    await client.answer('c1');
    await client.continueInDialplan('c1', { context: 'agentline-amd', extension: 's', priority: 1 });
    await client.getChannelVariable('c1', 'AMDSTATUS');
    await client.sendDtmf('c1', '1', { duration: 100 });
    await client.externalMedia({
      app: 'agentline',
      channelId: 'm1',
      external_host: '127.0.0.1:20000',
      encapsulation: 'rtp',
      transport: 'udp',
      format: 'ulaw',
    });
    await client.listBridges();
    await client.createBridge({ type: 'mixing', name: 'b' });
    await client.addChannelToBridge('b1', ['c1', 'm1']);
    await client.removeChannelFromBridge('b1', ['m1']);
    await client.recordBridge('b1', { name: 'r1', format: 'wav', ifExists: 'overwrite' });
    await client.stopLiveRecording('r1');
    await client.getStoredRecordingFile('r1');
    await client.deleteStoredRecording('r1');
    await client.destroyBridge('b1');

    expect(seen.length).toBe(19);
    for (const req of seen) {
      const found = findOperation(req.method, req.path);
      expect(found, `${req.method} ${req.path} is not in the Swagger docs`).not.toBeNull();
      const params = found?.op.parameters ?? [];
      const queryNames = params.filter((p) => p.paramType === 'query').map((p) => p.name);
      for (const key of req.query.keys()) {
        expect(queryNames, `${req.method} ${found?.api.path}: query parameter ${key}`).toContain(key);
      }
      for (const p of params.filter((p) => p.paramType === 'query' && p.required)) {
        expect(req.query.has(p.name), `${req.method} ${found?.api.path} misses required ${p.name}`).toBe(
          true,
        );
      }
      if (req.body) {
        const bodyNames = params.filter((p) => p.paramType === 'body').map((p) => p.name);
        for (const key of Object.keys(JSON.parse(req.body))) expect(bodyNames).toContain(key);
      }
    }
    // List parameters go comma-separated, as Asterisk parses them.
    const add = seen.find((r) => r.path.endsWith('/addChannel'));
    expect(add?.query.get('channel')).toBe('c1,m1');
  });

  it('handles only event types that exist, reading only fields Asterisk documents', () => {
    const fieldsRead: Record<string, string[]> = {
      StasisStart: ['args', 'channel'],
      StasisEnd: ['channel'],
      ChannelStateChange: ['channel'],
      ChannelDestroyed: ['cause', 'cause_txt', 'channel'],
      ChannelHangupRequest: ['cause', 'channel'],
      ChannelDtmfReceived: ['digit', 'channel'],
      ChannelVarset: ['variable', 'value', 'channel'],
      Dial: ['peer', 'dialstatus'],
      RecordingStarted: ['recording'],
      RecordingFinished: ['recording'],
      RecordingFailed: ['recording'],
    };
    expect(Object.keys(fieldsRead).sort()).toEqual([...HANDLED_EVENT_TYPES].sort());
    for (const type of HANDLED_EVENT_TYPES) {
      const model = eventModels[type];
      expect(model, `${type} is not an ARI event`).toBeDefined();
      for (const f of fieldsRead[type]) expect(Object.keys(model.properties), `${type}.${f}`).toContain(f);
    }
    for (const f of ['id', 'name', 'state', 'caller', 'dialplan', 'channelvars']) {
      expect(Object.keys(channelModel.properties)).toContain(f);
    }
    for (const f of ['name', 'state', 'format']) expect(Object.keys(recordingModel.properties)).toContain(f);
  });
});
