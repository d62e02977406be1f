import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/logger.js';
import { type SimulatedPbx, startSimulatedPbx } from '../../src/pbx-sim/index.js';
import { type AriClient, AriError, createAriClient } from '../../src/telephony/ari/client.js';
import {
  ChannelGoneBeforeStasis,
  isNotInStasis,
  retryWhileNotInStasis,
  StasisEntries,
  StasisEntryTimeout,
} from '../../src/telephony/ari/stasis-readiness.js';
import type { AriEvent } from '../../src/telephony/ari/types.js';
import { type Engines, loadEngines } from './helpers/harness.js';

const channel = (id: string) => ({ id });
/** An event as the client hands it on (only the fields the tracker reads matter). */
const ev = (e: Record<string, unknown>) =>
  ({ application: 'test', timestamp: '', ...e }) as unknown as AriEvent;

describe('StasisEntries: a created channel is ready once its StasisStart came', () => {
  it('resolves at once for a channel already in, when StasisStart comes later, and follows only its channels', async () => {
    const entries = new StasisEntries(['a']);
    const signal = new AbortController().signal;
    entries.onEvent(ev({ type: 'StasisStart', args: ['x'], channel: channel('a') }));
    await expect(entries.wait('a', { what: 'a', timeoutMs: 60_000, signal })).resolves.toEqual(['x']);

    entries.follow('b');
    const waiting = entries.wait('b', { what: 'b', timeoutMs: 60_000, signal });
    entries.onEvent(ev({ type: 'StasisStart', args: [], channel: channel('other') }));
    expect(entries.isInside('other')).toBe(false);
    entries.onEvent(ev({ type: 'StasisStart', args: ['y'], channel: channel('b') }));
    await expect(waiting).resolves.toEqual(['y']);
    // Out again (into the dialplan): not ready until its next StasisStart.
    entries.onEvent(ev({ type: 'StasisEnd', channel: channel('b') }));
    expect(entries.isInside('b')).toBe(false);
  });

  it('fails clearly: a timeout names the channel, a destroyed channel says so, an abort passes its reason', async () => {
    const entries = new StasisEntries(['t', 'd', 'c']);
    const live = new AbortController();
    const timedOut = entries.wait('t', {
      what: 'the externalMedia channel',
      timeoutMs: 20,
      signal: live.signal,
    });
    await expect(timedOut).rejects.toBeInstanceOf(StasisEntryTimeout);
    await expect(timedOut).rejects.toThrow(
      'the externalMedia channel t did not enter the application within 20 ms',
    );

    const gone = entries.wait('d', { what: 'the snoop channel', timeoutMs: 60_000, signal: live.signal });
    entries.onEvent(
      ev({
        type: 'ChannelDestroyed',
        cause: 16,
        cause_txt: '',
        channel: channel('d'),
      }),
    );
    await expect(gone).rejects.toBeInstanceOf(ChannelGoneBeforeStasis);
    await expect(
      entries.wait('d', { what: 'x', timeoutMs: 60_000, signal: live.signal }),
    ).rejects.toBeInstanceOf(ChannelGoneBeforeStasis);

    const ended = new AbortController();
    const aborted = entries.wait('c', { what: 'c', timeoutMs: 60_000, signal: ended.signal });
    ended.abort('call ended');
    await expect(aborted).rejects.toBe('call ended');
  });

  it('retries only "not in Stasis" refusals, a bounded number of times', async () => {
    const signal = new AbortController().signal;
    const refusal = new AriError(422, 'POST', '/bridges/b/addChannel', 'Channel not in Stasis application');
    expect(isNotInStasis(refusal)).toBe(true);
    expect(
      isNotInStasis(new AriError(409, 'POST', '/channels/c/answer', 'Channel not in a Stasis application')),
    ).toBe(true);
    expect(
      isNotInStasis(new AriError(422, 'POST', '/bridges/b/removeChannel', 'Channel not in this bridge')),
    ).toBe(false);

    let tries = 0;
    await expect(
      retryWhileNotInStasis(
        async () => {
          tries++;
          if (tries < 3) throw refusal;
          return 'bridged';
        },
        { signal, delaysMs: [1, 1, 1] },
      ),
    ).resolves.toBe('bridged');
    expect(tries).toBe(3);

    tries = 0;
    await expect(
      retryWhileNotInStasis(
        async () => {
          tries++;
          throw refusal;
        },
        { signal, delaysMs: [1, 1] },
      ),
    ).rejects.toBe(refusal);
    expect(tries).toBe(3);

    tries = 0;
    const other = new AriError(500, 'POST', '/bridges/b/addChannel', 'Internal Server Error');
    await expect(
      retryWhileNotInStasis(
        async () => {
          tries++;
          throw other;
        },
        { signal, delaysMs: [1, 1] },
      ),
    ).rejects.toBe(other);
    expect(tries).toBe(1);
  });
});

