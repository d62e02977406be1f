import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { ConversationTurn } from '../../src/telephony/call-session.js';
import { createConversationAgent } from '../../src/voice/agent/conversation-agent.js';
import { SUMMARY_MAX_CHARS } from '../../src/voice/agent/schema.js';
import { summarizeCall } from '../../src/voice/agent/summarize-call.js';
import { abortError, DialogueOutputError } from '../../src/voice/dialogue/action-schema.js';
import { createScriptedDialogue } from '../../src/voice/dialogue/scripted.js';
import type { CompleteJsonOptions, DialogueEngine, JsonSchema } from '../../src/voice/dialogue/types.js';
import type { SpeechToText, TextToSpeech, VoiceActivityDetector } from '../../src/voice/types.js';
import { makeCallRow } from './helpers/test-session.js';

// summarize() never touches audio engines; these fail loudly if it ever did.
const unused = new Proxy(
  {},
  {
    get: (_t, p) =>
      p === 'then'
        ? undefined
        : () => {
            throw new Error(`audio engine used: ${String(p)}`);
          },
  },
);

const fields = [
  { name: 'booked', type: 'boolean' as const, description: 'whether the table was booked' },
  { name: 'party_size', type: 'number' as const },
  { name: 'time', type: 'string' as const },
  { name: 'deposit', type: 'number' as const, description: 'deposit asked for, in dollars' },
];

const turns: ConversationTurn[] = [
  {
    speaker: 'agent',
    text: 'Hello, I would like to book a table for 2 tomorrow.',
    startMs: 1500,
    endMs: 4000,
    interrupted: false,
  },
  { speaker: 'callee', text: 'yes we have a table at seven', startMs: 4700, endMs: 6500, interrupted: false },
  { speaker: 'agent', text: 'Great, please book it under', startMs: 7200, endMs: 8000, interrupted: true },
  { speaker: 'callee', text: 'it is booked', startMs: 7900, endMs: 8800, interrupted: false },
];

function spyDialogue() {
  const inner = createScriptedDialogue({
    opening: 'unused',
    extract: {
      booked: (t) => (/\bbooked\b/.test(t) ? 'yes' : null),
      party_size: /table for (\d+)/,
      time: /table at (\w+)/,
      deposit: /deposit of (\d+)/,
      stray: /./,
    },
    summary: 'The agent booked a table for two at seven.',
    deltaDelayMs: 1,
  });
  const calls: { messages: unknown[]; schema: JsonSchema }[] = [];
  const engine: DialogueEngine = {
    ...inner,
    completeJson(messages, schema, opts) {
      calls.push({ messages: [...messages], schema });
      return inner.completeJson(messages, schema, opts);
    },
  };
  return { engine, calls };
}

function agentWith(dialogue: DialogueEngine) {
  return createConversationAgent({
    stt: unused as SpeechToText,
    tts: unused as TextToSpeech,
    vad: unused as VoiceActivityDetector,
    dialogue,
    logger: silentLogger(),
  });
}

describe('summarize', () => {
  it('returns a summary and typed extracted values, null where the call did not establish them', async () => {
    const { engine, calls } = spyDialogue();
    const call = makeCallRow({ fields });
    const out = await agentWith(engine).summarize(call, turns);
    expect(out).toEqual({
      summary: 'The agent booked a table for two at seven.',
      extracted: { booked: true, party_size: 2, time: 'seven', deposit: null },
    });
    // One model call, constrained by the schema built from the fields, over the whole transcript.
    expect(calls).toHaveLength(1);
    const extractedSchema = (calls[0].schema.properties as Record<string, JsonSchema>).extracted;
    expect(extractedSchema.required).toEqual(['booked', 'party_size', 'time', 'deposit']);
    const transcript = JSON.stringify(calls[0].messages);
    expect(transcript).toContain('Callee: it is booked');
    expect(transcript).toContain('Agent: Great, please book it under [interrupted]');
  });

  it('with no turns says nobody spoke and gives all-null fields without calling the model', async () => {
    const { engine, calls } = spyDialogue();
    const out = await agentWith(engine).summarize(makeCallRow({ fields }), []);
    expect(out.summary).toMatch(/nobody spoke/);
    expect(out.extracted).toEqual({ booked: null, party_size: null, time: null, deposit: null });
    expect(calls).toHaveLength(0);
  });

  it('still works when the callee hung up right after the opening', async () => {
    const { engine } = spyDialogue();
    const out = await agentWith(engine).summarize(makeCallRow({ fields }), turns.slice(0, 1));
    expect(out.extracted).toEqual({ booked: null, party_size: 2, time: null, deposit: null });
    expect(out.summary).not.toBeNull();
  });

  it('gives a transcript-built summary and null fields when the model fails, instead of throwing or null', async () => {
    const failing: DialogueEngine = {
      name: 'failing',
      nextAction: () => Promise.reject(new Error('unused')),
      completeJson: () => Promise.reject(new Error('model crashed')),
      close: async () => {},
    };
    const out = await agentWith(failing).summarize(makeCallRow({ fields }), turns);
    expect(out.extracted).toEqual({ booked: null, party_size: null, time: null, deposit: null });
    expect(out.summary).toContain('the agent spoke twice and the callee twice');
    expect(out.summary).toContain(`The callee's last words: "it is booked".`);
  });

  it('gives an empty object when the call asked for no fields', async () => {
    const { engine } = spyDialogue();
    const out = await agentWith(engine).summarize(makeCallRow({ fields: [] }), turns);
    expect(out.extracted).toEqual({});
  });
});

