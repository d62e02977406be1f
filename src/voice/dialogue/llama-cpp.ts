import fs from 'node:fs/promises';
import type {
  ChatHistoryItem,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaJsonSchemaGrammar,
  LlamaModel,
} from 'node-llama-cpp';
import type { Logger } from '../../logger.js';
import {
  ACTION_FORMAT_HINT,
  ACTION_RESPONSE_PREFIX,
  abortError,
  actionContinuationGrammar,
  DialogueOutputError,
  parseAgentAction,
  SAY_MAX,
  SUMMARY_MAX,
  withFormatHint,
} from './action-schema.js';
import { SayExtractor } from './say-extractor.js';
import { createSpeedWatch } from './speed-watch.js';
import type {
  AgentAction,
  DialogueConversation,
  DialogueEngine,
  DialogueMessage,
  JsonSchema,
  NextActionOptions,
  PrepareOptions,
} from './types.js';

/** A grammar built from a caller's schema; its value type is only known at run time. */
type ActionGrammar = LlamaJsonSchemaGrammar<any, any>;

/** Returns why the file is not a plausible GGUF model, or null when its header looks right. */
export async function checkGgufHeader(file: string): Promise<string | null> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
  }
  try {
    const b = Buffer.alloc(24);
    const { bytesRead } = await fh.read(b, 0, 24, 0);
    if (bytesRead < 24 || b.toString('latin1', 0, 4) !== 'GGUF') return 'not a GGUF file (bad magic)';
    const version = b.readUInt32LE(4);
    if (version !== 2 && version !== 3) return `unsupported GGUF version ${version}`;
    const tensors = b.readBigUInt64LE(8);
    const kvs = b.readBigUInt64LE(16);
    if (tensors === 0n || tensors > 1_000_000n || kvs > 100_000n) return 'corrupt GGUF header';
    return null;
  } finally {
    await fh.close();
  }
}

export interface LlamaCppDialogueOptions {
  /** Path of a GGUF chat model (instruction-tuned, with a chat template). */
  modelPath: string;
  logger: Logger;
  /** false (default): CPU only, never builds llama.cpp. 'auto': use a GPU backend when one is available. */
  gpu?: false | 'auto';
  /**
   * Sequences of the shared context: calls that generate at the same time, and calls whose prompt
   * stays evaluated between turns. Size it to the concurrent calls. Default 4.
   */
  sequences?: number;
  /** Tokens each sequence can hold (prompt + history + reply). Default: min(train context, 4096). */
  contextSize?: number;
  /** CPU threads for evaluations that serve no reply yet: warm-up and read-ahead (default: node-llama-cpp's choice). */
  threads?: number;
  /**
   * CPU threads while a reply (or a JSON completion) is generated; default `threads`. A reply is
   * generated once the callee has stopped talking, when the speech recogniser is idle, so it can
   * have the core that read-ahead must leave to the recogniser while the callee speaks. Used while
   * at most two calls are live (see TURN_THREADS_MAX_CALLS).
   */
  turnThreads?: number;
  /** Most tokens one reply may generate. Default 512. */
  maxTokens?: number;
  /** Sampling temperature; 0 (default) is greedy, which suits a phone agent that must stay on task. */
  temperature?: number;
  /**
   * The actions the model may choose (default all). A deployment that never navigates IVRs can drop
   * `dtmf`; the benchmark keeps only `speak` so random weights cannot end or derail a measured call.
   */
  actions?: readonly AgentAction['action'][];
  /**
   * Below this many tokens a second of reply writing (the median of recent replies), the engine warns
   * once that replies will come slowly and what to do about it. Default 15; 0 turns it off.
   */
  slowTokensPerSecond?: number;
}

/**
 * Dialogue on node-llama-cpp. ONE model is loaded and serves every call through one context with
 * several sequences, which costs far less memory than a context per call and keeps the weights
 * loaded once (node-llama-cpp batches what the sequences have queued together; concurrent replies'
 * single tokens rarely meet, and on CPU would not gain from it: docs/performance.md). Replies come
 * first: other work on the context yields to them (see the gate below).
 * A call keeps its sequence between turns (see `openConversation`), so a turn evaluates only what
 * is new; with more live calls than sequences, a turn takes the least recently used one (and pays
 * for re-reading its prompt), and waits when all are generating.
 */
