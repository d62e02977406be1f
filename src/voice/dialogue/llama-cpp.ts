import fs from 'node:fs/promises';
import type {
  ChatHistoryItem,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaJsonSchemaGrammar,
  LlamaModel,
} from 'node-llama-cpp';
import type { Logger } from '../../logger.js';
import {
  ACTION_FORMAT_HINT,
  AGENT_ACTION_SCHEMA,
  abortError,
  DialogueOutputError,
  parseAgentAction,
  SAY_MAX,
  withFormatHint,
} from './action-schema.js';
import { SayExtractor } from './say-extractor.js';
import type { AgentAction, DialogueEngine, DialogueMessage, JsonSchema } from './types.js';

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
  /** Calls that can generate at the same time; each holds one sequence of the shared context. Default 4. */
  sequences?: number;
  /** Tokens each sequence can hold (prompt + history + reply). Default: min(train context, 4096). */
  contextSize?: number;
  /** CPU threads for inference (default: node-llama-cpp's choice). */
  threads?: number;
  /** Most tokens one reply may generate. Default 512. */
  maxTokens?: number;
  /** Sampling temperature; 0 (default) is greedy, which suits a phone agent that must stay on task. */
  temperature?: number;
  /**
   * The actions the model may choose (default all). A deployment that never navigates IVRs can drop
   * `dtmf`; the benchmark keeps only `speak` so random weights cannot end or derail a measured call.
   */
  actions?: readonly AgentAction['action'][];
}

/**
 * Dialogue on node-llama-cpp. ONE model is loaded and serves every call through one context with
 * several sequences: a turn borrows a free sequence, and node-llama-cpp evaluates the sequences of
 * concurrent calls together in one batch, which costs far less memory than a context per call and
 * keeps the model's weights loaded once. A turn that finds every sequence busy waits for one.
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
  const sequences = Math.max(1, Math.floor(opts.sequences ?? 4));
  const perSequence = opts.contextSize ?? Math.min(model.trainContextSize, 4096);
  let context: LlamaContext;
  try {
    context = await model.createContext({
      sequences,
      contextSize: perSequence * sequences,
      threads: opts.threads,
    });
  } catch (err) {
    await model.dispose();
    await llama.dispose();
    throw new Error(
      `llama-cpp: cannot create a context of ${perSequence}×${sequences} tokens: ${(err as Error).message}`,
    );
  }
  const free: LlamaContextSequence[] = Array.from({ length: sequences }, () => context.getSequence());
  const waiting: Array<(s: LlamaContextSequence) => void> = [];
  const actionGrammar = await llama.createGrammarForJsonSchema(actionSchemaFor(opts.actions) as never);
  log.info(
    { model: opts.modelPath, name: modelName, sequences, contextSize: perSequence },
    'dialogue model loaded',
  );

  let closed = false;
  const inFlight = new Set<Promise<unknown>>();

  const acquire = (signal?: AbortSignal): Promise<LlamaContextSequence> => {
    const s = free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      const take = (seq: LlamaContextSequence) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(seq);
      };
      const onAbort = () => {
        const i = waiting.indexOf(take);
        if (i >= 0) waiting.splice(i, 1);
        reject(abortError(signal?.reason));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiting.push(take);
    });
  };
  const release = (s: LlamaContextSequence) => {
    const next = waiting.shift();
    if (next) next(s);
    else free.push(s);
  };

  const toHistory = (messages: readonly DialogueMessage[]): ChatHistoryItem[] => {
    const h: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
      if (m.role === 'system') return { type: 'system', text: m.content };
      if (m.role === 'user') return { type: 'user', text: m.content };
      return { type: 'model', response: [m.content] };
    });
    // generateResponse continues the last model turn: give it an empty one to fill.
    h.push({ type: 'model', response: [] });
    return h;
  };

  const generate = async (
    messages: readonly DialogueMessage[],
    grammar: ActionGrammar,
    o: { signal?: AbortSignal; stop?: AbortSignal; onText?: (chunk: string) => void },
  ): Promise<{ text: string; stopped: boolean }> => {
    if (closed) throw new Error('llama-cpp: engine is closed');
    if (o.signal?.aborted) throw abortError(o.signal.reason);
    const seq = await acquire(o.signal);
    const chat = new LlamaChat({ contextSequence: seq, autoDisposeSequence: false });
    const run = (async () => {
      try {
        const res = await chat.generateResponse(toHistory(messages), {
          grammar,
          signal: o.stop ? AbortSignal.any(o.signal ? [o.signal, o.stop] : [o.stop]) : o.signal,
          stopOnAbortSignal: o.stop !== undefined,
          maxTokens: opts.maxTokens ?? 512,
          temperature: opts.temperature ?? 0,
          onTextChunk: o.onText,
        });
        if (o.signal?.aborted) throw abortError(o.signal.reason);
        if (o.stop?.aborted) return { text: res.response, stopped: true };
        if (res.metadata.stopReason === 'maxTokens') {
          throw new DialogueOutputError(
            `the model's reply did not finish within ${opts.maxTokens ?? 512} tokens`,
            res.response,
          );
        }
        return { text: res.response, stopped: false };
      } catch (err) {
        if (o.signal?.aborted) throw abortError(o.signal.reason);
        throw err;
      } finally {
        chat.dispose({ disposeSequence: false });
        release(seq);
      }
    })();
    inFlight.add(run);
    run.then(
      () => inFlight.delete(run),
      () => inFlight.delete(run),
    );
    return run;
  };

  return {
    name: 'llama-cpp',
    async nextAction(messages, o): Promise<AgentAction> {
      const say = new SayExtractor();
      const stop = new AbortController();
      const { text: raw, stopped } = await generate(
        withFormatHint(messages, ACTION_FORMAT_HINT),
        actionGrammar,
        {
          signal: o.signal,
          stop: stop.signal,
          onText: (chunk) => {
            if (stop.signal.aborted) return;
            let delta = say.push(chunk);
            const over = say.text.length - SAY_MAX;
            if (over > 0) {
              delta = delta.slice(0, Math.max(0, delta.length - over));
              stop.abort();
            }
            if (delta && o.onSay && !o.signal?.aborted) o.onSay(delta);
          },
        },
      );
      if (stopped) {
        // `say` is the last field, so what was generated up to the cut is a complete action.
        return parseAgentAction({ ...say.fields, say: say.text.slice(0, SAY_MAX) }, raw);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new DialogueOutputError('the model returned malformed JSON', raw);
      }
      return parseAgentAction(parsed, raw);
    },
    async completeJson(messages, schema: JsonSchema, o = {}): Promise<unknown> {
      let grammar: ActionGrammar;
      try {
        grammar = await llama.createGrammarForJsonSchema(schema as never);
      } catch (err) {
        throw new Error(`llama-cpp: unsupported JSON schema: ${(err as Error).message}`);
      }
      const { text: raw } = await generate(messages, grammar, { signal: o.signal });
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
      await Promise.allSettled([...inFlight]);
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

/** AGENT_ACTION_SCHEMA narrowed to `actions`; the order of its branches is kept. */
function actionSchemaFor(actions: readonly AgentAction['action'][] | undefined) {
  if (!actions) return AGENT_ACTION_SCHEMA;
  const oneOf = AGENT_ACTION_SCHEMA.oneOf.filter((b) => actions.includes(b.properties.action.const));
  if (oneOf.length === 0) throw new Error('llama-cpp: `actions` must name at least one of speak, dtmf, end');
  return { oneOf };
}
