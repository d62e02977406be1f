import { asc, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callEvents } from '../../src/db/schema.js';
import { createLogger } from '../../src/logger.js';
import { NOT_IN_STASIS_RETRY_DELAYS_MS } from '../../src/telephony/ari/stasis-readiness.js';
import { startTestApi, type TestApi } from '../helpers/api-fixtures.js';
import {
  type Engines,
  expectNoLeakedHandles,
  type Harness,
  handleCounts,
  loadEngines,
  NUMBERS,
  startHarness,
  until,
} from './helpers/harness.js';
import { createTestAgent } from './helpers/test-agent.js';

type LogLine = Record<string, unknown> & { msg?: string; level?: number };

const ADD_CHANNEL = 'POST /bridges/{bridgeId}/addChannel';
const NOT_IN_STASIS = { status: 422, message: 'Channel not in Stasis application' };

/**
 * A failed ARI request is logged once, by the client, with what a reader needs to see what failed
 * (method, path, status, Asterisk's message, the call's id), and the call's events keep why it ended.
 */
describe('failed ARI requests: the log and the call events say which request failed and why', () => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  /** The REST API over the harness's database, to read the calls as a client does. */
  let api: TestApi;
  const lines: LogLine[] = [];
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    const logger = createLogger('debug', {
      write: (s: string) => {
        lines.push(JSON.parse(s) as LogLine);
      },
    });
    const agent = createTestAgent({
      tts: engines.tts,
      script: [{ tone: { hz: 700, ms: 200 } }],
      afterScript: 'objective_met',
    });
    // The tests count the failed requests of a call: chaos mode's random 5xx would add to them.
    h = await startHarness({ engines, agent, logger, chaos: null });
    api = await startTestApi({ db: h.db });
  }, 120_000);
  afterEach(async () => {
    h.sim.impair({});
    await until('the PBX to be empty', () => h.sim.channels().length === 0 && h.sim.bridges().length === 0);
    await until('the runner to finish its calls', () => h.runner.activeCalls() === 0);
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  const steps = async (id: string) =>
    (
      await h.db.db.select().from(callEvents).where(eq(callEvents.callId, id)).orderBy(asc(callEvents.id))
    ).map((e) => `${e.fromStatus}→${e.toStatus}${e.reason ? `:${e.reason}` : ''}`);
  const linesOf = (callId: string) => lines.filter((l) => l.callId === callId);
  const mentioning = (text: string) => lines.filter((l) => JSON.stringify(l).includes(text));

  it('a bridge Asterisk keeps refusing (422): the call fails as network_error, each refused request is logged once, and its events say which', async () => {
    h.sim.impair({ failRequests: { [ADD_CHANNEL]: NOT_IN_STASIS } });
    const id = await h.place(NUMBERS.restaurant, { accountId: api.accountId });
    const call = await h.waitFor(id, undefined, 60_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'failed',
      endedReason: 'network_error',
    });

    // The first try and every retry, each logged once at warn, by the client, with the call's id.
    const failed = linesOf(id).filter((l) => l.msg === 'ARI request failed');
    expect(failed).toHaveLength(1 + NOT_IN_STASIS_RETRY_DELAYS_MS.length);
    const bridgeId = String(failed[0].path).split('/')[2];
    for (const l of failed) {
      expect(l).toMatchObject({
        level: 40,
        component: 'ari',
        callId: id,
        method: 'POST',
        path: `/bridges/${bridgeId}/addChannel`,
        status: 422,
        ariMessage: 'Channel not in Stasis application',
      });
    }
    expect(
      linesOf(id).filter((l) => l.msg === 'a channel is not in the application yet; bridging again'),
    ).toHaveLength(NOT_IN_STASIS_RETRY_DELAYS_MS.length);
    // Not twice: no other line repeats a refused request (nor the controller's end of the call).
    expect(mentioning(`/bridges/${bridgeId}/addChannel`)).toEqual(failed);

    const path = await steps(id);
    expect(path).toEqual([
      'queued→dialing',
      `dialing→dialing:ari_request_failed: POST /bridges/${bridgeId}/addChannel → 422 Channel not in Stasis application`,
      'dialing→failed:network_error',
    ]);
    // A client reading the call sees why it failed.
    const view = (await (await api.request(`/v1/agent/calls/${id}`)).json()) as Record<string, any>;
    expect(view.endedReason).toBe('network_error');
    expect(
      view.events.map((e: { from: string; to: string; reason: string | null }) => [e.from, e.to, e.reason]),
    ).toEqual([
      ['queued', 'dialing', null],
      [
        'dialing',
        'dialing',
        `ari_request_failed: POST /bridges/${bridgeId}/addChannel → 422 Channel not in Stasis application`,
      ],
      ['dialing', 'failed', 'network_error'],
    ]);
    for (const e of view.events) expect(new Date(e.at).toISOString()).toBe(e.at);
  }, 90_000);

  it('the 422 of a channel not yet in the application is retried: two refusals, then the call goes on', async () => {
    h.sim.impair({ failRequests: { [ADD_CHANNEL]: { ...NOT_IN_STASIS, times: 2 } } });
    const id = await h.place(NUMBERS.restaurant);
    const call = await h.waitFor(id, undefined, 60_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'objective_met',
    });
    const failed = linesOf(id).filter((l) => l.msg === 'ARI request failed');
    expect(failed.map((l) => `${l.method} ${l.status} ${l.ariMessage}`)).toEqual([
      'POST 422 Channel not in Stasis application',
      'POST 422 Channel not in Stasis application',
    ]);
    expect(await steps(id)).toEqual([
      'queued→dialing',
      'dialing→in_progress',
      'in_progress→completed:objective_met',
    ]);
  }, 90_000);

  it('an originate Asterisk refuses: logged once with its 400 and message, and kept in the events', async () => {
    h.sim.impair({
      failRequests: { 'POST /channels': { status: 400, message: 'Endpoint must be specified' } },
    });
    const id = await h.place(NUMBERS.restaurant);
    const call = await h.waitFor(id, undefined, 60_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'failed',
      endedReason: 'network_error',
    });
    const failed = linesOf(id).filter((l) => l.msg === 'ARI request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 40,
      callId: id,
      method: 'POST',
      path: '/channels',
      status: 400,
      ariMessage: 'Endpoint must be specified',
    });
    expect(mentioning('Endpoint must be specified')).toEqual(failed);
    expect(await steps(id)).toEqual([
      'queued→dialing',
      'dialing→dialing:ari_request_failed: POST /channels → 400 Endpoint must be specified',
      'dialing→failed:network_error',
    ]);
  }, 90_000);
});