/** An engine whose answer never comes unless its signal aborts (a model stuck behind live calls). */
function stuckDialogue(seen: CompleteJsonOptions[] = []): DialogueEngine {
  return {
    name: 'stuck',
    nextAction: () => Promise.reject(new Error('unused')),
    completeJson: (_m, _s, opts) =>
      new Promise((_resolve, reject) => {
        seen.push(opts ?? {});
        opts?.signal?.addEventListener('abort', () => reject(abortError(opts.signal?.reason)), {
          once: true,
        });
      }),
    close: async () => {},
  };
}

describe('summarizeCall bounds', () => {
  const deps = (dialogue: DialogueEngine, extra: Partial<Parameters<typeof summarizeCall>[0]> = {}) => ({
    dialogue,
    logger: silentLogger(),
    ...extra,
  });

  it('asks for the answer at background priority, within the token cap, with every string length-bounded', async () => {
    const seen: CompleteJsonOptions[] = [];
    const schemas: JsonSchema[] = [];
    const inner = stuckDialogue(seen);
    const engine: DialogueEngine = {
      ...inner,
      completeJson: (m, schema, opts) => {
        schemas.push(schema);
        return inner.completeJson(m, schema, opts);
      },
    };
    const ac = new AbortController();
    const out = summarizeCall(
      deps(engine, { signal: ac.signal, maxTokens: 200 }),
      makeCallRow({ fields }),
      turns,
    );
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]).toMatchObject({ priority: 'background', maxTokens: 200 });
    const props = schemas[0].properties as Record<string, JsonSchema>;
    expect(props.summary.maxLength).toBe(SUMMARY_MAX_CHARS);
    expect((props.extracted.properties as Record<string, JsonSchema>).time.maxLength).toBeGreaterThan(0);
    ac.abort();
    expect((await out).summary).toMatch(/^Automatic summary unavailable/);
  });

  it('gives up on a model that does not answer by timeoutMs, with a summary still', async () => {
    const out = await summarizeCall(deps(stuckDialogue(), { timeoutMs: 50 }), makeCallRow({ fields }), turns);
    expect(out.summary).toMatch(/^Automatic summary unavailable/);
    expect(out.extracted).toEqual({ booked: null, party_size: null, time: null, deposit: null });
  });

  it('keeps the summary of an answer cut off by the token cap once its summary was complete', async () => {
    const cut: DialogueEngine = {
      ...stuckDialogue(),
      completeJson: () =>
        Promise.reject(
          new DialogueOutputError(
            'did not finish',
            '{"summary": "The agent asked for a table for two and the host said \\"booked\\".", "extracted": {"booked": tr',
          ),
        ),
    };
    const out = await summarizeCall(deps(cut), makeCallRow({ fields }), turns);
    expect(out.summary).toBe('The agent asked for a table for two and the host said "booked".');
    expect(out.extracted).toEqual({ booked: null, party_size: null, time: null, deposit: null });
  });

  it('bounds the transcript it sends: a long call keeps its start and its end', async () => {
    const { engine, calls } = spyDialogue();
    const long: ConversationTurn[] = Array.from({ length: 400 }, (_, i) => ({
      speaker: i % 2 ? 'callee' : 'agent',
      text: `line ${i} ${'words '.repeat(10)}`,
      startMs: i * 1000,
      endMs: i * 1000 + 900,
      interrupted: false,
    }));
    const out = await summarizeCall(deps(engine), makeCallRow({ fields }), long);
    expect(out.summary).toBe('The agent booked a table for two at seven.');
    const prompt = JSON.stringify(calls[0].messages);
    expect(prompt.length).toBeLessThan(12_000);
    expect(prompt).toContain('line 0 ');
    expect(prompt).toContain('line 399 ');
    expect(prompt).toContain('part of the call left out');
  });
});
