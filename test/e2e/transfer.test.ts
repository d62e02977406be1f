import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scenario } from '../../src/pbx-sim/index.js';
import type { AriEvent } from '../../src/telephony/ari/types.js';
import { createScriptedDialogue } from '../../src/voice/dialogue/scripted.js';
import type { DialogueEngine, DialogueMessage } from '../../src/voice/dialogue/types.js';
import { type Receiver, startReceiver } from '../webhooks/receiver.js';
import { VOICED_RMS, wavEnvelope } from './helpers/audio-checks.js';
import {
  type CallJson,
  type E2eStack,
  loadVoiceEngines,
  startE2eStack,
  type VoiceEngines,
} from './helpers/e2e-stack.js';

// Transfer to a person through the whole pipeline: the real API, the real conversation agent (only its
// dialogue scripted), the call controller and transfer.ts over ARI, and the simulated PBX whose second
// leg is a scenario number (scenarios/transfer-*.json) bridged with the callee as Asterisk mixes them.

/** Asks for a person, then waits; whatever it hears next (the person taking over) it answers, then hangs up. */
const ASKS_FOR_PERSON = '+14155550170';
/** Asks for a person; when the agent answers, asks whether it is still there; then hangs up after the goodbye. */
const ASKS_AGAIN = '+14155550171';
/** Asks for a person and hangs up once the agent answered (while the person's phone rings). */
const GIVES_UP = '+14155550174';
const DESK = '+14155550160';
const DESK_BUSY = '+14155550161';
const DESK_NO_ANSWER = '+14155550162';

const CALLEE_REPLY = 'Hi Sam, I need to change my booking for Friday.';
const SAM_GREETING = 'Front desk, Sam speaking.';
const SAM_WARM_LINE = 'Hi, this is Sam from the front desk. How can I help you?';

const callees: Scenario[] = [
  {
    number: ASKS_FOR_PERSON,
    outcome: 'answer',
    ringSeconds: 1,
    amd: { status: 'HUMAN', analysisMs: 300 },
    // It reacts to anything it hears: the person taking over speaks with a voice its ears do not know.
    transcribe: false,
    start: 'start',
    states: {
      start: {
        say: 'Hello, can I speak to a person please?',
        rules: [{ match: 'anything', goto: 'waiting' }],
      },
      waiting: { rules: [{ match: 'anything', say: CALLEE_REPLY, hangup: true }] },
    },
  },
  {
    number: ASKS_AGAIN,
    outcome: 'answer',
    ringSeconds: 1,
    amd: { status: 'HUMAN', analysisMs: 300 },
    transcribe: false,
    start: 'start',
    states: {
      start: {
        say: 'Hello, can I speak to a person please?',
        rules: [{ match: 'anything', say: 'Hello? Are you still there?', goto: 'bye' }],
      },
      bye: { rules: [{ match: 'anything', hangup: true }] },
    },
  },
  {
    number: GIVES_UP,
    outcome: 'answer',
    ringSeconds: 1,
    amd: { status: 'HUMAN', analysisMs: 300 },
    transcribe: false,
    start: 'start',
    states: {
      start: {
        say: 'Hello, can I speak to a person please?',
        rules: [{ match: 'anything', hangup: true }],
      },
    },
  },
] as Scenario[];

const HANDOVER = 'One moment please, I will connect you with a colleague.';
const SORRY = 'I am sorry, nobody can take your call right now. Goodbye.';

/** The agent's script: a request for a person is a transfer (once); anything else ends the call. */
function transferDialogue(seen: DialogueMessage[][]): DialogueEngine {
  const engine = createScriptedDialogue({
    rules: [
      {
        match: /person/i,
        once: true,
        action: {
          action: 'transfer',
          say: HANDOVER,
          summary: 'The caller wants to change a booking for Friday.',
        },
      },
    ],
    fallback: { action: 'end', outcome: 'objective_impossible', say: SORRY },
  });
  return {
    ...engine,
    nextAction: (messages, opts) => {
      seen.push(messages.map((m) => ({ ...m })));
      return engine.nextAction(messages, opts);
    },
  };
}

