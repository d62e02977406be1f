import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ariRoutes } from '../../src/pbx-sim/ari-routes.js';
import { type SimFixture, startSimFixture } from './sim-fixture.js';

/** The official ARI swagger of Asterisk 22, kept beside the project. */
const ARI_DIR = path.resolve(import.meta.dirname, '../../../shared/ari');
const haveSwagger = fs.existsSync(path.join(ARI_DIR, 'events.json'));
const load = (name: string) => JSON.parse(fs.readFileSync(path.join(ARI_DIR, `${name}.json`), 'utf8'));

type Model = { id: string; properties: Record<string, { type: string; required?: boolean }> };

describe.skipIf(!haveSwagger)('agreement with the ARI swagger', () => {
  let f: SimFixture;
  const models = new Map<string, Model>();
  const operations = new Set<string>();
  beforeAll(async () => {
    for (const file of [
      'asterisk',
      'applications',
      'channels',
      'bridges',
      'recordings',
      'events',
      'endpoints',
      'playbacks',
      'sounds',
      'deviceStates',
      'mailboxes',
    ]) {
      const doc = load(file);
      for (const [name, m] of Object.entries(doc.models ?? {})) models.set(name, m as Model);
      for (const api of doc.apis ?? [])
        for (const op of api.operations) operations.add(`${op.httpMethod} ${api.path}`);
    }
    f = await startSimFixture();
  });
  afterAll(async () => {
    await f?.close();
  });

  it('serves only routes that the swagger declares with that method', () => {
    const routes = ariRoutes({} as never, {} as never, { asteriskId: '', startedAt: '', version: '22.6.0' });
    expect(routes.length).toBeGreaterThan(20);
    const unknown = routes.map((r) => `${r.method} ${r.path}`).filter((r) => !operations.has(r));
    expect(unknown).toEqual([]);
  });

  /** Problems of `value` against swagger type `type` (required properties present and typed). */
  function check(value: unknown, type: string, where: string): string[] {
    const list = /^List\[(.+)\]$/.exec(type);
    if (list)
      return Array.isArray(value)
        ? value.flatMap((v, i) => check(v, list[1], `${where}[${i}]`))
        : [`${where}: not a list`];
    switch (type) {
      case 'string':
        return typeof value === 'string' ? [] : [`${where}: not a string`];
      case 'int':
      case 'long':
      case 'double':
        return typeof value === 'number' ? [] : [`${where}: not a number`];
      case 'boolean':
        return typeof value === 'boolean' ? [] : [`${where}: not a boolean`];
      case 'Date':
        return typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$/.test(value)
          ? []
          : [`${where}: not an ARI date`];
      case 'object':
        return value && typeof value === 'object' ? [] : [`${where}: not an object`];
    }
    const model = models.get(type);
    if (!model) return [`${where}: unknown model ${type}`];
    if (!value || typeof value !== 'object') return [`${where}: not a ${type}`];
    const obj = value as Record<string, unknown>;
    const problems: string[] = [];
    // Event subtypes inherit Event's and Message's properties.
    const chain = [
      model,
      ...(['Event', 'Message'].includes(type) ? [] : [models.get('Event')!, models.get('Message')!]),
    ];
    for (const m of type === 'Message' || !models.get('Event')?.properties || !('type' in obj)
      ? [model]
      : chain) {
      for (const [prop, spec] of Object.entries(m.properties)) {
        if (!(prop in obj)) {
          if (spec.required) problems.push(`${where}.${prop}: missing`);
          continue;
        }
        problems.push(...check(obj[prop], spec.type, `${where}.${prop}`));
      }
    }
    return problems;
  }

  it('emits events carrying every required property of their models', async () => {
    const ari = f.ari;
    const ch = await ari.call('POST', '/channels', {
      endpoint: 'PJSIP/+14155550100@trunk',
      app: 'test',
      appArgs: 'a',
    });
    await ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
    await ari.call('POST', `/channels/${ch.id}/variable`, { variable: 'X_TEST', value: '1' });
    const bridge = await ari.call('POST', '/bridges', { type: 'mixing' });
    await ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: ch.id });
    await ari.call('POST', `/bridges/${bridge.id}/record`, {
      name: 'conformance',
      format: 'wav',
      ifExists: 'overwrite',
    });
    await ari.call('POST', '/recordings/live/conformance/stop');
    await ari.waitFor((e) => e.type === 'RecordingFinished');
    await ari.call('DELETE', `/channels/${ch.id}`);
    await ari.call('DELETE', `/bridges/${bridge.id}`);
    const busy = await ari.call('POST', '/channels', { endpoint: 'PJSIP/+14155550102@trunk', app: 'test' });
    await ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === busy.id);
    await ari.waitFor((e) => e.type === 'BridgeDestroyed');

    const types = new Set(ari.events.map((e) => e.type));
    for (const t of [
      'StasisStart',
      'StasisEnd',
      'ChannelStateChange',
      'ChannelHangupRequest',
      'ChannelDestroyed',
      'ChannelVarset',
      'Dial',
      'RecordingStarted',
      'RecordingFinished',
      'ChannelEnteredBridge',
      'ChannelLeftBridge',
      'BridgeDestroyed',
    ]) {
      expect(types).toContain(t);
    }
    const problems = ari.events.flatMap((e, i) => check(e, e.type, `${e.type}#${i}`));
    expect(problems).toEqual([]);
    for (const e of ari.events)
      expect(e).toMatchObject({ application: 'test', asterisk_id: expect.any(String) });
    // Resources answered by the REST API agree with their models too.
    expect(check(ch, 'Channel', 'originate')).toEqual([]);
    expect(check(bridge, 'Bridge', 'bridge')).toEqual([]);
    expect(check(await ari.call('GET', '/asterisk/info'), 'AsteriskInfo', 'info')).toEqual([]);
    expect(check(await ari.call('GET', '/applications'), 'List[Application]', 'apps')).toEqual([]);
  });
});