export async function createLlamaCppDialogue(opts: LlamaCppDialogueOptions): Promise<DialogueEngine> {
  const log = opts.logger.child({ engine: 'llama-cpp' });
  // Check the GGUF header first: a missing or corrupt file gets a clear error before the native
  // runtime starts (node-llama-cpp's own reader can spin on garbage lengths).
  const headerProblem = await checkGgufHeader(opts.modelPath);
  if (headerProblem) throw new Error(`llama-cpp: cannot load model ${opts.modelPath}: ${headerProblem}`);
  const { getLlama, LlamaChat, LlamaLogLevel } = await import('node-llama-cpp');
  let llama: Llama;
  try {
    llama = await getLlama({
      gpu: opts.gpu === 'auto' ? 'auto' : false,
      build: 'never',
      logLevel: LlamaLogLevel.error,
      logger: (level, message) => {
        if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal)
          log.error({ llama: message.trim() });
      },
    });
  } catch (err) {
    throw new Error(`llama-cpp: no usable llama.cpp binary for this platform: ${(err as Error).message}`);
  }
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: opts.modelPath });
  } catch (err) {
    await llama.dispose();
    throw new Error(`llama-cpp: cannot load model ${opts.modelPath}: ${(err as Error).message}`);
  }
  const meta = model.fileInfo.metadata as { general?: { name?: string } } | undefined;
  const modelName = meta?.general?.name ?? '';
  if (modelName.startsWith('random-')) {
    log.warn(
      { model: opts.modelPath, name: modelName },
      'the dialogue model is a synthetic random-weight GGUF: it runs at a real model speed but speaks gibberish; install a real model with `npx agentline models fetch`',
    );
  }
  const slowBelow = opts.slowTokensPerSecond ?? 15;
  const speed =
    slowBelow > 0
      ? createSpeedWatch({
          minTokensPerSecond: slowBelow,
          onSlow: (tokensPerSecond) =>
            log.warn(
              { tokensPerSecond: Math.round(tokensPerSecond * 10) / 10, model: opts.modelPath },
              'the dialogue model writes replies slowly on this machine, so callees will wait a second or more for each answer; faster: a GPU server (LLM_URL), a smaller GGUF (LLM_MODEL), a machine with more cores, or fewer calls at once (WORKER_CONCURRENCY)',
            ),
        })
      : null;
  const sequences = Math.max(1, Math.floor(opts.sequences ?? 4));
  const perSequence = opts.contextSize ?? Math.min(model.trainContextSize, 4096);
  let context: LlamaContext;
  try {
    context = await model.createContext({
      sequences,
      contextSize: perSequence * sequences,
      threads: opts.turnThreads
        ? { ideal: Math.max(opts.turnThreads, opts.threads ?? 1), min: 1 }
        : opts.threads,
    });
  } catch (err) {
    await model.dispose();
    await llama.dispose();
    throw new Error(
      `llama-cpp: cannot create a context of ${perSequence}×${sequences} tokens: ${(err as Error).message}`,
    );
  }
  const slots: Slot[] = Array.from({ length: sequences }, (_, i) => ({
    seq: context.getSequence(),
    busy: false,
    owner: null,
    lastUsed: i,
  }));
  /** Requests waiting for a sequence, in arrival order; background ones are served after all others. */
  const waiting: Array<{ conv: Conversation | null; background: boolean; take: (s: Slot) => void }> = [];
  const actionGrammar = await llama.createGrammar({ grammar: actionContinuationGrammar(opts.actions) });
  log.info(
    { model: opts.modelPath, name: modelName, sequences, contextSize: perSequence },
    'dialogue model loaded',
  );

  // node-llama-cpp takes each batch's thread count from the Llama instance's limit, so switching that
  // limit switches the threads of the next batch (one in progress keeps its own).
  let turnsGenerating = 0;
  let liveConversations = 0;
  const setThreads = () => {
    if (!opts.turnThreads) return;
    const boost = turnsGenerating > 0 && liveConversations <= TURN_THREADS_MAX_CALLS;
    llama.maxThreads = boost ? opts.turnThreads : (opts.threads ?? 1);
  };
  setThreads();

  let closed = false;
  // Cuts evaluations that serve no turn (warm-up, read-ahead) at shutdown, between batches.
  const closing = new AbortController();
  /**
   * Read-ahead, warm-up and background work yield to replies at llama.cpp batch boundaries.
   * node-llama-cpp puts whatever sequences have queued into one batch, and a batch cannot be cut:
   * a read-ahead of another call queued beside a reply's next token made that step as long as the
   * read-ahead (bench, 1B shape, 1 thread, AMD EPYC: the reply wrote 13.1 tokens/s alone, 7.5
   * beside a reader of 1-token chunks, 4.6 beside 4-token chunks, 1.8 beside 16), so reading in
   * small chunks between reply steps costs the reply as much as waiting does. Its evaluation
   * priority only orders what does not fit in a batch of 512 tokens, so it cannot do this. Instead
   * every evaluation below reply priority is fed to the context in slices of READ_AHEAD_SLICE tokens
   * (while any call is live),
   * and a slice waits while any reply is being generated (`turnsGenerating`): a starting reply waits
   * for at most the one slice already in llama.cpp, and no reply step shares a batch with read-ahead.
   * A parked slice goes on when its own call's turn needs it (`urgent`: the turn's prompt is that
   * read-ahead) and when a turn waits for a sequence (a parked slice holds one); a decode not started
   * yet is dropped when its work is aborted (a summary's timeout), and all of them at shutdown.
   */
  const urgent = new Set<number>();
  const sliceSignals = new Map<number, AbortSignal>();
  const parked = new Set<() => void>();
  const mayRun = (sequenceId: number) =>
    closed || turnsGenerating === 0 || urgent.has(sequenceId) || waiting.some((w) => !w.background);
  const wakeParked = () => {
    for (const wake of [...parked]) wake();
  };
  const untilMayRun = (sequenceId: number, abortable: boolean): Promise<void> => {
    const signal = abortable ? sliceSignals.get(sequenceId) : undefined;
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    if (mayRun(sequenceId)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        parked.delete(check);
        signal?.removeEventListener('abort', check);
      };
      const check = () => {
        if (signal?.aborted) {
          done();
          reject(abortError(signal.reason));
        } else if (mayRun(sequenceId)) {
          done();
          resolve();
        }
      };
      parked.add(check);
      signal?.addEventListener('abort', check, { once: true });
    });
  };
  type QueuedDecode = {
    sequenceId: number;
    firstTokenSequenceIndex: number;
    tokens: number[];
    logits: (true | undefined)[];
    evaluationPriority?: number;
  };
  // node-llama-cpp's internal entry point for every evaluation of every sequence (3.x): wrapping it
  // is the one place where work can wait between batches. Reply-priority work passes untouched.
  const internals = context as unknown as {
    _decodeTokens(d: QueuedDecode, mapper: unknown): Promise<Array<[number, unknown]>>;
  };
  if (typeof internals._decodeTokens !== 'function') {
    // node-llama-cpp is pinned (package.json); a version without this entry point still works, with
    // read-ahead sharing batches with replies as before (test/voice-engines/llama-cpp-priority fails then).
    log.warn('llama-cpp: this node-llama-cpp has no _decodeTokens; read-ahead will not yield to replies');
  }
  const decodeTokens =
    typeof internals._decodeTokens === 'function' ? internals._decodeTokens.bind(context) : null;
  if (decodeTokens)
    internals._decodeTokens = async (d, mapper) => {
      if ((d.evaluationPriority ?? PRIORITY.reply) >= PRIORITY.reply) return decodeTokens(d, mapper);
      const out: Array<[number, unknown]> = [];
      for (let at = 0; at < d.tokens.length; ) {
        // Only cut before the first slice: node-llama-cpp records the tokens of a decode when all of
        // it returns, so a decode cut halfway would leave KV cells its sequence does not know of (and
        // llama.cpp refuses the next decode of that sequence). Once started, it finishes, still yielding.
        await untilMayRun(d.sequenceId, at === 0);
        if (closed) throw abortError(closing.signal.reason);
        // With no live call no reply can start soon (a new call rings first): the rest in one batch,
        // which reads faster (the warm-up at start took 70 s for 4 sequences in slices, bench 1B shape).
        const end = liveConversations > 0 ? at + READ_AHEAD_SLICE : d.tokens.length;
        const res = await decodeTokens(
          {
            ...d,
            firstTokenSequenceIndex: d.firstTokenSequenceIndex + at,
            tokens: d.tokens.slice(at, end),
            logits: d.logits.slice(at, end),
          },
          mapper,
        );
        out.push(...res);
        at = end;
      }
      return out;
    };
  const sequenceIdOf = (slot: Slot) => (slot.seq as unknown as { _sequenceId: number })._sequenceId;
  /** Runs `fn` with `slot`'s yielding work cut when `signal` aborts (see the gate above). */
  const yieldingOn = async <T>(slot: Slot, signal: AbortSignal | undefined, fn: () => Promise<T>) => {
    const id = sequenceIdOf(slot);
    sliceSignals.set(id, signal ? AbortSignal.any([signal, closing.signal]) : closing.signal);
    try {
      return await fn();
    } finally {
      sliceSignals.delete(id);
    }
  };
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    p.then(
      () => inFlight.delete(p),
      () => inFlight.delete(p),
    );
    return p;
  };

  /**
   * A free sequence for `conv`: its own when free (its prompt is still evaluated there); else the
   * least recently used one no live call owns (every call's prompt starts with the same fixed
   * instructions, so even another call's leftovers save work); else one another call owns (that call
   * loses its cache, not its turn).
   */
  const pick = (conv: Conversation | null, background = false): Slot | null => {
    if (conv?.slot && !conv.slot.busy) return conv.slot;
    const free = slots.filter((s) => !s.busy).sort((a, b) => a.lastUsed - b.lastUsed);
    // Background work never costs a live call its evaluated prompt.
    if (background) return free.find((s) => s.owner === null) ?? null;
    return free.find((s) => s.owner === null) ?? free[0] ?? null;
  };
  const take = (slot: Slot, conv: Conversation | null): Slot => {
    slot.busy = true;
    if (slot.owner && slot.owner !== conv) slot.owner.slot = null;
    slot.owner = conv;
    if (conv) conv.slot = slot;
    return slot;
  };
  const acquire = (conv: Conversation | null, signal?: AbortSignal, background = false): Promise<Slot> => {
    // Background work also waits while any turn waits: it must not take the sequence a turn is waiting for.
    const s = background && waiting.some((w) => !w.background) ? null : pick(conv, background);
    if (s) return Promise.resolve(take(s, conv));
    return new Promise((resolve, reject) => {
      const entry = {
        conv,
        background,
        take: (slot: Slot) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(take(slot, conv));
        },
      };
      const onAbort = () => {
        const i = waiting.indexOf(entry);
        if (i >= 0) waiting.splice(i, 1);
        reject(abortError(signal?.reason));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiting.push(entry);
      // A slice parked on a busy sequence may hold the one this turn waits for: it goes on.
      if (!background) wakeParked();
    });
  };
  let clock = sequences;
  /**
   * Hands a free sequence to a waiting request: the call whose own sequence it is first, then turns
   * first come, first served, then background work, which only takes a sequence no live call owns.
   */
  const offer = (slot: Slot) => {
    if (slot.busy) return;
    if (slot.owner?.closed) slot.owner = null;
    let i = waiting.findIndex((w) => w.conv !== null && w.conv === slot.owner);
    if (i < 0) i = waiting.findIndex((w) => !w.background);
    if (i < 0 && slot.owner === null) i = waiting.findIndex((w) => w.background);
    if (i < 0) return;
    const next = waiting.splice(i, 1)[0];
    next.take(slot);
  };
  const release = (slot: Slot) => {
    slot.busy = false;
    slot.lastUsed = clock++;
    offer(slot);
  };

  const format = (messages: readonly DialogueMessage[]) => withFormatHint(messages, ACTION_FORMAT_HINT);

  const toHistory = (messages: readonly DialogueMessage[]): ChatHistoryItem[] =>
    messages.map((m): ChatHistoryItem => {
      if (m.role === 'system') return { type: 'system', text: m.content };
      if (m.role === 'user') return { type: 'user', text: m.content };
      return { type: 'model', response: [m.content] };
    });

  /** The prompt of a turn that answers `messages`: the model's reply opens with the fixed `{"say":"`. */
  const replyHistory = (messages: readonly DialogueMessage[]): ChatHistoryItem[] => [
    ...toHistory(format(messages)),
    { type: 'model', response: [ACTION_RESPONSE_PREFIX] },
  ];

  /**
   * Evaluates the prompt of a turn answering `messages` into the slot's sequence, all but its last
   * token: LlamaChat re-reads the last one to sample from it, and keeps the rest when it matches.
   */
  const evaluateReplyPrompt = async (
    slot: Slot,
    messages: readonly DialogueMessage[],
    signal?: AbortSignal,
  ): Promise<void> => {
    const chat = new LlamaChat({ contextSequence: slot.seq, autoDisposeSequence: false });
    try {
      const { contextText } = chat.chatWrapper.generateContextState({ chatHistory: replyHistory(messages) });
      const tokens = contextText.tokenize(model.tokenizer).slice(0, -1);
      if (tokens.length >= slot.seq.contextSize) return;
      await slot.seq.adaptStateToTokens(tokens, false);
      // The end in small batches, so that a turn that starts meanwhile takes over after at most one of
      // them: it reads the rest itself, on more threads, or other words when the callee's final text
      // changed. What comes before (a long prompt on a cold sequence) goes in one evaluation, which reads
      // faster (in READ_AHEAD_SLICE batches: it yields to other calls' replies like all read-ahead).
      let at = slot.seq.nextTokenIndex;
      const tail = tokens.length - REPLY_PREFILL_TAIL;
      const readAhead = { evaluationPriority: PRIORITY.readAhead };
      if (at < tail) {
        await slot.seq.evaluateWithoutGeneratingNewTokens(tokens.slice(at, tail), readAhead);
        at = tail;
      }
      for (; at < tokens.length; at += REPLY_PREFILL_BATCH) {
        if (closing.signal.aborted || signal?.aborted) return;
        await slot.seq.evaluateWithoutGeneratingNewTokens(
          tokens.slice(at, at + REPLY_PREFILL_BATCH),
          readAhead,
        );
      }
    } finally {
      chat.dispose({ disposeSequence: false });
    }
  };

  /** Evaluates `messages` into the slot's sequence without generating (a trailing user message stays open). */
  const evaluate = async (slot: Slot, messages: readonly DialogueMessage[]): Promise<void> => {
    const history = toHistory(format(messages));
    const last = history.at(-1);
    let open = '';
    if (last?.type === 'user') {
      open = last.text;
      history[history.length - 1] = { type: 'user', text: '' };
    } else {
      history.push({ type: 'user', text: '' });
    }
    const chat = new LlamaChat({ contextSequence: slot.seq, autoDisposeSequence: false });
    try {
      await chat.loadChatAndCompleteUserMessage(history, {
        initialUserPrompt: open,
        maxTokens: 0,
        signal: closing.signal,
        evaluationPriority: PRIORITY.readAhead,
      });
    } finally {
      chat.dispose({ disposeSequence: false });
    }
  };

  /**
   * Runs `evaluation` (read-ahead priority: it yields to replies) on a slot taken for it, then gives
   * the slot back; never throws.
   */
  const evaluateAndRelease = async (slot: Slot, what: string, evaluation: () => Promise<void>) => {
    const meterAtStart = slot.seq.tokenMeter.getState();
    try {
      await yieldingOn(slot, undefined, evaluation);
    } catch (err) {
      log.debug({ err }, `${what} failed`);
    } finally {
      release(slot);
    }
    return slot.seq.tokenMeter.diff(meterAtStart);
  };

  const generate = async (
    conv: Conversation | null,
    history: ChatHistoryItem[],
    grammar: LlamaGrammar,
    o: {
      signal?: AbortSignal;
      stop?: AbortSignal;
      onText?: (chunk: string) => void;
      /** How long the turn waited for a read-ahead in progress before it came here (for the debug log). */
      waitedMs?: number;
      maxTokens?: number;
      /** Work no caller waits for on the line (see CompleteJsonOptions.priority). */
      background?: boolean;
    },
  ): Promise<{ text: string; stopped: boolean }> => {
    if (closed) throw new Error('llama-cpp: engine is closed');
    if (o.signal?.aborted) throw abortError(o.signal.reason);
    const maxTokens = o.maxTokens ?? opts.maxTokens ?? 512;
    const background = o.background === true;
    const started = performance.now();
    const slot = await acquire(conv, o.signal, background);
    const acquiredMs = performance.now() - started;
    let firstTextMs: number | null = null;
    const onText = (chunk: string) => {
      firstTextMs ??= performance.now() - started;
      o.onText?.(chunk);
    };
    const chat = new LlamaChat({ contextSequence: slot.seq, autoDisposeSequence: false });
    const meterAtStart = slot.seq.tokenMeter.getState();
    // Background work gets no turn threads: the cores stay with the live calls' recognisers.
    if (!background) turnsGenerating++;
    setThreads();
    return track(
      (async () => {
        try {
          const respond = () =>
            chat.generateResponse(history, {
              grammar,
              signal: o.stop ? AbortSignal.any(o.signal ? [o.signal, o.stop] : [o.stop]) : o.signal,
              stopOnAbortSignal: o.stop !== undefined,
              maxTokens,
              temperature: opts.temperature ?? 0,
              onTextChunk: onText,
              // Background work yields to replies between its tokens (see the gate above).
              evaluationPriority: background ? PRIORITY.background : PRIORITY.reply,
            });
          const res = await (background ? yieldingOn(slot, o.signal, respond) : respond());
          if (o.signal?.aborted) throw abortError(o.signal.reason);
          if (o.stop?.aborted) return { text: res.response, stopped: true };
          if (res.metadata.stopReason === 'maxTokens') {
            throw new DialogueOutputError(
              `the model's reply did not finish within ${maxTokens} tokens`,
              res.response,
            );
          }
          return { text: res.response, stopped: false };
        } catch (err) {
          if (o.signal?.aborted) throw abortError(o.signal.reason);
          throw err;
        } finally {
          if (!background) turnsGenerating--;
          setThreads();
          wakeParked();
          const used = slot.seq.tokenMeter.diff(meterAtStart);
          const ms = performance.now() - started;
          conv?.count(used, 'turn');
          if (firstTextMs !== null) speed?.record(used.usedOutputTokens, ms - firstTextMs);
          // Where a reply's time goes: waiting for a read-ahead or a sequence, re-reading the prompt, writing.
          log.debug(
            {
              waitedMs: Math.round(o.waitedMs ?? 0),
              acquiredMs: Math.round(acquiredMs),
              evaluatedTokens: used.usedInputTokens,
              generatedTokens: used.usedOutputTokens,
              firstTextMs: firstTextMs === null ? null : Math.round(firstTextMs),
              ms: Math.round(ms),
            },
            'dialogue turn',
          );
          chat.dispose({ disposeSequence: false });
          release(slot);
        }
      })(),
    );
  };

  const nextAction = async (
    conv: Conversation | null,
    messages: readonly DialogueMessage[],
    o: NextActionOptions,
    waitedMs?: number,
  ): Promise<AgentAction> => {
    // The model turn starts with the fixed `{"say":"` already in the prompt, so its first generated
    // token is the first word; the grammar constrains the rest.
    const history = replyHistory(messages);
    const say = new SayExtractor();
    say.push(ACTION_RESPONSE_PREFIX);
    const stop = new AbortController();
    let written = '';
    let briefCut = false;
    const generated = generate(conv, history, actionGrammar, {
      signal: o.signal,
      stop: stop.signal,
      waitedMs,
      onText: (chunk) => {
        if (stop.signal.aborted) return;
        written += chunk;
        let delta = say.push(chunk);
        const over = say.text.length - SAY_MAX;
        if (over > 0) {
          delta = delta.slice(0, Math.max(0, delta.length - over));
          stop.abort();
        }
        // A transfer's brief has no bound in the grammar either: it is cut here, like `say`.
        if (say.fields.action === 'transfer' && briefOf(written).length > SUMMARY_MAX) {
          briefCut = true;
          stop.abort();
        }
        if (delta && o.onSay && !o.signal?.aborted) o.onSay(delta);
      },
    }).catch((err: unknown) => {
      // Out of tokens inside `say` (escapes and byte tokens make 512 tokens shorter than SAY_MAX
      // characters): like a cut at SAY_MAX, what was said stands and the agent listens next.
      if (err instanceof DialogueOutputError && !say.done && say.text.trim()) return null;
      throw err;
    });
    const result = await generated;
    if (!result) return parseAgentAction({ action: 'speak', say: say.text.slice(0, SAY_MAX) }, written);
    const { text, stopped } = result;
    const raw = ACTION_RESPONSE_PREFIX + text;
    if (stopped && briefCut) {
      return parseAgentAction({ action: 'transfer', say: say.text, summary: briefOf(written) }, raw);
    }
    // Cut at SAY_MAX before the action was written: what was said stands, and the agent listens next.
    if (stopped) return parseAgentAction({ action: 'speak', say: say.text.slice(0, SAY_MAX) }, raw);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new DialogueOutputError('the model returned malformed JSON', raw);
    }
    return parseAgentAction(parsed, raw);
  };

  /**
   * One call's dialogue. It owns a sequence while the call lasts (when there are enough), so each
   * turn only evaluates what is new since the last one.
   */
  class Conversation implements DialogueConversation {
    slot: Slot | null = null;
    closed = false;
    private readonly usage = { preparedTokens: 0, evaluatedTokens: 0, generatedTokens: 0 };
    private pending: { messages: readonly DialogueMessage[]; asReply: boolean } | null = null;
    private preparing: Promise<void> | null = null;
    // Stops a reply prefill in progress between two of its batches.
    private prefill: AbortController | null = null;

    constructor() {
      liveConversations++;
    }

    prepare(messages: readonly DialogueMessage[], po?: PrepareOptions): void {
      if (this.closed || closed) return;
      this.pending = { messages, asReply: po?.asReply === true };
      // A reply prefill in progress reads words that have just changed: it stops after its batch.
      this.prefill?.abort();
      this.preparing ??= track(this.drainPrepared());
    }

    private async drainPrepared(): Promise<void> {
      try {
        while (this.pending && !this.closed && !closed) {
          const { messages, asReply } = this.pending;
          this.pending = null;
          // Preparing never waits for, or takes, a sequence another call is using right now.
          const slot = pick(this);
          if (!slot || (slot !== this.slot && slot.owner !== null)) return;
          take(slot, this);
          const prefill = asReply ? new AbortController() : null;
          this.prefill = prefill;
          const evaluation = prefill
            ? () => evaluateReplyPrompt(slot, messages, prefill.signal)
            : () => evaluate(slot, messages);
          // (A superseded prefill stops between its batches of the tail, not at the gate: what it
          // reads up to there is mostly the next turn's prefix too.)
          this.count(await evaluateAndRelease(slot, 'preparing the prompt', evaluation), 'prepare');
          this.prefill = null;
        }
      } finally {
        this.preparing = null;
      }
    }

    async nextAction(messages: readonly DialogueMessage[], o: NextActionOptions): Promise<AgentAction> {
      if (this.closed) throw new Error('llama-cpp: conversation is closed');
      this.pending = null;
      this.prefill?.abort();
      // The evaluation in progress is this turn's prefix, so the turn waits for it; a barge-in or a
      // dropped early reply must not (the evaluation itself cannot be cut mid-batch).
      const started = performance.now();
      if (this.preparing) {
        // A read-ahead parked behind another call's reply is this turn's own prefix now: it goes on
        // at once instead of waiting for that reply to end.
        const id = this.slot ? sequenceIdOf(this.slot) : null;
        if (id !== null) {
          urgent.add(id);
          wakeParked();
        }
        try {
          await untilAborted(this.preparing, o.signal);
        } finally {
          if (id !== null) urgent.delete(id);
        }
      }
      return nextAction(this, messages, o, performance.now() - started);
    }

    count(d: { usedInputTokens: number; usedOutputTokens: number }, during: 'prepare' | 'turn'): void {
      if (during === 'prepare') this.usage.preparedTokens += d.usedInputTokens;
      else this.usage.evaluatedTokens += d.usedInputTokens;
      this.usage.generatedTokens += d.usedOutputTokens;
    }

    tokenUsage() {
      return { ...this.usage };
    }

    close(): void {
      if (this.closed) return;
      this.closed = true;
      liveConversations--;
      this.pending = null;
      // Its tokens stay in the sequence: the next call reuses their common prefix.
      const slot = this.slot;
      this.slot = null;
      if (slot && !slot.busy) {
        slot.owner = null;
        // Background work may have waited for a sequence no live call owns: this one now is.
        offer(slot);
      }
    }
  }

  return {
    name: 'llama-cpp',
    nextAction: (messages, o) => nextAction(null, messages, o),
    openConversation: () => new Conversation(),
    warmUp(prefix) {
      return track(
        (async () => {
          const started = performance.now();
          let tokens = 0;
          // One sequence at a time: the first is ready soonest, and a call that arrives meanwhile
          // takes one of the others (or one already warmed) without waiting.
          for (const slot of slots) {
            if (closed) return;
            if (slot.busy || slot.owner !== null) continue;
            take(slot, null);
            tokens += (await evaluateAndRelease(slot, 'warming a sequence', () => evaluate(slot, prefix)))
              .usedInputTokens;
          }
          log.info(
            { sequences, tokens, ms: Math.round(performance.now() - started) },
            'dialogue prompt prefix evaluated into the idle sequences',
          );
        })(),
      );
    },
    measureSpeed(mo = {}) {
      if (closed) return Promise.reject(new Error('llama-cpp: engine is closed'));
      return track(
        (async () => {
          // A sequence no live call holds, taken as background work takes one: never a call's.
          const slot = await acquire(null, mo.signal, true);
          const seq = slot.seq;
          try {
            return await yieldingOn(slot, mo.signal, async () => {
              // The probe goes after what the sequence holds (the warmed-up instructions) and is
              // erased after, so the next call still finds them.
              if (seq.contextSize - seq.nextTokenIndex < PROBE_PROMPT_TOKENS + PROBE_GEN_TOKENS + 8) {
                await seq.clearHistory();
              }
              const start = seq.nextTokenIndex;
              const text = 'Thank you for calling, we have a table free at seven thirty tonight. ';
              const probe = model.tokenize(text.repeat(8)).slice(0, PROBE_PROMPT_TOKENS);
              const background = { evaluationPriority: PRIORITY.background } as const;
              try {
                const p0 = performance.now();
                await seq.evaluateWithoutGeneratingNewTokens(probe.slice(0, -1), background);
                const promptMs = performance.now() - p0;
                let made = 0;
                let next = probe.at(-1)!;
                const g0 = performance.now();
                // Greedy; an end-of-text token ends an evaluation, so generation starts again after it.
                while (made < PROBE_GEN_TOKENS) {
                  const before = made;
                  for await (const token of seq.evaluate([next], { temperature: 0, ...background })) {
                    next = token;
                    if (++made >= PROBE_GEN_TOKENS) break;
                  }
                  if (made === before) next = probe[0];
                }
                const genMs = performance.now() - g0;
                const speed = {
                  genTokensPerSecond: made / (genMs / 1000),
                  promptTokensPerSecond: (probe.length - 1) / (promptMs / 1000),
                };
                log.info(
                  {
                    genTokensPerSecond: Math.round(speed.genTokensPerSecond * 10) / 10,
                    promptTokensPerSecond: Math.round(speed.promptTokensPerSecond * 10) / 10,
                    threads: llama.maxThreads,
                  },
                  'dialogue model speed measured',
                );
                return speed;
              } finally {
                await seq.eraseContextTokenRanges([{ start, end: seq.nextTokenIndex }]).catch(() => {});
              }
            });
          } finally {
            release(slot);
          }
        })(),
      );
    },
    async completeJson(messages, schema: JsonSchema, o = {}): Promise<unknown> {
      let grammar: ActionGrammar;
      try {
        grammar = await llama.createGrammarForJsonSchema(lengthBoundedSchema(schema) as never);
      } catch (err) {
        throw new Error(`llama-cpp: unsupported JSON schema: ${(err as Error).message}`);
      }
      const history = [...toHistory(messages), { type: 'model', response: [] } satisfies ChatHistoryItem];
      const { text: raw } = await generate(null, history, grammar, {
        signal: o.signal,
        maxTokens: o.maxTokens,
        background: o.priority === 'background',
      });
      try {
        return grammar.parse(raw);
      } catch (err) {
        throw new DialogueOutputError(
          `the model's JSON does not match the schema: ${(err as Error).message}`,
          raw,
        );
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      closing.abort();
      wakeParked();
      await Promise.allSettled([...inFlight]);
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

/**
 * node-llama-cpp's grammar builder bounds a string's length only where the schema's type is `string`
 * alone; a nullable string's `maxLength` (`type: ['string', 'null']`) would be dropped, and random or
 * rambling weights could then write it forever. Such a node becomes a `oneOf` of its types, so the
 * bound holds in the grammar and the answer always closes.
 */
export function lengthBoundedSchema(schema: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...schema };
  if (out.properties && typeof out.properties === 'object') {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Record<string, JsonSchema>).map(([k, v]) => [
        k,
        lengthBoundedSchema(v),
      ]),
    );
  }
  if (out.items && typeof out.items === 'object') out.items = lengthBoundedSchema(out.items as JsonSchema);
  const { type, maxLength, minLength, ...rest } = out;
  if (
    !Array.isArray(type) ||
    !type.includes('string') ||
    (maxLength === undefined && minLength === undefined)
  ) {
    return out;
  }
  const lengths = {
    ...(maxLength !== undefined ? { maxLength } : {}),
    ...(minLength !== undefined ? { minLength } : {}),
  };
  return {
    ...rest,
    oneOf: (type as string[]).map((t) => (t === 'string' ? { type: t, ...lengths } : { type: t })),
  };
}

