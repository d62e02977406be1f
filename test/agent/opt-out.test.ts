import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/logger.js';
import type { ConversationTurn } from '../../src/telephony/call-session.js';
import { createConversationAgent } from '../../src/voice/agent/conversation-agent.js';
import { createScriptedDialogue, type DialogueScript } from '../../src/voice/dialogue/scripted.js';
import type { AgentAction, DialogueEngine, DialogueMessage } from '../../src/voice/dialogue/types.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { TextToSpeech, VoiceActivityDetector } from '../../src/voice/types.js';
import { createSileroVad } from '../../src/voice/vad/silero.js';
import { createLoopbackCall } from './helpers/loopback-call.js';
import { createScriptedCallee } from './helpers/scripted-callee.js';
import { createScriptedStt } from './helpers/scripted-stt.js';
import { makeCallRow, startTestSession } from './helpers/test-session.js';

// "Please take me off your list": a callee who asks not to be called again, over a real-time loopback
// call (flite audio, Silero VAD, a recogniser that knows the callee's words). The model's end action
// carries the opt-out; the conversation reports it to its owner (the controller, which puts it in the
// call's outcome), and the agent still says goodbye.

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

const OPENING =
  "Hello, this is an automated assistant calling for Doctor Lee's office to confirm your appointment tomorrow at nine. Is that still fine?";
const ASK = "Please take me off your list and don't call me again.";
const OPT_OUT_GOODBYE: AgentAction = {
  action: 'end',
  outcome: 'objective_impossible',
  say: 'I am sorry for the trouble. You will not be called again. Goodbye.',
  optOut: true,
};
const OPT_OUT_RULE = { match: /\b(off your list|call me again)\b/, action: OPT_OUT_GOODBYE };

async function setup(script: DialogueScript, row?: Parameters<typeof makeCallRow>[0]) {
  const call = createLoopbackCall(16_000);
  const vad = await createSileroVad();
  vads.push(vad);
  const inner = createScriptedDialogue({ deltaDelayMs: 10, ...script });
  const inputs: DialogueMessage[][] = [];
  const chosen: AgentAction[] = [];
  const chosenWaiters = new Set<() => void>();
  const engine: DialogueEngine = {
    ...inner,
    async nextAction(messages, opts) {
      inputs.push([...messages]);
      const action = await inner.nextAction(messages, opts);
      chosen.push(action);
      for (const w of [...chosenWaiters]) w();
      return action;
    },
  };
  /** Resolves once the model has chosen an action matching `pred`. */
  const modelChose = (pred: (a: AgentAction) => boolean) =>
    new Promise<AgentAction>((resolve) => {
      const check = () => {
        const a = chosen.find(pred);
        if (!a) return;
        chosenWaiters.delete(check);
        resolve(a);
      };
      chosenWaiters.add(check);
      check();
    });
  const stt = createScriptedStt();
  const agent = createConversationAgent({
    stt,
    tts,
    vad,
    dialogue: engine,
    logger: process.env.AGENT_TEST_LOG ? createLogger(process.env.AGENT_TEST_LOG) : silentLogger(),
  });
  const callee = createScriptedCallee({ call, tts, onSay: (text, pcm) => stt.expect(text, pcm) });
  const ts = startTestSession(call, makeCallRow(row));
  cleanups.push(() => {
    callee.close();
    call.stop();
  });
  const turns: ConversationTurn[] = [];
  const done = agent.converse(ts.session, (t) => turns.push(t));
  return { call, callee, ts, turns, done, inputs, modelChose };
}

