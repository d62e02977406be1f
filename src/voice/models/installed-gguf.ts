import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { checkGgufHeader } from '../dialogue/llama-cpp.js';

/** GGUF files directly under `<modelsDir>` or one folder below, largest first (the likeliest real model). */
export async function findInstalledGguf(modelsDir: string): Promise<string[]> {
  const found: { file: string; size: number }[] = [];
  const scan = async (dir: string, depth: number) => {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && depth > 0 && !e.name.startsWith('.')) await scan(p, depth - 1);
      else if (e.isFile() && e.name.endsWith('.gguf')) found.push({ file: p, size: (await fs.stat(p)).size });
    }
  };
  await scan(modelsDir, 1);
  return found.sort((a, b) => b.size - a.size).map((f) => f.file);
}

export interface GgufIdentity {
  /** `general.name` from the file's metadata; null when the file has none or cannot be read. */
  modelName: string | null;
  /** A random-weight file written by `models synthetic`: it runs at a real model's speed but says nothing sensible. */
  synthetic: boolean;
  /** Why the file cannot be loaded as a model, when its header is wrong. */
  problem?: string;
}

/** Reads a GGUF's name from its metadata without loading the model (no native runtime, no weights). */
export async function identifyGguf(file: string): Promise<GgufIdentity> {
  // Checked first: node-llama-cpp's metadata reader can spin on the garbage lengths of a corrupt file.
  const problem = await checkGgufHeader(file);
  if (problem) return { modelName: null, synthetic: false, problem };
  const { readGgufFileInfo } = await import('node-llama-cpp');
  try {
    const info = await readGgufFileInfo(file, {
      readTensorInfo: false,
      sourceType: 'filesystem',
      logWarnings: false,
      // The vocabulary is most of the metadata and says nothing about which model this is.
      ignoreKeys: [
        'tokenizer.ggml.tokens',
        'tokenizer.ggml.scores',
        'tokenizer.ggml.token_type',
        'tokenizer.ggml.merges',
      ],
    });
    const name = (info.metadata as { general?: { name?: unknown } }).general?.name;
    const modelName = typeof name === 'string' ? name : null;
    // `writeSyntheticGguf` names every file it writes `random-<shape>`; the engine warns on the same prefix.
    return { modelName, synthetic: modelName?.startsWith('random-') ?? false };
  } catch (err) {
    return { modelName: null, synthetic: false, problem: `unreadable metadata: ${(err as Error).message}` };
  }
}
