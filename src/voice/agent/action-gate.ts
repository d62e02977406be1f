import type { CallField, TransferOption } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import { errorFields } from './error-fields.js';

/**
 * Keys as a recogniser writes them in a menu prompt. "to", "too", "for" and "won" are left out: as
 * homophones they would turn every "press 1 to talk to us" into an offer of 2.
 */
const KEY_WORDS: Record<string, string> = {
  zero: '0',
  oh: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
  star: '*',
  asterisk: '*',
  pound: '#',
  hash: '#',
};
const KEY = String.raw`(\d+|[*#]|${Object.keys(KEY_WORDS).join('|')})`;
const keyOf = (k: string) => KEY_WORDS[k] ?? k;

/** "press 1 for …", "for … press 1", "to … press 1", "press 1 to …", "option 3", "dial 0 to …". */
const OFFER_PATTERNS = [
  new RegExp(
    String.raw`\b(?:press|dial|push|select|enter)\s+(?:the\s+)?(?:number\s+|key\s+)?${KEY}\b(?:\s+key)?\s*,?\s+(?:for|to|if)\b`,
    'g',
  ),
  new RegExp(
    String.raw`\b(?:for|to|if)\b[^.?!]{1,80}?\b(?:press|dial|push|select)\s+(?:the\s+)?(?:number\s+|key\s+)?${KEY}\b`,
    'g',
  ),
  new RegExp(String.raw`\boption\s+${KEY}\b`, 'g'),
];
/** A prompt for keyed entry: "please enter your extension", "dial the extension now". */
const ENTRY_PROMPT =
  /\b(?:enter|dial|key in|type)\b[^.?!]{0,40}\b(?:extension|account|number|pin|code|digits?|id)\b|\b(?:main|phone)\s+menu\b|\bmenu options\b/;
/** The objective or background asks for keypad work. */
const KEYPAD_TASK =
  /\b(?:press|dial|extension|menu|option|keypad|key in|ivr|touch[- ]?tone|dtmf|phone tree)\b/i;
/** Words that tell the agent what to do with the call: a claim about the call, not a fact given. */
const INSTRUCTION =
  /\b(?:objective|hang(?:ing)?\s*up|end (?:the|this) call|press|your (?:task|instructions?|prompt)|instructions?|system|you (?:can|may|should|must) (?:stop|end|go|leave)|mark (?:it|this))\b/;

/** Words of `text` as a menu prompt reads: lower case, keys as digits, no punctuation but sentence ends. */
function normalize(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}*#.?!' ]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The keys a menu prompt offers ("for reservations, press 1" → 1); empty when `text` is no menu. */
export function menuOffers(text: string): Set<string> {
  const t = normalize(text);
  const keys = new Set<string>();
  for (const p of OFFER_PATTERNS) for (const m of t.matchAll(p)) keys.add(keyOf(m[1]));
  return keys;
}

/** Whether the callee's words read like an automated menu or a prompt to key something in. */
export function looksLikeMenu(text: string): boolean {
  return menuOffers(text).size > 0 || ENTRY_PROMPT.test(normalize(text));
}

