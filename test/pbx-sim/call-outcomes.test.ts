import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimFixture, startSimFixture } from './sim-fixture.js';

let f: SimFixture;
beforeAll(async () => {
  f = await startSimFixture();
});
afterAll(async () => {
  await f?.close();
});

async function originate(number: string, extra: Record<string, string | number> = {}) {
  return f.ari.call('POST', '/channels', {
    endpoint: `PJSIP/${number}@trunk`,
    app: 'test',
    appArgs: 'call-1,x',
    callerId: '"Agent" <+14155550000>',
    ...extra,
  });
}

describe('ARI authentication', () => {
  it('answers 401 without or with wrong credentials, and accepts Basic and api_key', async () => {
    const bare = await fetch(`${f.pbx.ariUrl}/asterisk/info`);
    expect(bare.status).toBe(401);
    expect(await bare.json()).toEqual({ message: 'Authentication required' });
    const wrong = await fetch(`${f.pbx.ariUrl}/asterisk/info?api_key=ari:nope`);
    expect(wrong.status).toBe(401);
    const key = await fetch(`${f.pbx.ariUrl}/asterisk/info?api_key=ari:secret`);
    expect(key.status).toBe(200);
    const info = await f.ari.call('GET', '/asterisk/info');
    expect(info.system.entity_id).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const apps = await f.ari.call('GET', '/applications');
    expect(apps.map((a: { name: string }) => a.name)).toContain('test');
  });

  it('answers 404 and 405 like Asterisk for unknown resources and methods', async () => {
    expect((await f.ari.request('GET', '/nope')).status).toBe(404);
    expect((await f.ari.request('PUT', '/channels')).status).toBe(405);
    const gone = await f.ari.request('DELETE', '/channels/does-not-exist');
    expect(gone).toMatchObject({ status: 404, json: { message: 'Channel not found' } });
  });
});