let engines: VoiceEngines;
let stack: E2eStack;
let receiver: Receiver;
const transferLegs: string[] = [];

beforeAll(async () => {
  // Both sides know the other's lines (known-words-stt.ts), so what the script reacts to does not hang
  // on recognition luck; the audio still crosses the whole media path.
  engines = await loadVoiceEngines({ knownWords: true });
  stack = await startE2eStack({
    engines,
    transport: 'websocket',
    scenarios: callees,
    env: { RING_TIMEOUT_SECONDS: '5' },
    // Long enough for the connected part of these calls: their callee hangs up within it.
    settings: { transferRecordSeconds: 30 },
  });
  receiver = await startReceiver();
  // Every second leg our application gets (StasisStart with the `transfer` argument).
  stack.ari.onEvent((ev: AriEvent) => {
    if (ev.type === 'StasisStart' && ev.args?.[0] === 'transfer') transferLegs.push(ev.channel.id);
  });
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await receiver?.close();
  await engines?.close();
});

function contextOf(call: CallJson, ...numbers: string[]): string {
  const logs = numbers.map(
    (n) =>
      `${n}:\n${stack.sim
        .calleeLog(n)
        .map((e) => `  ${e.at} ${e.kind}: ${e.text}`)
        .join('\n')}`,
  );
  return `status ${call.status}/${call.endedReason}\ntranscript:\n${call.transcript}\n${logs.join('\n')}`;
}

/** The callee log of `number`'s latest call (the log keeps every call to a number). */
function lastCallLog(number: string) {
  const log = stack.sim.calleeLog(number);
  const latest = [...log].reverse().find((e) => e.text.startsWith('incoming call'));
  return latest ? log.filter((e) => e.channelId === latest.channelId) : [];
}

/** Nothing of the call is left on the PBX: no channel, no bridge (the second leg's included). */
async function expectNothingLeft(context: string): Promise<void> {
  await expect
    .poll(
      () => ({
        channels: stack.sim.channels().map((c) => (c as { name: string }).name),
        bridges: stack.sim.bridges().length,
      }),
      {
        timeout: 20_000,
        message: context,
      },
    )
    .toEqual({ channels: [], bridges: 0 });
}

/** Voiced time (ms) in a recording from `fromMs` on, and in a line as the callee's voice says it. */
function voicedMs(rms: number[], fromMs = 0): number {
  return rms.slice(Math.floor(fromMs / 20)).filter((r) => r >= VOICED_RMS).length * 20;
}

async function lineVoicedMs(text: string): Promise<number> {
  const pcm = await engines.calleeTts.synthesize(text);
  const n = Math.round(pcm.sampleRate / 50);
  let voiced = 0;
  for (let off = 0; off + n <= pcm.samples.length; off += n) {
    let sum = 0;
    for (let i = off; i < off + n; i++) sum += pcm.samples[i] * pcm.samples[i];
    if (Math.sqrt(sum / n) >= VOICED_RMS) voiced += 20;
  }
  return voiced;
}

async function webhookOf(callId: string, event: string): Promise<Record<string, any>> {
  const find = () =>
    receiver.received.map((r) => JSON.parse(r.body)).find((b) => b.callId === callId && b.event === event);
  await expect.poll(find, { timeout: 15_000 }).toBeTruthy();
  return find();
}