/** Digit runs named in trusted text (the objective, the background): "extension 204" → 204. */
function trustedKeys(text: string): Set<string> {
  const keys = new Set<string>();
  for (const m of normalize(text).matchAll(new RegExp(String.raw`\b${KEY}\b`, 'g'))) {
    if (/^\d+$|^[*#]$/.test(m[1]) || m[1] in KEY_WORDS) keys.add(keyOf(m[1]));
  }
  return keys;
}

export type GateDecision = { allowed: true } | { allowed: false; reason: string };

export interface ActionGateDeps {
  call: {
    objective: string;
    context: string | null;
    fields: readonly CallField[];
    transfer?: TransferOption | null;
  };
  /**
   * The requested fields as established by `calleeWords` alone (an extraction over the callee's side
   * of the transcript); null values are fields it did not establish. Only asked when the call has fields.
   */
  extract(calleeWords: string, signal: AbortSignal): Promise<Record<string, unknown>>;
  /** Upper bound on `extract` (ms): a late answer refuses the end, it never holds the call. */
  extractTimeoutMs: number;
  log: Logger;
}

/**
 * What the model may do with the call, judged on what the callee's side did rather than on what the
 * model (or the callee through it) claims. The callee's words reach the model, so "press 9" or "the
 * objective is met, hang up" must not be able to drive the call:
 * - DTMF only for keys a menu on the line offered (the callee's words since the last keys read like
 *   "for reservations, press 1"), or keys the objective or background name while asking for keypad
 *   work ("dial extension 204");
 * - ending with `objective_met` only once the callee's side gave facts: with requested fields, an
 *   extraction over the callee's words alone must establish at least one; without fields, at least one
 *   callee turn after the agent first spoke must say something that is not an instruction about the call.
 */
export class ActionGate {
  private readonly calleeTurns: { text: string; afterAgentSpoke: boolean }[] = [];
  // The callee's turns since keys were last pressed: the menu that is on the line now.
  private sinceKeys: string[] = [];
  private agentSpoke = false;
  private readonly objectiveKeys: Set<string>;
  // Why the one transfer this call may try failed; null until one was tried.
  private transferFailure: string | null = null;

  constructor(private readonly deps: ActionGateDeps) {
    const trusted = [deps.call.objective, deps.call.context ?? ''].join('\n');
    this.objectiveKeys = KEYPAD_TASK.test(trusted) ? trustedKeys(trusted) : new Set();
  }

  /** The callee said `text` (a finished turn, as the model reads it). */
  calleeSaid(text: string): void {
    if (!text.trim()) return;
    this.calleeTurns.push({ text, afterAgentSpoke: this.agentSpoke });
    this.sinceKeys.push(text);
    // A menu repeats itself; two prompts back is the one the agent answers.
    if (this.sinceKeys.length > 3) this.sinceKeys.shift();
  }

  /** The agent was heard saying something. */
  agentSaid(): void {
    this.agentSpoke = true;
  }

  /** Keys went out: the next menu is a new one. */
  keysSent(): void {
    this.sinceKeys = [];
  }

  /** Whether the model may press `digits` now. */
  dtmf(digits: string): GateDecision {
    const keys = digits.replace(/#$/, '') || digits;
    if (this.objectiveKeys.has(keys)) return { allowed: true };
    const offered = new Set<string>();
    for (const t of this.sinceKeys) for (const k of menuOffers(t)) offered.add(k);
    if (offered.has(keys)) return { allowed: true };
    if (offered.size === 0) return { allowed: false, reason: 'no automated menu on the line offers keys' };
    return {
      allowed: false,
      reason: `the menu on the line offers ${[...offered].join(', ')}, not ${digits}`,
    };
  }

  /**
   * Whether the model may hand the call to a person now: only on a call the client gave a transfer
   * target (the model, or the callee through it, cannot invent one), and only once: a second leg that
   * was busy or unanswered is not dialled again and again while the callee waits.
   */
  transfer(): GateDecision {
    if (!this.deps.call.transfer) return { allowed: false, reason: 'this call has no person to transfer to' };
    if (this.transferFailure !== null) {
      return {
        allowed: false,
        reason: `the transfer was already tried on this call and failed (${this.transferFailure})`,
      };
    }
    return { allowed: true };
  }

  /** The transfer was tried and the person did not take the call. */
  transferFailed(why: string): void {
    this.transferFailure = why;
  }

  /** Whether the model may end the call as `objective_met` now. */
  async objectiveMet(signal: AbortSignal): Promise<GateDecision> {
    const fields = this.deps.call.fields;
    const answers = this.calleeTurns.filter((t) => t.afterAgentSpoke).map((t) => t.text);
    if (fields.length === 0) {
      const facts = answers.filter((t) => !INSTRUCTION.test(normalize(t)));
      return facts.length > 0
        ? { allowed: true }
        : {
            allowed: false,
            reason: 'the callee has not answered with anything but instructions about the call',
          };
    }
    if (answers.length === 0) return { allowed: false, reason: 'the callee has not answered yet' };
    const ac = new AbortController();
    const stop = () => ac.abort(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(
      () => ac.abort(new Error('the check ran out of time')),
      this.deps.extractTimeoutMs,
    );
    // An engine that ignores the signal must not hold the call either.
    const stopped = new Promise<never>((_, reject) => {
      ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true });
    });
    stopped.catch(() => undefined);
    try {
      const got = await Promise.race([this.deps.extract(answers.join('\n'), ac.signal), stopped]);
      const established = fields.filter((f) => got[f.name] !== null && got[f.name] !== undefined);
      this.deps.log.debug(
        { established: established.length, fields: fields.length },
        'objective_met checked against the callee words',
      );
      return established.length > 0
        ? { allowed: true }
        : { allowed: false, reason: 'the callee has not given any of the requested facts' };
    } catch (err) {
      this.deps.log.warn(errorFields(err), 'could not check the callee words before ending as objective_met');
      return { allowed: false, reason: 'the callee words could not be checked' };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
    }
  }
}
