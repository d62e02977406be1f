import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

/**
 * A simulated callee: what the destination does with the call (answer, busy, …) and, once answered,
 * a small state machine of what it says and how it reacts to what it hears and to DTMF.
 * One JSON file in `scenarios/` per destination number; operators add their own.
 */

const e164 = z.string().regex(/^\+[1-9]\d{7,14}$/, 'must be an E.164 number such as +14155550100, or "*"');

const actionFields = {
  /** Spoken through the TTS engine. `{name}` placeholders are replaced by captured values. */
  say: z.string().min(1).max(2000).optional(),
  /** DTMF digits the callee presses after speaking (0-9, *, #, A-D). */
  dtmf: z
    .string()
    .regex(/^[0-9*#A-D]+$/)
    .optional(),
  /** Next state. */
  goto: z.string().min(1).optional(),
  /** Another scenario's number whose script continues the call (an IVR handing over to a person). */
  transfer: e164.optional(),
  /** Hang up (cause 16) once everything said has been heard. */
  hangup: z.boolean().optional(),
};

const action = z.strictObject(actionFields);

const rule = z.strictObject({
  /**
   * keywords: any of `keywords` appears as a word in what was heard; number: a count ("four", "4");
   * time: a time of day ("seven thirty", "8 pm"); anything: any utterance.
   */
  match: z.enum(['keywords', 'number', 'time', 'anything']),
  keywords: z.array(z.string().min(1).toLowerCase()).min(1).optional(),
  /** Stores the matched value (the number, the time, or the whole utterance) under this name. */
  capture: z
    .string()
    .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/)
    .optional(),
  /** The rule only applies once these values have been captured. */
  requires: z.array(z.string()).optional(),
  ...actionFields,
});

const state = z.strictObject({
  /** Said on entering the state. */
  say: z.string().min(1).max(2000).optional(),
  /** A 1 kHz beep of ~400 ms after `say` (voicemail). */
  beep: z.boolean().optional(),
  /** Records what the caller says after entering the state and transcribes it into the callee log. */
  record: z
    .strictObject({
      maxSeconds: z.number().positive().max(600).default(60),
      /** Silence after speech that ends the message. */
      silenceSeconds: z.number().positive().max(60).default(4),
    })
    .optional(),
  /** Hang up after `say` (and after the message when `record` is set). */
  hangup: z.boolean().optional(),
  rules: z.array(rule).default([]),
  dtmf: z
    .record(z.string().regex(/^[0-9*#A-D]$/, 'DTMF keys are single digits 0-9, *, #, A-D'), action)
    .optional(),
  /** Said when nothing in `rules` (nor the global rules) matched. */
  fallback: z.string().min(1).optional(),
});

export const scenarioSchema = z
  .strictObject({
    number: z.union([e164, z.literal('*')]),
    description: z.string().optional(),
    /**
     * What the network reports for the call. `no_extension`: the dial string leads to a dialplan
     * extension that does not exist (a Local channel): the originate is accepted, then the channel is
     * destroyed with cause 0 and no Dial event at all, as Asterisk does.
     */
    outcome: z.enum([
      'answer',
      'noanswer',
      'busy',
      'reject',
      'unallocated',
      'congestion',
      'unavailable',
      'no_extension',
    ]),
    /**
     * How Asterisk reaches this callee, which decides how it reports the end of an unanswered call.
     * `sip` (a SIP hop to the trunk): the Q.850 cause of the SIP answer (486 → 17, 404 → 1, 603 → 21,
     * 503 → 34, 480 → 19) with the Dial status Asterisk derives from it (`NOANSWER` for 1 and 21).
     * `local` (a Local channel into dialplan that runs Busy()/Congestion()): `ChannelDestroyed` cause 0,
     * and busy or congestion only in the Dial event's dialstatus (`BUSY`, `CONGESTION`).
     * Default: from the originate's endpoint (`Local/…` is `local`, `PJSIP/…` is `sip`).
     */
    network: z.enum(['sip', 'local']).optional(),
    /** Seconds of ringing before the outcome (for `noanswer`: until the callee gives up). */
    ringSeconds: z.number().min(0).max(600).default(2),
    voice: z.string().optional(),
    /** What the dialplan's AMD() concludes on this callee. */
    amd: z
      .strictObject({
        status: z.enum(['HUMAN', 'MACHINE', 'NOTSURE', 'HANGUP']),
        cause: z.string().min(1).optional(),
        /** How long the analysis takes (a real AMD needs 2–4 s of audio). */
        analysisMs: z.number().int().min(0).max(10_000).default(2500),
      })
      .optional(),
    /** Hangs up (cause 16) this many seconds after answering, whatever is going on. */
    hangupAfterSeconds: z.number().positive().max(3600).optional(),
    /** Silence that ends the caller's utterance, in ms. */
    endOfSpeechMs: z.number().int().min(100).max(5000).default(700),
    /** Pause between hearing the end of the caller's utterance and replying. */
    replyDelayMs: z.number().int().min(0).max(10_000).default(300),
    /**
     * false: the callee does not run speech recognition on what it hears and reacts to any utterance
     * as "[speech]" (only `anything` rules match). A human callee costs the agent's machine nothing;
     * the benchmark's callee must not take CPU from the agent it measures.
     */
    transcribe: z.boolean().default(true),
    start: z.string().default('start'),
    states: z.record(z.string().min(1), state).default({}),
    globalRules: z.array(rule).default([]),
    fallback: z.string().min(1).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.outcome === 'answer' && !s.states[s.start]) {
      ctx.addIssue({
        code: 'custom',
        path: ['start'],
        message: `state "${s.start}" is not defined in states`,
      });
    }
    const check = (target: string | undefined, where: (string | number)[]) => {
      if (target !== undefined && !s.states[target]) {
        ctx.addIssue({ code: 'custom', path: where, message: `goto target "${target}" is not a state` });
      }
    };
    const checkRule = (r: z.infer<typeof rule>, where: (string | number)[]) => {
      check(r.goto, [...where, 'goto']);
      if (r.match === 'keywords' && !r.keywords) {
        ctx.addIssue({
          code: 'custom',
          path: [...where, 'keywords'],
          message: 'required when match is "keywords"',
        });
      }
    };
    s.globalRules.forEach((r, i) => {
      checkRule(r, ['globalRules', i]);
    });
    for (const [name, st] of Object.entries(s.states)) {
      st.rules.forEach((r, i) => {
        checkRule(r, ['states', name, 'rules', i]);
      });
      for (const [key, a] of Object.entries(st.dtmf ?? {}))
        check(a.goto, ['states', name, 'dtmf', key, 'goto']);
    }
  });

export type Scenario = z.input<typeof scenarioSchema>;
export type ParsedScenario = z.output<typeof scenarioSchema>;
export type ScenarioRule = z.output<typeof rule>;
export type ScenarioAction = z.output<typeof action>;
export type ScenarioState = z.output<typeof state>;

export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

function describeIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  return `invalid scenario ${source}:\n${lines.join('\n')}`;
}

/** Validates one scenario; `source` (a file name) is named in the error. */
export function parseScenario(input: unknown, source = 'scenario'): ParsedScenario {
  const r = scenarioSchema.safeParse(input);
  if (!r.success) throw new ScenarioError(describeIssues(source, r.error));
  return r.data;
}

/** Every `*.json` in `dir`, validated; a bad file or a number claimed twice is a `ScenarioError`. */
export async function loadScenarioDir(dir: string): Promise<ParsedScenario[]> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch (err) {
    throw new ScenarioError(`cannot read scenario directory ${dir}: ${(err as Error).message}`);
  }
  const out: ParsedScenario[] = [];
  const owner = new Map<string, string>();
  for (const name of names) {
    const file = path.join(dir, name);
    let json: unknown;
    try {
      json = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (err) {
      throw new ScenarioError(`invalid scenario ${file}: not valid JSON (${(err as Error).message})`);
    }
    const s = parseScenario(json, file);
    const prev = owner.get(s.number);
    if (prev)
      throw new ScenarioError(`invalid scenario ${file}: number: ${s.number} is already defined in ${prev}`);
    owner.set(s.number, file);
    out.push(s);
  }
  return out;
}

/** Used for numbers no scenario claims when no `"*"` scenario is given. */
export const DEFAULT_SCENARIO: ParsedScenario = parseScenario(
  {
    number: '*',
    description: 'Answers, says hello, and answers anything with a polite fallback.',
    outcome: 'answer',
    ringSeconds: 1,
    amd: { status: 'HUMAN', cause: 'HUMAN-300-300' },
    states: { start: { say: 'Hello?' } },
    fallback: "Sorry, I'm not sure I can help with that.",
  },
  'built-in default scenario',
);

/** Directory of the scenarios shipped with agentline. */
export const BUNDLED_SCENARIOS_DIR = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  '..',
  '..',
  'scenarios',
);
