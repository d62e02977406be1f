import { describe, expect, it } from 'vitest';
import { latencyRows } from '../../src/dashboard/calls/latency.js';
import { callMatchesQuery, listHref, parseListFilters } from '../../src/dashboard/calls/list-filters.js';
import { peaksOf } from '../../src/dashboard/calls/waveform.js';
import type { CallRow } from '../../src/db/schema.js';

describe('the waveform’s peaks', () => {
  it('takes the loudest sample of each stretch, scaled to the loudest stretch of the call', () => {
    const samples = Int16Array.from([0, 100, -200, 50, 0, 0, 4000, -8000]);
    expect(peaksOf(samples, 4)).toEqual([0.013, 0.025, 0, 1]);
  });
  it('draws silence flat and an empty file as nothing', () => {
    expect(peaksOf(new Int16Array(10), 5)).toEqual([0, 0, 0, 0, 0]);
    expect(peaksOf(new Int16Array(0))).toEqual([]);
    expect(peaksOf(Int16Array.from([5, -5]), 240)).toEqual([1, 1]);
  });
});

describe('the latency rows', () => {
  it('measures each stage from the end of the callee’s speech and skips turns with nothing to measure', () => {
    const rows = latencyRows([
      { latency: null },
      {
        latency: {
          calleeSpeechEndMs: null,
          sttFinalMs: null,
          firstTokenMs: 100,
          firstTtsAudioMs: 200,
          firstVoicedFrameMs: 300,
        },
      },
      { latency: null },
      {
        latency: {
          calleeSpeechEndMs: 5000,
          sttFinalMs: 5210,
          firstTokenMs: 5600,
          firstTtsAudioMs: null,
          firstVoicedFrameMs: 6100,
        },
      },
    ]);
    expect(rows).toEqual([{ turn: 4, stages: [210, 600, null, 1100] }]);
  });
});

describe('the list’s filters', () => {
  const parse = (qs: string) => parseListFilters(new URLSearchParams(qs));

  it('turns the form into the service’s query: live statuses, digits of a number, whole UTC days', () => {
    const { query, problems } = parse('status=live&q=(415)+555-01&from=2026-12-01&to=2026-12-01');
    expect(problems).toEqual({});
    expect(query).toEqual({
      limit: 25,
      status: 'queued,dialing,in_progress',
      toContains: '41555501',
      createdFrom: new Date('2026-12-01T00:00:00.000Z'),
      createdBefore: new Date('2026-12-02T00:00:00.000Z'),
    });
  });
  it('reports each bad value at its field instead of dropping it', () => {
    expect(parse('status=ringing').problems).toEqual({ status: 'is not a call status' });
    expect(parse('q=%25').problems).toEqual({ q: 'must be digits of a phone number' });
    expect(parse('from=2026-02-30').problems).toEqual({ from: 'must be a date (YYYY-MM-DD)' });
    expect(parse('from=2026-12-05&to=2026-12-01').problems).toEqual({
      to: 'must not be before the start date',
    });
    expect(parse('status=ringing').query).toBeNull();
  });
  it('decides whether a call that just started belongs on the newest page', () => {
    const call = {
      status: 'dialing',
      toNumber: '+14155550193',
      createdAt: new Date('2026-12-06T10:00:00.000Z'),
    } as CallRow;
    const q = (qs: string) => parse(qs).query ?? { limit: 25 };
    expect(callMatchesQuery(call, q(''))).toBe(true);
    expect(callMatchesQuery(call, q('status=live&q=0193'))).toBe(true);
    expect(callMatchesQuery(call, q('status=completed'))).toBe(false);
    expect(callMatchesQuery(call, q('q=0194'))).toBe(false);
    expect(callMatchesQuery(call, q('to=2026-12-05'))).toBe(false);
    expect(callMatchesQuery(call, q('from=2026-12-06&to=2026-12-06'))).toBe(true);
  });
  it('keeps the filters in the pager’s links', () => {
    const { filters } = parse('status=failed&q=555&cursor=abc');
    expect(listHref(filters)).toBe('/calls?status=failed&q=555');
    expect(listHref(filters, 'next')).toBe('/calls?status=failed&q=555&cursor=next');
    expect(listHref(parse('').filters)).toBe('/calls');
  });
});
