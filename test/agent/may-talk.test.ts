import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { ConversationTurn } from '../../src/telephony/call-session.js';
import { createConversationAgent } from '../../src/voice/agent/conversation-agent.js';
import { createScriptedDialogue } from '../../src/voice/dialogue/scripted.js';
import type { DialogueMessage } from '../../src/voice/dialogue/types.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { TextToSpeech, VoiceActivityDetector } from '../../src/voice/types.js';
import { createSileroVad } from '../../src/voice/vad/silero.js';
import { createLoopbackCall } from './helpers/loopback-call.js';
import { createScriptedCallee } from './helpers/scripted-callee.js';
import { createScriptedStt } from './helpers/scripted-stt.js';
import { makeCallRow, startTestSession } from './helpers/test-session.js';

let tts: TextToSpeech;
const vads: VoiceActivityDetector[] = [];
const cleanups: (() => void)[] = [];
beforeAll(async () => {
  tts = await createFliteTts();
});
afterAll(async () => {
  await tts?.close();
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const v of vads.splice(0)) await v.close();
});

const GREETING = "Hello, this is Mario's restaurant, how can I help you today?";
const REPLY = 'Hi, I would like to book a table for two tonight.';

async function until(what: string, fn: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * An agent started at answer while the controller still tells a person from a machine
 * (`CallSession.mayTalk` pending): it hears the callee's greeting and keeps it as their turn, says
 * nothing, and once let speak answers what it heard.
 */
async function setup() {
  const call = createLoopbackCall(16_000);
  const vad = await createSileroVad();
  vads.push(vad);
  const stt = createScriptedStt();
  const inputs: DialogueMessage[][] = [];
  const inner = createScriptedDialogue({
    deltaDelayMs: 10,
    fallback: { action: 'end', outcome: 'objective_impossible', say: REPLY },
  });
  const agent = createConversationAgent({
    stt,
    tts,
    vad,
    dialogue: {
      ...inner,
      nextAction(messages, opts) {
        inputs.push([...messages]);
        return inner.nextAction(messages, opts);
      },
    },
    logger: silentLogger(),
  });
  const callee = createScriptedCallee({ call, tts, onSay: (text, pcm) => stt.expect(text, pcm) });
  const ts = startTestSession(call, makeCallRow());
  let letTalk: () => void = () => {};
  const mayTalk = new Promise<void>((resolve) => {
    letTalk = resolve;
  });
  cleanups.push(() => {
    callee.close();
    call.stop();
  });
  const turns: ConversationTurn[] = [];
  const done = agent.converse({ ...ts.session, mayTalk }, (t) => turns.push(t));
  const agentSpoke = () => call.sent.some((f) => f.voiced);
  return { call, callee, ts, turns, done, inputs, letTalk, agentSpoke };
}

describe('an agent that may not speak yet (CallSession.mayTalk)', () => {
  it('hears and records the greeting, stays silent, and once let speak answers the greeting', async () => {
    const s = await setup();
    await s.callee.say(GREETING);
    await until('the greeting to be recorded as the callee turn', () => s.turns.length > 0);
    expect(s.turns.map((t) => t.speaker)).toEqual(['callee']);
    expect(s.turns[0].text).toMatch(/mario/i);
    // Two seconds of the call's media clock later (past the agent's 1.5 s greeting wait, and far past
    // its usual reply time): still silent.
    const sentBefore = s.call.sent.length;
    await until('two more seconds of media', () => s.call.sent.length >= sentBefore + 100);
    expect(s.agentSpoke()).toBe(false);
    expect(s.inputs).toEqual([]);

    s.letTalk();
    expect(await s.done).toEqual({ end: 'objective_impossible' });
    expect(s.turns.map((t) => [t.speaker, t.text])).toEqual([
      ['callee', s.turns[0].text],
      ['agent', REPLY],
    ]);
    // The reply answers the greeting: its latency counts from the greeting's end, and the model read it.
    expect(s.turns[1].latency?.calleeSpeechEndMs).toBe(s.turns[0].endMs);
    const asked = s.inputs.at(-1)?.at(-1)?.content ?? '';
    expect(asked.toLowerCase()).toContain('mario');
  }, 60_000);

  it('a call that ends before the agent may speak: it ends with the call, having said nothing', async () => {
    const s = await setup();
    await s.callee.say(GREETING);
    await until('the greeting to be recorded as the callee turn', () => s.turns.length > 0);
    s.ts.end('callee_hung_up');
    expect(await s.done).toEqual({ end: 'callee_hung_up' });
    expect(s.agentSpoke()).toBe(false);
    expect(s.turns.map((t) => t.speaker)).toEqual(['callee']);
  }, 60_000);
});
