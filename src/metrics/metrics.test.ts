import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Scrape } from '../../test/metrics/scrape.js';
import { createMetrics } from './metrics.js';

describe('createMetrics', () => {
  it('gives each process part its own registry: two servers in one process never share counts', async () => {
    const a = createMetrics({ processMetrics: false });
    const b = createMetrics({ processMetrics: false });
    a.webhookAttempt('dead');
    a.turnStored({ speaker: 'agent', interrupted: true });
    let connected = true;
    a.watchPbx(() => connected);
    const first = new Scrape((await a.render()).body);
    expect(first.value('agentline_webhook_attempts_total', { result: 'dead' })).toBe(1);
    expect(first.value('agentline_barge_ins_total')).toBe(1);
    expect(first.value('agentline_pbx_connected')).toBe(1);
    connected = false;
    expect(new Scrape((await a.render()).body).value('agentline_pbx_connected')).toBe(0);

    const other = new Scrape((await b.render()).body);
    expect(other.value('agentline_webhook_attempts_total', { result: 'dead' })).toBe(0);
    expect(other.value('agentline_barge_ins_total')).toBe(0);
    // A process without a PBX link does not claim one is down.
    expect(other.families.has('agentline_pbx_connected')).toBe(false);
    expect(await globalRegistry.metrics()).not.toContain('agentline_');
  });

  it('ignores a real-time factor that is not a finite, non-negative number', async () => {
    const m = createMetrics({ processMetrics: false });
    m.realTimeFactor('tts', Number.NaN);
    m.realTimeFactor('tts', -1);
    m.realTimeFactor('tts', 0.05);
    expect(new Scrape((await m.render()).body).count('agentline_tts_real_time_factor')).toBe(1);
  });
});
