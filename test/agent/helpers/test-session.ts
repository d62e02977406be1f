import crypto from 'node:crypto';
import type { CallRow } from '../../../src/db/schema.js';
import type { CallSession } from '../../../src/telephony/call-session.js';
import type { WrapUpRequest } from '../../../src/voice/agent/conversation-agent.js';
import type { LoopbackCall } from './loopback-call.js';

export function makeCallRow(overrides: Partial<CallRow> = {}): CallRow {
  const now = new Date();
  return {
    id: crypto.randomUUID(),
    accountId: crypto.randomUUID(),
    status: 'in_progress',
    toNumber: '+14155550100',
    callerId: '+14155550199',
    objective: 'Book a table for two tomorrow at seven under the name Smith.',
    context: null,
    fields: [],
    language: 'en-US',
    voice: null,
    metadata: null,
    webhookUrl: null,
    maxDurationSeconds: 600,
    voicemail: { action: 'hangup' },
    transfer: null,
    summary: null,
    extracted: null,
    transcript: null,
    recordingFile: null,
    pbxRecording: null,
    endedReason: null,
    createdAt: now,
    dialedAt: now,
    startedAt: now,
    endedAt: null,
    durationSeconds: null,
    workerId: 'test',
    claimedAt: now,
    batchId: null,
    batchRow: null,
    startAt: null,
    expiresAt: null,
    scheduledFor: null,
    callWindow: null,
    timeZones: null,
    retryPolicy: null,
    attempt: 1,
    attempts: [],
    optOut: false,
    ...overrides,
  };
}

export interface TestSession {
  session: CallSession;
  /** Ends the call underneath the agent, like the controller does. */
  end(reason: 'callee_hung_up' | 'max_duration' | 'canceled' | 'shutdown'): void;
  /** Asks the agent to wrap up politely (the worker drains), ending with `reason`. */
  wrapUp(reason?: string): void;
  readonly dtmf: string[];
}

/** A live-call session over a loopback call; starts its pacing now (the moment of answer). */
export function startTestSession(call: LoopbackCall, row: CallRow = makeCallRow()): TestSession {
  const ac = new AbortController();
  const wrapUp = new AbortController();
  const dtmf: string[] = [];
  call.start();
  const session: CallSession & WrapUpRequest = {
    call: row,
    audio: call.audio,
    answeredAtMs: performance.now(),
    signal: ac.signal,
    async sendDtmf(digits) {
      dtmf.push(digits);
    },
    onDtmf: () => () => {},
    wrapUp: wrapUp.signal,
  };
  return {
    session,
    end: (reason) => ac.abort(reason),
    wrapUp: (reason = 'canceled') => wrapUp.abort(reason),
    dtmf,
  };
}