describe.each(['cold', 'warm'] as const)('a %s transfer the callee asks for', (mode) => {
  it('connects the callee to the person, ends completed/transferred, records both, leaves nothing behind', {
    timeout: 120_000,
  }, async () => {
    const seen: DialogueMessage[][] = [];
    stack.useAgent({ dialogue: () => transferDialogue(seen) });
    const legsBefore = transferLegs.length;
    const callId = await stack.placeCall({
      to: ASKS_FOR_PERSON,
      objective: 'Help the caller with their booking.',
      transfer: { to: DESK, mode, when: 'the caller asks for a person' },
      webhookUrl: receiver.url,
    });
    const call = await stack.waitForEnd(callId);
    const context = contextOf(call, ASKS_FOR_PERSON, DESK);
    expect([call.status, call.endedReason], context).toEqual(['completed', 'transferred']);

    // The prompt carried the condition; the agent said its handover line; the transcript marks the transfer.
    expect(seen[0]?.[0].content, context).toContain('the caller asks for a person');
    const agentLines = call.turns.filter((t) => t.speaker === 'agent').map((t) => t.text);
    expect(agentLines, context).toEqual([HANDOVER, `[transferred to ${DESK}]`]);
    expect(call.transcript, context).toMatch(new RegExp(`Agent: \\[transferred to \\${DESK}\\]$`));
    expect(transferLegs.length - legsBefore, context).toBe(1);

    // The person heard the callee through the bridge and the callee heard the person: their audio is mixed.
    const desk = lastCallLog(DESK);
    const deskSaid = desk.filter((e) => e.kind === 'said').map((e) => e.text);
    expect(deskSaid[0], context).toBe(SAM_GREETING);
    const callee = lastCallLog(ASKS_FOR_PERSON);
    expect(
      callee.filter((e) => e.kind === 'said').map((e) => e.text),
      context,
    ).toContain(CALLEE_REPLY);
    // The callee heard the person once they were connected (its next utterance after the person spoke).
    const deskSpokeAt = desk.find((e) => e.kind === 'said' && e.text === deskSaid.at(-1))!.at;
    expect(
      callee.some((e) => e.kind === 'heard' && e.at > deskSpokeAt),
      context,
    ).toBe(true);
    if (mode === 'warm') {
      // The person heard the brief (the model's summary) before being connected, and answered it.
      expect(
        desk.some((e) => e.kind === 'heard' && /wants to change a booking for friday/.test(e.text)),
        context,
      ).toBe(true);
      expect(deskSaid, context).toContain(SAM_WARM_LINE);
      // The callee did not hear the brief: it was in the person's bridge only.
      expect(callee.filter((e) => e.kind === 'heard').length, context).toBe(2);
    }

    // The recording goes on past the agent: after the transfer it holds the person's line and the
    // callee's answer, more voiced time than either one alone.
    const res = await stack.request(new URL(call.recordingUrl!, stack.url).pathname);
    expect(res.status, context).toBe(200);
    const { rms } = wavEnvelope(new Uint8Array(await res.arrayBuffer()));
    const marker = call.turns.find((t) => t.text.startsWith('[transferred'))!;
    const samLine = await lineVoicedMs(mode === 'warm' ? SAM_WARM_LINE : SAM_GREETING);
    const reply = await lineVoicedMs(CALLEE_REPLY);
    const after = voicedMs(rms, marker.startMs);
    expect(
      after,
      `${context}\nvoiced after the transfer ${after} ms; person ${samLine} ms, callee ${reply} ms`,
    ).toBeGreaterThan(Math.max(samLine, reply) * 1.15);

    // The webhook says so too.
    const hook = await webhookOf(callId, 'call.completed');
    expect(hook, context).toMatchObject({ status: 'completed', endedReason: 'transferred' });
    expect(hook.transcript).toBe(call.transcript);

    // The callee hung up: the person's leg was hung up for it, and the bridge went.
    await expectNothingLeft(context);
  });
});