describe('a callee who asks not to be called again', () => {
  it('gets a polite goodbye, and the conversation ends with the opt-out', async () => {
    const { callee, turns, done, inputs } = await setup({
      opening: OPENING,
      rules: [OPT_OUT_RULE],
      fallback: 'Sorry, could you say that again?',
    });
    await callee.agentFinished();
    await callee.say(ASK);
    const result = await done;
    expect(result, JSON.stringify(turns)).toEqual({ end: 'objective_impossible', optOut: true });
    // The goodbye was said to its end, and the callee heard it.
    await callee.agentFinished();
    expect(turns.map((t) => [t.speaker, t.text, t.interrupted])).toEqual([
      ['agent', OPENING, false],
      ['callee', "please take me off your list and don't call me again", false],
      ['agent', OPT_OUT_GOODBYE.say, false],
    ]);
    // The model was told when to opt out, and read the callee's request as the callee's words.
    const last = inputs.at(-1)!;
    expect(last[0].role).toBe('system');
    expect(last[0].content).toMatch(/asks not to be called again/);
    expect(last.at(-1)!.content).toContain("<callee>please take me off your list and don't call me again");
  }, 90_000);

  it('an ordinary goodbye carries no opt-out', async () => {
    const { callee, done } = await setup({
      opening: OPENING,
      rules: [
        OPT_OUT_RULE,
        {
          match: /\b(fine|yes)\b/,
          action: { action: 'end', outcome: 'objective_met', say: 'Thank you, see you tomorrow. Goodbye.' },
        },
      ],
    });
    await callee.agentFinished();
    await callee.say('Yes, that is fine.');
    expect(await done).toEqual({ end: 'objective_met' });
  }, 90_000);

  it('keeps the opt-out when the callee hangs up during the goodbye', async () => {
    const longGoodbye: AgentAction = {
      ...OPT_OUT_GOODBYE,
      say: 'I understand, and I am sorry for the trouble. I have noted that you do not want any more calls from us, so nobody will call this number again about this or anything else. Have a good day. Goodbye.',
    };
    const { call, callee, ts, turns, done, modelChose } = await setup({
      opening: OPENING,
      rules: [{ ...OPT_OUT_RULE, action: longGoodbye }],
    });
    await callee.agentFinished();
    await callee.say(ASK);
    // The agent started its goodbye and the model chose the opt-out: the callee hangs up on it once
    // a second of it went out on the media clock (so its first words stand in the transcript, however
    // late a loaded machine runs).
    await Promise.all([callee.agentSpeechStart(), modelChose((a) => a.action === 'end')]);
    await call.voicedFrames(call.sent.filter((f) => f.voiced).length + 50);
    ts.end('callee_hung_up');
    const result = await done;
    expect(result, JSON.stringify(turns)).toEqual({ end: 'callee_hung_up', optOut: true });
    // The goodbye is the agent's last turn (a loaded recogniser may have split the request, and the
    // first half drawn a reply of its own).
    const goodbye = turns.filter((t) => t.speaker === 'agent').at(-1);
    expect(goodbye && goodbye.text !== OPENING, JSON.stringify(turns)).toBe(true);
    expect(goodbye!.interrupted, JSON.stringify(turns)).toBe(true);
    expect(longGoodbye.say.startsWith(goodbye!.text), JSON.stringify(turns)).toBe(true);
    expect(goodbye!.text.length).toBeLessThan(longGoodbye.say.length);
  }, 90_000);

  it('is let go even when the model ends as objective_met without the facts', async () => {
    // objective_met with no requested fact established is refused by the gate (the agent would keep
    // pursuing); a callee who asked to be left alone is not kept on the line for it.
    const { callee, turns, done } = await setup(
      {
        opening: OPENING,
        rules: [{ ...OPT_OUT_RULE, action: { ...OPT_OUT_GOODBYE, outcome: 'objective_met' } }],
      },
      { fields: [{ name: 'confirmed', type: 'boolean', description: 'whether they confirmed' }] },
    );
    await callee.agentFinished();
    await callee.say(ASK);
    expect(await done, JSON.stringify(turns)).toEqual({ end: 'objective_impossible', optOut: true });
    expect(turns.filter((t) => t.speaker === 'agent')).toHaveLength(2);
  }, 90_000);
});
