import { describe, expect, it } from 'vitest';
import {
  classifyUnanswered,
  isShutdownHangup,
  isSpecificCause,
} from '../../src/telephony/ari/call-outcomes.js';

const busy = 'declined/busy';
const rejected = 'declined/rejected';
const noAnswer = 'no_answer/no_answer_timeout';
const unallocated = 'failed/unallocated_number';
const network = 'failed/network_error';

const outcome = (cause: number | null, dialstatus: string | null) => {
  const o = classifyUnanswered({ cause, dialstatus });
  return `${o.status}/${o.endedReason}`;
};

describe('classifyUnanswered: the table of docs/telephony.md', () => {
  // Every cause the table names, with every final dialstatus Asterisk may report beside it (and none).
  // A specific cause decides whatever the dialstatus says: Asterisk reports NOANSWER for every cause
  // it has no dial status of its own for (ast_hangup_cause_to_dial_status).
  const dialstatuses = [null, '', 'RINGING', 'BUSY', 'CONGESTION', 'NOANSWER', 'CHANUNAVAIL'];
  const specific: [number, string][] = [
    [1, unallocated],
    [22, unallocated],
    [28, unallocated],
    [17, busy],
    [21, rejected],
    [18, noAnswer],
    [19, noAnswer],
    [3, network],
    [20, network],
    [27, network],
    [34, network],
    [38, network],
    [41, network],
    [42, network],
    [127, network],
  ];
  for (const [cause, expected] of specific) {
    it.each(dialstatuses)(`cause ${cause} with dialstatus %s is ${expected}`, (dialstatus) => {
      expect(outcome(cause, dialstatus)).toBe(expected);
    });
  }

  // Generic causes (none, 0 unknown, 16/31 normal clearing): the dialstatus decides.
  const byDialstatus: [string | null, string][] = [
    ['BUSY', busy],
    ['busy', busy],
    ['NOANSWER', noAnswer],
    ['CONGESTION', network],
    ['CHANUNAVAIL', network],
    ['RINGING', network],
    ['', network],
    [null, network],
  ];
  for (const cause of [null, 0, 16, 31]) {
    it.each(byDialstatus)(`cause ${cause} with dialstatus %s is %s`, (dialstatus, expected) => {
      expect(outcome(cause, dialstatus)).toBe(expected);
    });
  }

  it('the sequences seen on a real Asterisk', () => {
    expect(outcome(1, 'NOANSWER')).toBe(unallocated); // SIP 404
    expect(outcome(21, 'NOANSWER')).toBe(rejected); // SIP 603
    expect(outcome(17, 'BUSY')).toBe(busy); // SIP 486
    expect(outcome(34, 'CONGESTION')).toBe(network); // SIP 503
    expect(outcome(0, 'BUSY')).toBe(busy); // Local channel, Busy()
    expect(outcome(0, 'CONGESTION')).toBe(network); // Local channel, Congestion()
    expect(outcome(19, 'RINGING')).toBe(noAnswer); // ring timeout: no final NOANSWER
    expect(outcome(0, null)).toBe(network); // Local channel to an extension that does not exist
  });

  it('a PBX that went away while ringing is a network error, whatever it reported on its way down', () => {
    expect(classifyUnanswered({ cause: 0, dialstatus: 'NOANSWER', pbxWentAway: true })).toEqual({
      status: 'failed',
      endedReason: 'network_error',
    });
    expect(classifyUnanswered({ cause: 19, dialstatus: 'NOANSWER', pbxWentAway: true }).endedReason).toBe(
      'network_error',
    );
  });

  it('returns a fresh object each time (the controller adds the recording and summary to it)', () => {
    const a = classifyUnanswered({ cause: 17 });
    a.recordingFile = 'x.wav';
    expect(classifyUnanswered({ cause: 17 })).toEqual({ status: 'declined', endedReason: 'busy' });
  });
});

describe('cause helpers', () => {
  it('generic causes are not specific', () => {
    expect([null, undefined, 0, 16, 31].map(isSpecificCause)).toEqual([false, false, false, false, false]);
    expect([1, 17, 19, 21, 34].map(isSpecificCause)).toEqual([true, true, true, true, true]);
  });

  it("a soft hangup request's cause is an AST_SOFTHANGUP reason: 4 is the PBX shutting down", () => {
    expect(isShutdownHangup({ cause: 4, soft: true })).toBe(true);
    // 32: an ARI DELETE; 8: a dialplan timeout; a hard request's cause 4 is Q.850 "special information tone".
    expect(isShutdownHangup({ cause: 32, soft: true })).toBe(false);
    expect(isShutdownHangup({ cause: 8, soft: true })).toBe(false);
    expect(isShutdownHangup({ cause: 4 })).toBe(false);
    expect(isShutdownHangup({ soft: true })).toBe(false);
  });
});