describe.each([
  ['busy', DESK_BUSY],
  ['no_answer', DESK_NO_ANSWER],
] as const)('a transfer whose person is %s', (outcome, number) => {
  it('tells the callee, carries on, hangs the second leg up and leaves nothing behind', {
    timeout: 120_000,
  }, async () => {
    const seen: DialogueMessage[][] = [];
    stack.useAgent({ dialogue: () => transferDialogue(seen) });
    const legsBefore = transferLegs.length;
    const callId = await stack.placeCall({
      to: ASKS_FOR_PERSON,
      objective: 'Help the caller with their booking.',
      transfer: { to: number, mode: 'cold' },
    });
    const call = await stack.waitForEnd(callId);
    const context = contextOf(call, ASKS_FOR_PERSON, number);
    expect(call.status, context).toBe('completed');
    expect(['objective_impossible', 'callee_hung_up'], context).toContain(call.endedReason);

    // The marker names why; the model heard why at once and told the callee (its next line).
    const agentLines = call.turns.filter((t) => t.speaker === 'agent').map((t) => t.text);
    expect(agentLines.slice(0, 3), context).toEqual([
      HANDOVER,
      `[transfer to ${number} failed: ${outcome}]`,
      SORRY,
    ]);
    const note = seen.at(-1)?.at(-1)?.content ?? '';
    expect(note, context).toMatch(
      outcome === 'busy'
        ? /The transfer failed: the line of the person was busy/
        : /The transfer failed: the person did not answer/,
    );
    // The second leg never answered, and is gone (busy: the network ended it; no answer: the ring timeout).
    expect(transferLegs.length - legsBefore, context).toBe(0);
    expect(
      stack.sim.calleeLog(number).some((e) => e.text.startsWith('not answered')),
      context,
    ).toBe(true);
    await expectNothingLeft(context);
  });
});

describe('a transfer the model asks for on a call without a target', () => {
  it('is refused by the gate: no second leg, the model is told, the call goes on', {
    timeout: 120_000,
  }, async () => {
    const seen: DialogueMessage[][] = [];
    stack.useAgent({ dialogue: () => transferDialogue(seen) });
    const legsBefore = transferLegs.length;
    const callId = await stack.placeCall({
      to: ASKS_AGAIN,
      objective: 'Help the caller with their booking.',
    });
    const call = await stack.waitForEnd(callId);
    const context = contextOf(call, ASKS_AGAIN);
    expect([call.status, call.endedReason], context).toEqual(['completed', 'objective_impossible']);
    expect(transferLegs.length - legsBefore, context).toBe(0);
    expect(call.transcript, context).not.toMatch(/\[transfer/);
    // The prompt offered no transfer, and the turn after the refused one read why it was refused.
    expect(seen[0]?.[0].content, context).not.toContain('transfer this call to a person');
    expect(seen.length, context).toBeGreaterThanOrEqual(2);
    expect(seen[1].at(-1)?.content, context).toContain(
      'The call was not transferred: this call has no person to transfer to.',
    );
    // The refused action is not in the history as a transfer: the model reads what really happened.
    expect(
      seen[1].some((m) => m.role === 'assistant' && m.content.includes('"transfer"')),
      context,
    ).toBe(false);
    await expectNothingLeft(context);
  });
});

describe('a callee who hangs up while the person rings', () => {
  it('ends the call as callee_hung_up, marks the transfer stopped, and takes the second leg down', {
    timeout: 120_000,
  }, async () => {
    const seen: DialogueMessage[][] = [];
    stack.useAgent({ dialogue: () => transferDialogue(seen) });
    const callId = await stack.placeCall({
      to: GIVES_UP,
      objective: 'Help the caller with their booking.',
      transfer: { to: DESK_NO_ANSWER, mode: 'cold' },
    });
    const call = await stack.waitForEnd(callId);
    const context = contextOf(call, GIVES_UP, DESK_NO_ANSWER);
    expect([call.status, call.endedReason], context).toEqual(['completed', 'callee_hung_up']);
    const agentLines = call.turns.filter((t) => t.speaker === 'agent').map((t) => t.text);
    expect(agentLines, context).toEqual([
      HANDOVER,
      `[transfer to ${DESK_NO_ANSWER} stopped: the call ended]`,
    ]);
    // We hung the person's ringing phone up (before its own ring timeout ended it).
    expect(lastCallLog(DESK_NO_ANSWER).at(-1)?.text, context).toBe('missed call (caller gave up)');
    await expectNothingLeft(context);
  });
});