describe('originate', () => {
  it('rings, answers with StasisStart and ends with Normal Clearing on DELETE', async () => {
    const ch = await originate('+14155550100');
    expect(ch.state).toBe('Down');
    expect(ch.name).toMatch(/^PJSIP\/trunk-[0-9a-f]{8}$/);
    const start = await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
    expect(start.args).toEqual(['call-1', 'x']);
    expect(start.channel.state).toBe('Up');
    expect(start.channel.caller).toEqual({ name: 'Agent', number: '+14155550000' });
    const seen = f.ari.events
      .filter((e) => (e.channel ?? e.peer)?.id === ch.id)
      .map((e) => e.type + (e.dialstatus ? `:${e.dialstatus}` : ''));
    expect(seen).toEqual([
      'Dial',
      'ChannelStateChange',
      'Dial:RINGING',
      'ChannelStateChange',
      'Dial:ANSWER',
      'StasisStart',
    ]);

    const bad = await f.ari.request('DELETE', `/channels/${ch.id}`, { reason: 'bogus' });
    expect(bad).toMatchObject({ status: 400, json: { message: 'Invalid reason for hangup provided' } });
    expect((await f.ari.request('DELETE', `/channels/${ch.id}`)).status).toBe(204);
    const destroyed = await f.ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id);
    expect(destroyed).toMatchObject({ cause: 16, cause_txt: 'Normal Clearing' });
    const order = f.ari.events
      .filter((e) => e.channel?.id === ch.id)
      .map((e) => e.type)
      .slice(-3);
    expect(order).toEqual(['ChannelHangupRequest', 'StasisEnd', 'ChannelDestroyed']);
    expect((await f.ari.request('GET', `/channels/${ch.id}`)).status).toBe(404);
  });

  // As a real Asterisk reports them over a SIP hop: the dial status is derived from the cause
  // (ast_hangup_cause_to_dial_status), NOANSWER for every cause without a status of its own (SIP 404,
  // 603); the originate's own ring timeout is cause 19 after RINGING, with no final NOANSWER.
  it.each([
    ['+14155550102', 17, 'User busy', ['', 'BUSY'], {}],
    ['+14155550103', 21, 'Call Rejected', ['', 'RINGING', 'NOANSWER'], {}],
    ['+14155550106', 1, 'Unallocated (unassigned) number', ['', 'NOANSWER'], {}],
    ['+14155550101', 19, 'User alerting, no answer', ['', 'RINGING'], { timeout: 1 }],
  ])(
    '%s ends unanswered with cause %i (%s) and Dial %j',
    async (number, cause, text, dialstatuses, extra) => {
      const ch = await originate(number, extra);
      const destroyed = await f.ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id);
      expect(destroyed).toMatchObject({ cause, cause_txt: text });
      const dial = f.ari.events
        .filter((e) => e.type === 'Dial' && e.peer.id === ch.id)
        .map((e) => e.dialstatus);
      expect(dial).toEqual(dialstatuses);
      expect(f.ari.events.some((e) => e.type === 'StasisStart' && e.channel.id === ch.id)).toBe(false);
    },
  );

  it('over a Local channel busy and congestion are only in the dialstatus: ChannelDestroyed has cause 0', async () => {
    for (const [number, dialstatus] of [
      ['+14155550102', 'BUSY'],
      ['+14155550120', 'CONGESTION'],
    ]) {
      const ch = await f.ari.call('POST', '/channels', {
        endpoint: `Local/${number}@callees`,
        app: 'test',
      });
      expect(ch.name).toMatch(/^Local\//);
      const destroyed = await f.ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id);
      expect(destroyed.cause).toBe(0);
      const dial = f.ari.events
        .filter((e) => e.type === 'Dial' && e.peer.id === ch.id)
        .map((e) => e.dialstatus);
      expect(dial.at(-1)).toBe(dialstatus);
    }
  });

  it('an originate into an extension that does not exist is accepted, then destroyed with cause 0 and no Dial', async () => {
    const ch = await f.ari.call('POST', '/channels', { endpoint: 'Local/+14155550121@callees', app: 'test' });
    const destroyed = await f.ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id);
    expect(destroyed.cause).toBe(0);
    expect(f.ari.events.filter((e) => e.type === 'Dial' && e.peer.id === ch.id)).toEqual([]);
  });

  it('a callee that hangs up produces HangupRequest, StasisEnd and Destroyed with cause 16', async () => {
    const ch = await originate('+14155550105');
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
    const destroyed = await f.ari.waitFor(
      (e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id,
      8000,
    );
    expect(destroyed.cause).toBe(16);
    const tail = f.ari.events
      .filter((e) => e.channel?.id === ch.id)
      .map((e) => e.type)
      .slice(-3);
    expect(tail).toEqual(['ChannelHangupRequest', 'StasisEnd', 'ChannelDestroyed']);
    expect(f.pbx.calleeLog('+14155550105').some((e) => e.kind === 'said' && e.text === 'Hello?')).toBe(true);
  });

  it('rejects a taken channelId with 409 and a bad endpoint with 400', async () => {
    const ch = await originate('+14155550101', { channelId: 'fixed-id-1' });
    expect(ch.id).toBe('fixed-id-1');
    expect(
      (
        await f.ari.request('POST', '/channels', {
          endpoint: 'PJSIP/+1@trunk',
          app: 'test',
          channelId: 'fixed-id-1',
        })
      ).status,
    ).toBe(409);
    expect((await f.ari.request('POST', '/channels', { endpoint: 'DAHDI/1', app: 'test' })).status).toBe(400);
    expect((await f.ari.request('POST', '/channels', { app: 'test' })).status).toBe(400);
    await f.ari.call('DELETE', `/channels/${ch.id}`);
    const dial = await f.ari.waitFor(
      (e) => e.type === 'Dial' && e.peer.id === ch.id && e.dialstatus === 'CANCEL',
    );
    expect(dial.dialstatus).toBe('CANCEL');
  });
});

describe('answering-machine detection', () => {
  it.each([
    ['+14155550100', 'HUMAN', 'HUMAN-400-300'],
    ['+14155550104', 'MACHINE', 'LONGGREETING-2000-1500'],
  ])(
    'continue into the amd context on %s leaves Stasis and comes back with AMDSTATUS=%s',
    async (number, status, cause) => {
      const ch = await originate(number);
      await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
      const missing = await f.ari.request('GET', `/channels/${ch.id}/variable`, { variable: 'AMDSTATUS' });
      expect(missing.status).toBe(404);
      await f.ari.call('POST', `/channels/${ch.id}/continue`, {
        context: 'agentline-amd',
        extension: 's',
        priority: 1,
      });
      await f.ari.waitFor((e) => e.type === 'StasisEnd' && e.channel.id === ch.id);
      const back = await f.ari.waitFor(
        (e) => e.type === 'StasisStart' && e.channel.id === ch.id && e.args[0] === 'amd',
        6000,
      );
      expect(back.channel.dialplan.context).toBe('agentline-amd');
      expect(await f.ari.call('GET', `/channels/${ch.id}/variable`, { variable: 'AMDSTATUS' })).toEqual({
        value: status,
      });
      expect(await f.ari.call('GET', `/channels/${ch.id}/variable`, { variable: 'AMDCAUSE' })).toEqual({
        value: cause,
      });
      await f.ari.call('DELETE', `/channels/${ch.id}`);
    },
  );
});
