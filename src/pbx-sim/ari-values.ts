/**
 * Values shaped exactly the way Asterisk 22 writes them: timestamps, ids, hangup causes and the
 * dial status a hangup cause turns into.
 */

/** Asterisk writes `2024-05-01T10:20:30.123+0000`, not ISO's `Z`. */
export function ariTimestamp(date: Date = new Date()): string {
  return date.toISOString().replace('Z', '+0000');
}

/** Q.850 causes the simulator produces, with Asterisk's `ast_cause2str` texts. */
export const CAUSES = {
  unknown: { code: 0, text: 'Unknown' },
  unallocated: { code: 1, text: 'Unallocated (unassigned) number' },
  noRoute: { code: 3, text: 'No route to destination' },
  normal: { code: 16, text: 'Normal Clearing' },
  busy: { code: 17, text: 'User busy' },
  noUserResponse: { code: 18, text: 'No user responding' },
  noAnswer: { code: 19, text: 'User alerting, no answer' },
  subscriberAbsent: { code: 20, text: 'Subscriber absent' },
  rejected: { code: 21, text: 'Call Rejected' },
  answeredElsewhere: { code: 26, text: 'Answered elsewhere' },
  outOfOrder: { code: 27, text: 'Destination out of order' },
  invalidNumber: { code: 28, text: 'Invalid number format (addr incomplete)' },
  normalUnspecified: { code: 31, text: 'Normal, unspecified' },
  congestion: { code: 34, text: 'Circuit/channel congestion' },
  bearerCapNotAvail: { code: 58, text: 'Bearer capability not available' },
  interworking: { code: 127, text: 'Interworking, unspecified' },
} as const;

export type Cause = { code: number; text: string };

const BY_CODE = new Map<number, Cause>(Object.values(CAUSES).map((c) => [c.code, c]));

export function causeByCode(code: number): Cause {
  return BY_CODE.get(code) ?? { code, text: 'Unknown' };
}

/** `DELETE /channels/{id}?reason=` as Asterisk maps it (res/ari/resource_channels.c). */
export const HANGUP_REASONS: Record<string, number> = {
  normal: 16,
  busy: 17,
  congestion: 34,
  no_answer: 19,
  timeout: 19,
  rejected: 21,
  unallocated: 1,
  normal_unspecified: 31,
  number_incomplete: 28,
  codec_mismatch: 58,
  interworking: 127,
  failure: 27,
  answered_elsewhere: 26,
};

/**
 * `ast_hangup_cause_to_dial_status`: what a Dial event reports for a callee that ended unanswered.
 * Every cause it has no status of its own for is `NOANSWER`: a SIP 404 (cause 1) and a 603 (cause 21)
 * both arrive as `NOANSWER`, beside their cause. (`CANCEL` is only for a call the caller gave up.)
 */
export function dialStatusForCause(code: number): string {
  switch (code) {
    case 17:
      return 'BUSY';
    case 34:
      return 'CONGESTION';
    case 3:
    case 20:
      return 'CHANUNAVAIL';
    default:
      return 'NOANSWER';
  }
}

/** `ast_softhangup()` reasons, which a soft ChannelHangupRequest carries as its `cause` (not Q.850). */
export const SOFTHANGUP = { shutdown: 0x04, explicit: 0x20 } as const;

/** Asterisk-style unique ids: `<unix seconds>.<sequence>`. */
export function createIdSource(): { next(): string; seq(): number } {
  let n = 0;
  const epoch = Math.floor(Date.now() / 1000);
  return {
    next: () => `${epoch}.${n++}`,
    seq: () => n++,
  };
}

/** Eight hex digits, as in channel names `PJSIP/trunk-0000001a`. */
export function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
