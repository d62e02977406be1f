import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../logger.js';
import { createTurnTaking, type HeldReply, sameWords } from './turn-taking.js';

/** A listener's view driven by hand: partial text, its finality, and windows of audio time. */
function harness(
  opts: { earlyReplyAfterMs?: number; prefillReplyAfterMs?: number; final?: boolean | null } = {},
) {
  let partial = '';
  let final: boolean | null = opts.final ?? null;
  let open = false;
  const before: string[] = [];
  const replies: { heard: string; reply: HeldReply & { released: unknown; cancelled: string | null } }[] = [];
  const prefills: { said: string; asReply: boolean }[] = [];
  const tt = createTurnTaking<string>({
    options: {
      earlyReplyAfterMs: opts.earlyReplyAfterMs ?? 250,
      prefillReplyAfterMs: opts.prefillReplyAfterMs ?? 96,
    },
    partial: () => partial,
    partialIsFinal: () => final,
    heardBefore: () => before,
    mayReply: () => !open,
    turnOpen: () => open,
    startReply(heard) {
      const reply = {
        done: false,
        released: null as unknown,
        cancelled: null as string | null,
        release(after: unknown) {
          this.released = after;
        },
        cancel(reason: string) {
          this.cancelled = reason;
          this.done = true;
        },
      };
      replies.push({ heard, reply });
      return { reply, outcome: Promise.resolve(`reply to ${heard}`) };
    },
    prefill: (said, asReply) => prefills.push({ said, asReply }),
    log: silentLogger(),
  });
  let span = 0;
  /** `ms` of audio in 32 ms windows, voiced or not, with `text` as the partial. */
  const audio = (ms: number, voiced: boolean, text = partial) => {
    partial = text;
    for (let t = 0; t < ms; t += 32) {
      span += 32;
      tt.onSpeechProgress({ voicedNow: voiced, spanMs: span });
    }
  };
  return {
    tt,
    replies,
    prefills,
    before,
    audio,
    speechStart() {
      span = 0;
      tt.onSpeechStart();
    },
    setFinal: (f: boolean | null) => {
      final = f;
    },
    setOpen: (o: boolean) => {
      open = o;
    },
  };
}

describe('turn-taking', () => {
  it('starts an early reply after the pause, and releases it when the turn ends with the same words', async () => {
    const h = harness();
    h.speechStart();
    h.audio(600, true, 'yes we have a table');
    expect(h.replies).toEqual([]);
    h.audio(224, false);
    expect(h.replies).toEqual([]);
    h.audio(32, false);
    expect(h.replies.map((r) => r.heard)).toEqual(['yes we have a table']);
    const after = { text: 'Yes, we have a table.', startMs: 0, endMs: 1, sttFinalMs: 2 };
    expect(await h.tt.settle('Yes, we have a table.', after)).toBe('reply to yes we have a table');
    expect(h.replies[0].reply.released).toBe(after);
  });

  it('drops the early reply when the callee goes on, and answers the whole turn afresh', async () => {
    const h = harness();
    h.speechStart();
    h.audio(600, true, 'yes we have a table');
    h.audio(300, false);
    h.audio(32, true, 'yes we have a table at seven');
    expect(h.replies[0].reply.cancelled).toBe('callee went on');
    // The same pause again: the new words get a new early reply.
    h.audio(300, false);
    expect(h.replies.map((r) => r.heard)).toEqual(['yes we have a table', 'yes we have a table at seven']);
    expect(await h.tt.settle('yes we have a table at seven', null)).toBe(
      'reply to yes we have a table at seven',
    );
  });

  it('waits for a recogniser that marks its final text, and drops a reply whose words were rescored', async () => {
    const h = harness({ final: false });
    h.speechStart();
    h.audio(600, true, 'yes we have a cable');
    h.audio(400, false);
    expect(h.replies).toEqual([]);
    h.setFinal(true);
    h.audio(32, false);
    expect(h.replies.map((r) => r.heard)).toEqual(['yes we have a cable']);
    h.audio(32, false, 'yes we have a table');
    expect(h.replies[0].reply.cancelled).toBe('the partial changed');
    expect(await h.tt.settle('yes we have a table', null)).toBeNull();
  });

  it('answers the words of earlier utterances of the turn too, and drops a reply the final text contradicts', async () => {
    const h = harness();
    h.before.push('hello');
    h.speechStart();
    h.audio(300, true, 'who is this');
    h.audio(300, false);
    expect(h.replies.map((r) => r.heard)).toEqual(['hello who is this']);
    expect(await h.tt.settle('hello who is there', null)).toBeNull();
    expect(h.replies[0].reply.cancelled).toBe('the final words differ');
  });

  it('never starts a reply while an agent turn is open, nor reads ahead then', () => {
    const h = harness();
    h.setOpen(true);
    h.speechStart();
    h.audio(600, true, 'excuse me');
    h.audio(600, false);
    expect(h.replies).toEqual([]);
    expect(h.prefills).toEqual([]);
  });

  it('reads the words ahead while the callee speaks, and the reply too once they pause', () => {
    const h = harness({ earlyReplyAfterMs: 0 });
    h.speechStart();
    h.audio(64, true, 'for how');
    h.audio(64, true, 'for how many');
    h.audio(96, false);
    expect(h.prefills).toEqual([
      { said: 'for how', asReply: false },
      { said: 'for how many', asReply: false },
      { said: 'for how many', asReply: true },
    ]);
    // Nothing new to read: no repeat until the history changes.
    h.audio(200, false);
    expect(h.prefills).toHaveLength(3);
    h.tt.resetPrefill();
    h.audio(32, false);
    expect(h.prefills).toHaveLength(4);
    expect(h.replies).toEqual([]);
  });

  it('compares words without case or punctuation', () => {
    expect(sameWords('Yes, we have a table.', 'yes we have a table')).toBe(true);
    expect(sameWords('yes we have a table', 'yes we have tables')).toBe(false);
  });
});
