import fs from 'node:fs';
import path from 'node:path';
import { type SyntheticShapeName, writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';

/**
 * The random-weight GGUF of a shape under `dir`, generated on first use. Matrices are q4_0 (the
 * smallest weight type the writer offers and node-llama-cpp loads; f32 1B would be ~5 GB), except
 * `tiny`, which stays f32.
 */
export async function ensureModel(
  dir: string,
  shape: SyntheticShapeName,
): Promise<{ file: string; bytes: number; quant: string }> {
  const quant = shape === 'tiny' ? 'f32' : 'q4_0';
  // v2: the real shapes carry a Llama 3 BPE vocabulary (v1 files spent a token per character).
  const file = path.resolve(dir, `random-${shape}-${quant}-v2.gguf`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.partial`;
    const started = performance.now();
    process.stdout.write(`generating ${path.relative(process.cwd(), file)} ... `);
    await writeSyntheticGguf(tmp, { shape, quant, seed: 1 });
    fs.renameSync(tmp, file);
    console.log(`${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return { file, bytes: fs.statSync(file).size, quant };
}
