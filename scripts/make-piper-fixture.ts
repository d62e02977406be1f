/**
 * Writes a TINY ONNX graph with a Piper voice's interface (inputs `input` int64 [1,N],
 * `input_lengths` int64 [1], `scales` float [3]; output `output` float [1,1,T]) and its
 * `.onnx.json` config. Its "speech" is a deterministic waveform made from the phoneme ids: each id
 * becomes SAMPLES_PER_ID samples of value id × 0.001, so a test can check that the ids it expected
 * reached the model. Usage: tsx scripts/make-piper-fixture.ts OUT_DIR
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export const FIXTURE_SAMPLES_PER_ID = 64;
export const FIXTURE_SAMPLE_RATE = 22_050;

/** Piper's English phoneme map, trimmed to the symbols espeak-ng uses for common words, plus controls. */
const SYMBOLS = [
  '_',
  '^',
  '$',
  ' ',
  '!',
  "'",
  '(',
  ')',
  ',',
  '-',
  '.',
  ':',
  ';',
  '?',
  ...'abcdefhijklmnopqrstuvwxyzæçðøħŋœǀǁǂǃɐɑɒɓɔɕɖɗɘəɚɛɜɞɟɠɡɢɣɤɥɦɧɨɪɫɬɭɮɯɰɱɲɳɴɵɶɸɹɺɻɽɾʀʁʂʃʄʈʉʊʋʌʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢʲˈˌːˑ˞βθχᵻⱱ',
];

export function fixtureConfig(): Record<string, unknown> {
  return {
    audio: { sample_rate: FIXTURE_SAMPLE_RATE, quality: 'fixture' },
    espeak: { voice: 'en-us' },
    inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
    phoneme_type: 'espeak',
    phoneme_id_map: Object.fromEntries(SYMBOLS.map((s, i) => [s, [i]])),
    num_symbols: SYMBOLS.length,
    num_speakers: 1,
    speaker_id_map: {},
    dataset: 'agentline-fixture',
  };
}

function graph(): Uint8Array {
  const T = onnx.TensorProto.DataType;
  const tensorInfo = (name: string, elemType: number, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
  const initializer = [
    onnx.TensorProto.create({ name: 'scale', dataType: T.FLOAT, dims: [], floatData: [0.001] }),
    // [1, N] → [1, N, 1] → tile → [1, N, K] → [1, 1, N*K]: each id held for K samples.
    onnx.TensorProto.create({ name: 'unsq_axes', dataType: T.INT64, dims: [1], int64Data: [2] }),
    onnx.TensorProto.create({
      name: 'reps',
      dataType: T.INT64,
      dims: [3],
      int64Data: [1, 1, FIXTURE_SAMPLES_PER_ID],
    }),
    onnx.TensorProto.create({ name: 'out_shape', dataType: T.INT64, dims: [3], int64Data: [1, 1, -1] }),
  ];
  const node = (opType: string, input: string[], output: string[], attribute: object[] = []) =>
    onnx.NodeProto.create({ opType, input, output, attribute });
  const nodes = [
    node(
      'Cast',
      ['input'],
      ['ids_f'],
      [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.FLOAT }],
    ),
    node('Mul', ['ids_f', 'scale'], ['scaled']),
    node('Unsqueeze', ['scaled', 'unsq_axes'], ['col']),
    node('Tile', ['col', 'reps'], ['tiled']),
    node('Reshape', ['tiled', 'out_shape'], ['output']),
  ];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'agentline-piper-fixture',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'piper-fixture',
      node: nodes,
      initializer,
      input: [
        tensorInfo('input', T.INT64, [1, 'phonemes']),
        tensorInfo('input_lengths', T.INT64, [1]),
        tensorInfo('scales', T.FLOAT, [3]),
      ],
      output: [tensorInfo('output', T.FLOAT, [1, 1, 'samples'])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Writes `fixture.onnx` and `fixture.onnx.json` into `dir`. */
export async function writePiperFixture(dir: string): Promise<{ modelPath: string; configPath: string }> {
  await fs.mkdir(dir, { recursive: true });
  const modelPath = path.join(dir, 'fixture.onnx');
  const configPath = `${modelPath}.json`;
  await fs.writeFile(modelPath, graph());
  await fs.writeFile(configPath, JSON.stringify(fixtureConfig(), null, 2));
  return { modelPath, configPath };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: tsx scripts/make-piper-fixture.ts OUT_DIR\n');
    process.exit(2);
  }
  const { modelPath } = await writePiperFixture(out);
  process.stdout.write(`${modelPath}\n`);
}