/**
 * Replies get `turnThreads` only while this many calls or fewer are live: each call's recogniser
 * needs the spare core whenever its callee speaks, and with more calls someone nearly always does.
 * Bench, 1B shape, 2 cores, p50 voice-to-voice with turn threads 2 against 1: one call 0.8 s against
 * 1.0-1.2 s, two calls 1.2 s against 1.7 s, four calls 2.8 s against 2.1 s.
 */
const TURN_THREADS_MAX_CALLS = 2;

/**
 * node-llama-cpp evaluation priorities: replies (its default, 5) pass straight to the context;
 * anything lower yields to them between slices (see the gate in createLlamaCppDialogue).
 */
const PRIORITY = { reply: 5, readAhead: 3, background: 1 } as const;
/**
 * Tokens of yielding work per llama.cpp batch: the longest a starting reply waits for read-ahead
 * already in llama.cpp (~0.2-0.4 s for 16 tokens of the 1B shape on one core of these machines).
 * Smaller slices read slower (each batch reads all the weights once), larger ones delay replies more.
 */
const READ_AHEAD_SLICE = 16;

/** measureSpeed's probe: about a turn's new words read, and the start of a reply written. */
const PROBE_PROMPT_TOKENS = 33;
const PROBE_GEN_TOKENS = 16;