/**
 * The simulated PBX reproduces Asterisk's race: `externalMedia` is answered before its channel is in
 * the application, and until its StasisStart, `addChannel` is `422 {"message":"Channel not in Stasis
 * application"}` (channel operations 409). A long entry delay makes the order certain on any machine.
 */
describe('the simulated PBX: an externalMedia channel enters the application after the answer', () => {
  let engines: Engines;
  let pbx: SimulatedPbx;
  let ari: AriClient;
  const events: AriEvent[] = [];
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    engines = await loadEngines();
    pbx = await startSimulatedPbx({
      username: 'asterisk',
      password: 'secret',
      tts: engines.tts,
      stt: engines.stt,
      logger: silentLogger(),
      seed: 7,
      stasisEntryDelayMs: { min: 2000, max: 2000 },
    });
    ari = createAriClient({
      url: pbx.ariUrl,
      username: 'asterisk',
      password: 'secret',
      app: 'race',
      logger: createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s)) }),
    });
    ari.onEvent((e) => events.push(e));
    await ari.connect();
  }, 60_000);
  afterAll(async () => {
    await ari?.close();
    await pbx?.stop();
    await engines?.close();
  });

  const raw = async (method: string, path: string) => {
    const res = await fetch(`${pbx.ariUrl}${path}`, {
      method,
      headers: { Authorization: `Basic ${Buffer.from('asterisk:secret').toString('base64')}` },
    });
    return { status: res.status, body: await res.json() };
  };

  it('answers 422 to addChannel before StasisStart, exactly as Asterisk does, and takes the channel after it', async () => {
    const entries = new StasisEntries(['em-1']);
    ari.onEvent((e) => entries.onEvent(e));
    const bridge = await ari.createBridge({ type: 'mixing' });
    const em = await ari.externalMedia({
      app: 'race',
      channelId: 'em-1',
      external_host: '127.0.0.1:9',
      format: 'ulaw',
    });
    expect(em.id).toBe('em-1');
    // The answer came; the channel is not in the application yet.
    expect(events.some((e) => e.type === 'StasisStart' && e.channel.id === 'em-1')).toBe(false);
    expect(await raw('POST', `/bridges/${bridge.id}/addChannel?channel=em-1`)).toEqual({
      status: 422,
      body: { message: 'Channel not in Stasis application' },
    });
    expect(await raw('GET', '/channels/em-1/variable?variable=UNICASTRTP_LOCAL_PORT')).toEqual({
      status: 409,
      body: { message: 'Channel not in Stasis application' },
    });

    // Retried while refused (bounded), it gets through once the channel is in.
    const retries: number[] = [];
    await retryWhileNotInStasis(() => ari.addChannelToBridge(bridge.id, ['em-1']), {
      signal: new AbortController().signal,
      delaysMs: Array.from({ length: 40 }, () => 250),
      onRetry: (_err, attempt) => retries.push(attempt),
    });
    expect(retries.length).toBeGreaterThan(0);
    expect(entries.isInside('em-1')).toBe(true);
    expect(pbx.bridges()).toEqual([expect.objectContaining({ id: bridge.id, channels: ['em-1'] })]);
    // Each refusal the client met was logged once, at warn, with Asterisk's message.
    const refused = lines.filter(
      (l) => l.msg === 'ARI request failed' && l.path === `/bridges/${bridge.id}/addChannel`,
    );
    expect(refused).toHaveLength(retries.length);
    for (const l of refused)
      expect(l).toMatchObject({ level: 40, status: 422, ariMessage: 'Channel not in Stasis application' });

    await ari.hangup('em-1');
    await ari.destroyBridge(bridge.id);
    // A hangup of a channel that is gone already is an answer, not a failure: logged at debug.
    await ari.hangup('em-1').catch(() => undefined);
    expect(lines.filter((l) => l.path === '/channels/em-1' && l.msg === 'ARI request answered')).toEqual([
      expect.objectContaining({ level: 20, status: 404, method: 'DELETE' }),
    ]);
  }, 60_000);
});