/**
 * Tokens per batch of a reply prefill: a turn waits for at most one batch in progress (~100 ms for
 * four tokens of the 1B shape on one core). Its ~10 tokens (closing tag, turn markers, `{"say":"`)
 * take three batches.
 */
const REPLY_PREFILL_BATCH = 4;
/** How many of a reply prompt's last tokens are read in those batches: the callee's last words and the markers. */
const REPLY_PREFILL_TAIL = 16;

interface Slot {
  seq: LlamaContextSequence;
  busy: boolean;
  /** The live call whose prompt this sequence holds (null: free for any call). */
  owner: {
    slot: Slot | null;
    closed: boolean;
    count(d: { usedInputTokens: number; usedOutputTokens: number }, during: 'prepare' | 'turn'): void;
  } | null;
  lastUsed: number;
}

/** Waits for `p`, or rejects with an AbortError as soon as `signal` aborts. */
function untilAborted(p: Promise<unknown>, signal?: AbortSignal): Promise<void> {
  if (!signal) return p.then(() => undefined);
  if (signal.aborted) return Promise.reject(abortError(signal.reason));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
    );
  });
}

/**
 * The transfer brief written so far in a generated action (after `"summary":"`), decoded; a trailing
 * escape the model has not finished is left out.
 */
export function briefOf(written: string): string {
  const at = written.lastIndexOf('"summary":"');
  if (at < 0) return '';
  const body = written
    .slice(at + '"summary":"'.length)
    .replace(/"\}?$/, '')
    .replace(/\\(u[0-9a-fA-F]{0,3})?$/, '');
  try {
    return JSON.parse(`"${body}"`) as string;
  } catch {
    return body;
  }
}
